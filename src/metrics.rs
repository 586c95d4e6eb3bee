//! Counters for running a fleet: what `serve` did since it started, exposed in the
//! OpenMetrics text format (which Prometheus scrapes) by [`crate::front::metrics`] on a
//! listener of its own, never on a credential listener.
//!
//! * `needroleshere_requests_total{front,status}`: answers of the credential fronts (`ecs`,
//!   `imds`) by HTTP status;
//! * `needroleshere_cache_hits_total`, `needroleshere_cache_refreshes_total`,
//!   `needroleshere_cache_fallbacks_total`: requests answered from the cache, fetches the
//!   cache started (first, proactive, forced), and answers of last good credentials after a
//!   failed, slow or impossible fetch;
//! * `needroleshere_upstream_fetches_total{outcome}` and
//!   `needroleshere_upstream_fetch_duration_seconds`: the cache's fetches (one CreateSession
//!   with its retries, for bindings) by outcome (`ok` or the failure's category) and how long
//!   they took;
//! * per binding (from [`crate::status`] at scrape time): `needroleshere_bindings_loaded`,
//!   `needroleshere_certificate_expiry_timestamp_seconds{binding}` and
//!   `needroleshere_credentials_expiry_timestamp_seconds{binding}`.
//!
//! Labels carry front names, statuses, outcomes and binding names: never a token, key,
//! secret or access key id.
//!
//! The counters are process-wide statics, as a Prometheus client's default registry is: they
//! count what this process did, whichever cache or front did it, and threading a handle
//! through every cache and router would add nothing but parameters. The request path pays
//! one relaxed atomic increment per count, in a shard of its thread's; the latency
//! histogram (a lock inside prometheus-client) is touched once per upstream fetch, never on
//! a cached answer.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::histogram::Histogram;

use crate::source::Category;

/// A credential front, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Ecs,
    Imds,
}

impl Front {
    const ALL: [Self; 2] = [Self::Ecs, Self::Imds];

    fn label(self) -> &'static str {
        match self {
            Self::Ecs => "ecs",
            Self::Imds => "imds",
        }
    }
}

/// The statuses the fronts answer; anything else counts as `other`.
const STATUSES: [u16; 11] = [200, 400, 401, 403, 404, 405, 500, 502, 503, 504, 505];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// The outcomes of an upstream fetch, as labels: `ok`, then each [`Category`].
const OUTCOMES: [&str; 6] = [
    "ok",
    "misconfigured",
    "refused",
    "unavailable",
    "timed_out",
    "needs_person",
];

fn outcome_index(outcome: Result<(), Category>) -> usize {
    match outcome {
        Ok(()) => 0,
        Err(Category::Misconfigured) => 1,
        Err(Category::Refused) => 2,
        Err(Category::Unavailable) => 3,
        Err(Category::TimedOut) => 4,
        Err(Category::NeedsPerson) => 5,
    }
}

/// The counters of one [`Shard`].
#[derive(Default)]
// Two cache lines' worth apart: the neighbouring-line prefetcher would otherwise pair them.
#[repr(align(128))]
struct Shard {
    requests: [[AtomicU64; STATUS_SLOTS]; 2],
    cache_hits: AtomicU64,
    refreshes: AtomicU64,
    fallbacks: AtomicU64,
    upstream: [AtomicU64; OUTCOMES.len()],
}

/// Shards of the counters. Each thread bumps the shard it was given, and a scrape adds them
/// up: when both workers of `serve` bumped one counter on every request, its cache line went
/// from one core to the other each time (issue 21). Threads beyond this many share shards,
/// which costs speed, never counts.
const SHARDS: usize = 8;

struct Counters {
    shards: [Shard; SHARDS],
    upstream_seconds: Histogram,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    shards: Default::default(),
    // 5 ms to about 20 s: a CreateSession takes tens to hundreds of milliseconds; retries
    // and timeouts take seconds.
    upstream_seconds: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 13,
    )),
});

/// Picks one counter of a shard.
type Pick = fn(&Shard) -> &AtomicU64;

/// Bumps the counter `which` picks in this thread's shard.
fn bump(which: impl FnOnce(&Shard) -> &AtomicU64) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    let shard = SHARD.with(|shard| *shard);
    which(&COUNTERS.shards[shard]).fetch_add(1, Ordering::Relaxed);
}

/// The sum over all shards of the counter `which` picks.
fn total(which: impl Fn(&Shard) -> &AtomicU64) -> u64 {
    COUNTERS
        .shards
        .iter()
        .map(|shard| which(shard).load(Ordering::Relaxed))
        .sum()
}

/// A credential front answered with `status`.
pub fn request(front: Front, status: u16) {
    let slot = STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len());
    bump(|shard| &shard.requests[front as usize][slot]);
}

/// A request was answered from the cache without waiting for a fetch.
pub fn cache_hit() {
    bump(|shard| &shard.cache_hits);
}

/// The cache started a fetch.
pub fn cache_refresh() {
    bump(|shard| &shard.refreshes);
}

/// A request got the last good credentials because a fetch failed, was too slow, or could
/// not be made.
pub fn cache_fallback() {
    bump(|shard| &shard.fallbacks);
}

/// An upstream fetch ended with `outcome` after `elapsed`.
pub fn upstream(outcome: Result<(), Category>, elapsed: Duration) {
    let index = outcome_index(outcome);
    bump(|shard| &shard.upstream[index]);
    COUNTERS.upstream_seconds.observe(elapsed.as_secs_f64());
}

/// The process-wide counters as a prometheus-client collector.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessCounters;

impl Collector for ProcessCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = &*COUNTERS;
        {
            let mut family = encoder.encode_descriptor(
                "needroleshere_requests",
                "Answers of the credential endpoints, by front and HTTP status.",
                None,
                MetricType::Counter,
            )?;
            for front in Front::ALL {
                for slot in 0..STATUS_SLOTS {
                    let status = STATUSES
                        .get(slot)
                        .map_or_else(|| "other".to_owned(), u16::to_string);
                    let labels = [("front", front.label().to_owned()), ("status", status)];
                    let value = total(|shard| &shard.requests[front as usize][slot]);
                    // Statuses never answered stay out, except the two every reader looks
                    // for, so a dashboard's series exist from the start.
                    if value == 0 && slot != 0 {
                        continue;
                    }
                    family
                        .encode_family(&labels)?
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                            &value, None,
                        )?;
                }
            }
        }
        let counters: [(_, _, Pick); 3] = [
            (
                "needroleshere_cache_hits",
                "Requests answered from the cache without waiting for a fetch.",
                |shard| &shard.cache_hits,
            ),
            (
                "needroleshere_cache_refreshes",
                "Fetches the cache started (first, proactive or forced).",
                |shard| &shard.refreshes,
            ),
            (
                "needroleshere_cache_fallbacks",
                "Requests answered with the last good credentials because a fetch failed, \
                 was too slow or could not be made.",
                |shard| &shard.fallbacks,
            ),
        ];
        for (name, help, counter) in counters {
            let value = total(counter);
            encoder
                .encode_descriptor(name, help, None, MetricType::Counter)?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&value, None)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "needroleshere_upstream_fetches",
                "Upstream fetches (for bindings: a CreateSession with its retries), by outcome.",
                None,
                MetricType::Counter,
            )?;
            for (index, outcome) in OUTCOMES.iter().enumerate() {
                let value = total(|shard| &shard.upstream[index]);
                family
                    .encode_family(&[("outcome", *outcome)])?
                    .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                        &value, None,
                    )?;
            }
        }
        let histogram = encoder.encode_descriptor(
            "needroleshere_upstream_fetch_duration_seconds",
            "How long upstream fetches took, whatever their outcome.",
            None,
            c.upstream_seconds.metric_type(),
        )?;
        c.upstream_seconds.encode(histogram)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render() -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCounters));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    /// The value of the sample line starting with `series ` (counters are process-wide and
    /// other tests bump them too, so tests compare before and after).
    fn value(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0, |v| v.parse().unwrap())
    }

    #[test]
    fn counts_show_up_with_their_labels() {
        let before = render();
        request(Front::Imds, 401);
        request(Front::Imds, 418);
        upstream(Err(Category::Refused), Duration::from_millis(30));
        let after = render();
        for (series, by) in [
            (
                r#"needroleshere_requests_total{front="imds",status="401"}"#,
                1,
            ),
            (
                r#"needroleshere_requests_total{front="imds",status="other"}"#,
                1,
            ),
            (
                r#"needroleshere_upstream_fetches_total{outcome="refused"}"#,
                1,
            ),
        ] {
            assert!(
                value(&after, series) >= value(&before, series) + by,
                "{series}\n{after}"
            );
        }
        assert!(after.contains("needroleshere_upstream_fetch_duration_seconds_bucket"));
        assert!(after.ends_with("# EOF\n"));
    }
}
