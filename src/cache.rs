//! The credential cache between sources and fronts.
//!
//! One entry per credential identity (for bindings: the binding and its request, region and
//! endpoint). Each request also names the *version* of the source it expects — for bindings,
//! a fingerprint of the certificate chain — so a renewed certificate makes the next request
//! fetch anew while the old credentials stay available as a fallback. Per entry:
//!
//! * **Single flight**: however many requests arrive, one upstream fetch runs at a time; the
//!   others wait for its outcome. The fetch runs in its own task, so a caller that gives up
//!   (an SDK timing out) does not cancel it, and the next caller gets its result.
//! * **Proactive refresh**: once the remaining lifetime drops under
//!   `min(proactive_margin, lifetime/2)` (less a random jitter), credentials are refreshed in
//!   the background if the entry was used within the last lifetime (SDKs ask about once per
//!   lifetime). Until then, and while a background refresh runs, requests are answered from
//!   the cache at once.
//! * **Never nearly expired**: below `min(blocking_margin, lifetime/3)`, or when the source's
//!   version changed, a request waits for a fetch — `fallback_wait` when there are valid
//!   credentials to fall back on (SDK clients give up after 1-2 s), else `wait`.
//! * **Last good**: when a fetch fails or takes too long, the current credentials are still
//!   served while more than `last_good_margin` remains; expired ones never are.
//! * **Backoff**: after a failure, no new fetch starts before an exponentially growing,
//!   jittered delay; meanwhile requests get the last good credentials or the last error.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::credentials::Credentials;

/// A boxed upstream call.
pub type FetchFuture<E> = Pin<Box<dyn Future<Output = Result<Credentials, E>> + Send>>;
/// Makes upstream calls for one entry.
pub type Fetcher<E> = Arc<dyn Fn() -> FetchFuture<E> + Send + Sync>;
/// Which state of the source credentials came from (e.g. a certificate fingerprint).
pub type Version = [u8; 32];

/// Timing rules; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub proactive_margin: Duration,
    pub blocking_margin: Duration,
    pub last_good_margin: Duration,
    /// Upper bound of the random amount by which a proactive refresh is made earlier.
    pub jitter: Duration,
    /// How long a request with nothing to fall back on waits for an upstream fetch.
    pub wait: Duration,
    /// How long a request waits for a fetch when valid credentials could answer it.
    pub fallback_wait: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            proactive_margin: Duration::from_secs(20 * 60),
            blocking_margin: Duration::from_secs(11 * 60),
            last_good_margin: Duration::from_secs(60),
            jitter: Duration::from_secs(60),
            wait: Duration::from_secs(4),
            fallback_wait: Duration::from_millis(500),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        }
    }
}

/// Why a request got no credentials.
#[derive(Debug)]
pub enum CacheError<E> {
    /// The source failed and no valid credentials are cached.
    Source(Arc<E>),
    /// The source took longer than the policy's wait and no valid credentials are cached.
    Timeout(Duration),
    /// The fetch task ended without an outcome (it panicked).
    Aborted,
}

impl<E> Clone for CacheError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Source(e) => Self::Source(e.clone()),
            Self::Timeout(d) => Self::Timeout(*d),
            Self::Aborted => Self::Aborted,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CacheError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(e) => e.fmt(f),
            Self::Timeout(d) => write!(f, "no answer from upstream within {} s", d.as_secs_f32()),
            Self::Aborted => f.write_str("the credential fetch ended unexpectedly"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CacheError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Source(e) => e.source(),
            _ => None,
        }
    }
}

type Outcome<E> = Result<Arc<Credentials>, Arc<E>>;

/// Credentials by key; see the module docs.
pub struct Cache<K, E> {
    clock: Arc<dyn Clock>,
    policy: Policy,
    entries: Mutex<HashMap<K, Arc<Entry<E>>>>,
}

impl<K, E> fmt::Debug for Cache<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<K, E> Cache<K, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    E: Send + Sync + 'static,
{
    pub fn new(clock: Arc<dyn Clock>, policy: Policy) -> Self {
        Self {
            clock,
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials for `key` from a source at `version`; `fetcher` is called only when the
    /// key is new.
    pub async fn get(
        &self,
        key: K,
        version: Version,
        fetcher: impl FnOnce() -> Fetcher<E>,
    ) -> Result<Arc<Credentials>, CacheError<E>> {
        let entry = {
            let mut entries = lock(&self.entries);
            match entries.get(&key) {
                Some(entry) => entry.clone(),
                None => {
                    let now = self.clock.now();
                    // A new key is the moment to forget entries nobody can use any more.
                    entries.retain(|_, e| e.is_alive(now));
                    let entry = Arc::new(Entry {
                        fetcher: fetcher(),
                        clock: self.clock.clone(),
                        policy: self.policy,
                        state: Mutex::new(State::default()),
                    });
                    entries.insert(key, entry.clone());
                    entry
                }
            }
        };
        entry.get(version).await
    }

    /// The credentials cached for `key`, if they are still good to serve, without any fetch:
    /// for when the source cannot be used at all right now.
    pub fn last_good(&self, key: &K) -> Option<Arc<Credentials>> {
        let entry = lock(&self.entries).get(key)?.clone();
        let state = lock(&entry.state);
        entry.last_good(&state, self.clock.now())
    }

    /// How many entries are held (for tests and diagnostics).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Entries hold plain data updated in small critical sections; after a panic elsewhere
    // the data is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Entry<E> {
    fetcher: Fetcher<E>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    state: Mutex<State<E>>,
}

struct Current {
    credentials: Arc<Credentials>,
    version: Version,
    expiration: Option<OffsetDateTime>,
    refresh_at: Option<OffsetDateTime>,
    block_at: Option<OffsetDateTime>,
}

/// The fetch under way.
struct Inflight<E> {
    generation: u64,
    outcome: watch::Receiver<Option<Outcome<E>>>,
}

struct State<E> {
    current: Option<Current>,
    inflight: Option<Inflight<E>>,
    generation: u64,
    last_error: Option<Arc<E>>,
    failures: u32,
    retry_at: Option<OffsetDateTime>,
    last_used: Option<OffsetDateTime>,
}

impl<E> Default for State<E> {
    fn default() -> Self {
        Self {
            current: None,
            inflight: None,
            generation: 0,
            last_error: None,
            failures: 0,
            retry_at: None,
            last_used: None,
        }
    }
}

fn before(limit: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    limit.is_none_or(|t| now < t)
}

impl<E: Send + Sync + 'static> Entry<E> {
    fn is_alive(&self, now: OffsetDateTime) -> bool {
        let state = lock(&self.state);
        state.inflight.is_some()
            || state.retry_at.is_some_and(|t| now < t)
            || state
                .current
                .as_ref()
                .is_some_and(|c| before(c.expiration, now))
    }

    async fn get(self: &Arc<Self>, version: Version) -> Result<Arc<Credentials>, CacheError<E>> {
        let now = self.clock.now();
        let (receiver, has_fallback) = {
            let mut state = lock(&self.state);
            state.last_used = Some(now);
            let may_retry = state.retry_at.is_none_or(|t| now >= t);
            if let Some(current) = &state.current
                && current.version == version
            {
                if before(current.refresh_at, now) {
                    return Ok(current.credentials.clone());
                }
                if before(current.block_at, now) {
                    let credentials = current.credentials.clone();
                    if state.inflight.is_none() && may_retry {
                        self.start_fetch(&mut state, version);
                    }
                    return Ok(credentials);
                }
            }
            let has_fallback = self.last_good(&state, now).is_some();
            let receiver = match &state.inflight {
                Some(inflight) => inflight.outcome.clone(),
                None if !may_retry => {
                    return self
                        .last_good(&state, now)
                        .ok_or_else(|| match &state.last_error {
                            Some(error) => CacheError::Source(error.clone()),
                            None => CacheError::Aborted,
                        });
                }
                None => self.start_fetch(&mut state, version),
            };
            (receiver, has_fallback)
        };
        let wait = if has_fallback {
            self.policy.fallback_wait
        } else {
            self.policy.wait
        };
        let outcome = tokio::time::timeout(wait, async move {
            let mut receiver = receiver;
            receiver
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|value| value.clone())
        })
        .await;
        let fallback = |error: CacheError<E>| {
            let state = lock(&self.state);
            self.last_good(&state, self.clock.now()).ok_or(error)
        };
        match outcome {
            Ok(Some(Ok(credentials))) => Ok(credentials),
            Ok(Some(Err(error))) => fallback(CacheError::Source(error)),
            Ok(None) => fallback(CacheError::Aborted),
            Err(_) => fallback(CacheError::Timeout(wait)),
        }
    }

    /// The current credentials while they have more than `last_good_margin` left.
    fn last_good(&self, state: &State<E>, now: OffsetDateTime) -> Option<Arc<Credentials>> {
        let current = state.current.as_ref()?;
        match current.expiration {
            Some(expiration) if expiration - now > self.policy.last_good_margin => {
                Some(current.credentials.clone())
            }
            Some(_) => None,
            None => Some(current.credentials.clone()),
        }
    }

    fn start_fetch(
        self: &Arc<Self>,
        state: &mut State<E>,
        version: Version,
    ) -> watch::Receiver<Option<Outcome<E>>> {
        let (sender, receiver) = watch::channel(None);
        state.generation += 1;
        let generation = state.generation;
        state.inflight = Some(Inflight {
            generation,
            outcome: receiver.clone(),
        });
        let entry = self.clone();
        tokio::spawn(async move {
            // Clears the in-flight marker even if the fetch panics, so the entry never sticks.
            let guard = InflightGuard {
                entry: entry.clone(),
                generation,
            };
            let result = (entry.fetcher)().await;
            let outcome = entry.finish(result, version, generation);
            drop(guard);
            let _ = sender.send(Some(outcome));
        });
        receiver
    }

    fn finish(
        self: &Arc<Self>,
        result: Result<Credentials, E>,
        version: Version,
        generation: u64,
    ) -> Outcome<E> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        match result {
            Ok(credentials) => {
                let credentials = Arc::new(credentials);
                let expiration = credentials.expiration;
                let (refresh_at, block_at) = match expiration {
                    Some(expiration) => {
                        let (refresh, block) = self.margins(expiration - now);
                        (Some(expiration - refresh), Some(expiration - block))
                    }
                    None => (None, None),
                };
                state.current = Some(Current {
                    credentials: credentials.clone(),
                    version,
                    expiration,
                    refresh_at,
                    block_at,
                });
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                if let (Some(at), Some(expiration)) = (refresh_at, expiration) {
                    self.schedule_refresh(at, now, expiration - now, generation);
                }
                Ok(credentials)
            }
            Err(error) => {
                let error = Arc::new(error);
                state.failures = state.failures.saturating_add(1);
                let backoff = jittered(
                    self.policy
                        .backoff_base
                        .saturating_mul(2u32.saturating_pow(state.failures - 1))
                        .min(self.policy.backoff_cap),
                );
                state.retry_at = Some(now + backoff);
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// (proactive, blocking) margins before expiry for credentials living `lifetime`.
    fn margins(&self, lifetime: time::Duration) -> (time::Duration, time::Duration) {
        let lifetime = Duration::try_from(lifetime).unwrap_or(Duration::ZERO);
        let proactive = self.policy.proactive_margin.min(lifetime / 2);
        let jitter = random_fraction(self.policy.jitter.min(lifetime / 10));
        let blocking = self.policy.blocking_margin.min(lifetime / 3);
        let to_time = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::ZERO);
        (to_time(proactive + jitter), to_time(blocking))
    }

    /// Refreshes at `at` if nothing has fetched since `generation` and the entry was used
    /// within the credentials' `lifetime` (SDKs ask about once per lifetime).
    fn schedule_refresh(
        self: &Arc<Self>,
        at: OffsetDateTime,
        now: OffsetDateTime,
        lifetime: time::Duration,
        generation: u64,
    ) {
        let delay = Duration::try_from(at - now).unwrap_or(Duration::ZERO);
        let entry: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(entry) = entry.upgrade() else { return };
            let now = entry.clock.now();
            let mut state = lock(&entry.state);
            let current = state.generation == generation
                && state.inflight.is_none()
                && state
                    .current
                    .as_ref()
                    .is_some_and(|c| !before(c.refresh_at, now));
            let used = state.last_used.is_some_and(|used| now - used <= lifetime);
            if current && used {
                let version = state
                    .current
                    .as_ref()
                    .map(|c| c.version)
                    .unwrap_or_default();
                entry.start_fetch(&mut state, version);
            }
        });
    }
}

struct InflightGuard<E: Send + Sync + 'static> {
    entry: Arc<Entry<E>>,
    generation: u64,
}

impl<E: Send + Sync + 'static> Drop for InflightGuard<E> {
    fn drop(&mut self) {
        let mut state = lock(&self.entry.state);
        if state
            .inflight
            .as_ref()
            .is_some_and(|inflight| inflight.generation == self.generation)
        {
            state.inflight = None;
        }
    }
}

/// A uniformly random duration in [0, max].
fn random_fraction(max: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    // Without randomness the jitter is zero: still correct, merely less spread.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    max.mul_f64(f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX))
}

/// `d` scaled by a random factor in [0.5, 1].
fn jittered(d: Duration) -> Duration {
    d / 2 + random_fraction(d / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::secret::Secret;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::macros::datetime;

    const V1: Version = [1; 32];
    const V2: Version = [2; 32];

    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("upstream says no")]
    struct Refused;

    /// A scripted upstream: counts calls, answers after `delay` with credentials that live
    /// `lifetime`, or fails while `failing` is set.
    struct Upstream {
        clock: Arc<FixedClock>,
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
        delay: Duration,
        lifetime: time::Duration,
    }

    impl Upstream {
        fn new(clock: Arc<FixedClock>, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                clock,
                calls: AtomicUsize::new(0),
                failing: false.into(),
                delay,
                lifetime: time::Duration::hours(1),
            })
        }

        fn fetcher(self: &Arc<Self>) -> Fetcher<Refused> {
            let upstream = self.clone();
            Arc::new(move || {
                let upstream = upstream.clone();
                Box::pin(async move {
                    let n = upstream.calls.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(upstream.delay).await;
                    if upstream.failing.load(Ordering::SeqCst) {
                        return Err(Refused);
                    }
                    Ok(Credentials {
                        access_key_id: format!("ASIA{n}"),
                        secret_access_key: Secret::new("s"),
                        session_token: Some(Secret::new("t")),
                        expiration: Some(upstream.clock.now() + upstream.lifetime),
                        role_arn: None,
                    })
                })
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn setup(
        delay: Duration,
    ) -> (
        Arc<FixedClock>,
        Arc<Upstream>,
        Arc<Cache<&'static str, Refused>>,
    ) {
        let clock = Arc::new(FixedClock::new(datetime!(2026-06-01 00:00:00 UTC)));
        let upstream = Upstream::new(clock.clone(), delay);
        let cache = Arc::new(Cache::new(clock.clone(), Policy::default()));
        (clock, upstream, cache)
    }

    /// Moves the wall clock and tokio's paused clock together.
    async fn advance(clock: &FixedClock, by: Duration) {
        clock.advance(time::Duration::try_from(by).unwrap());
        tokio::time::advance(by).await;
        tokio::task::yield_now().await;
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_fetch() {
        let (_, upstream, cache) = setup(Duration::from_millis(200));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (cache, upstream) = (cache.clone(), upstream.clone());
            tasks.push(tokio::spawn(async move {
                cache.get("a", V1, || upstream.fetcher()).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().access_key_id, "ASIA1");
        }
        assert_eq!(upstream.calls(), 1);
        // Cached afterwards; another key is fetched on its own.
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(upstream.calls(), 1);
        assert_eq!(
            cache
                .get("b", V1, || upstream.fetcher())
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn used_credentials_are_refreshed_before_they_near_expiry() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        advance(&clock, Duration::from_secs(30 * 60)).await;
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(upstream.calls(), 1, "still fresh at 30 minutes");
        // The background refresh fires between 39 and 40 minutes (20 min margin + jitter).
        advance(&clock, Duration::from_secs(10 * 60 + 1)).await;
        tokio::task::yield_now().await;
        assert_eq!(upstream.calls(), 2, "proactive refresh");
        let fresh = cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(fresh.access_key_id, "ASIA2");
    }

    #[tokio::test(start_paused = true)]
    async fn entries_unused_for_a_lifetime_are_not_refreshed() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        // Used at 0 and credentials live an hour: the refresh at about 40 minutes happens
        // (SDKs come back about once per lifetime)...
        advance(&clock, Duration::from_secs(41 * 60)).await;
        assert_eq!(upstream.calls(), 2);
        // ...but the one after it, 80 minutes after the last use, does not.
        for _ in 0..6 {
            advance(&clock, Duration::from_secs(30 * 60)).await;
        }
        assert_eq!(upstream.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_version_fetches_anew_and_falls_back_when_that_fails() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        advance(&clock, Duration::from_secs(60)).await;
        let renewed = cache.get("a", V2, || unreachable!()).await.unwrap();
        assert_eq!(
            renewed.access_key_id, "ASIA2",
            "a renewed certificate gets new credentials"
        );
        assert_eq!(
            cache
                .get("a", V2, || unreachable!())
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
        // Another renewal while upstream fails: the valid credentials still answer.
        upstream.failing.store(true, Ordering::SeqCst);
        let served = cache.get("a", V1, || unreachable!()).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA2");
        assert_eq!(upstream.calls(), 3);
        assert_eq!(cache.last_good(&"a").unwrap().access_key_id, "ASIA2");
        assert!(cache.last_good(&"unknown").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_fetch_with_a_fallback_answers_within_the_short_wait() {
        let (clock, upstream, cache) = setup(Duration::from_secs(3));
        let first = tokio::spawn({
            let (cache, upstream) = (cache.clone(), upstream.clone());
            async move { cache.get("a", V1, || upstream.fetcher()).await }
        });
        advance(&clock, Duration::from_secs(3)).await;
        first.await.unwrap().unwrap();
        // A renewal with upstream slow: the old credentials answer after the short wait.
        let started = tokio::time::Instant::now();
        let served = cache.get("a", V2, || unreachable!()).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1");
        assert_eq!(started.elapsed(), Policy::default().fallback_wait);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_credentials_are_served_while_a_refresh_runs() {
        let (clock, upstream, cache) = setup(Duration::from_secs(3));
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        // At 45 minutes (inside the proactive window, outside the blocking one), with no
        // background timer having run because nobody used it: answered at once, refresh starts.
        advance(&clock, Duration::from_secs(45 * 60)).await;
        let served = cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1");
        tokio::task::yield_now().await;
        assert_eq!(upstream.calls(), 2, "a background refresh started");
        advance(&clock, Duration::from_secs(4)).await;
        assert_eq!(
            cache
                .get("a", V1, || upstream.fetcher())
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nearly_expired_credentials_wait_for_a_refresh() {
        let (clock, upstream, cache) = setup(Duration::from_millis(100));
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        advance(&clock, Duration::from_secs(50 * 60)).await; // 10 min left: under 11
        let served = cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(
            served.access_key_id, "ASIA2",
            "must not serve creds with 10 minutes left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn last_good_credentials_survive_upstream_failure_but_never_expire() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        upstream.failing.store(true, Ordering::SeqCst);
        advance(&clock, Duration::from_secs(55 * 60)).await;
        let served = cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1", "last good while still valid");
        // Within the failure backoff no new call is made.
        let calls = upstream.calls();
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(upstream.calls(), calls);
        // Past expiry (less the 1 minute margin): an error, never expired credentials.
        advance(&clock, Duration::from_secs(4 * 60 + 30)).await;
        let err = cache.get("a", V1, || upstream.fetcher()).await.unwrap_err();
        assert!(matches!(err, CacheError::Source(_)), "{err}");
        // Upstream recovers: after the backoff the next request fetches anew.
        upstream.failing.store(false, Ordering::SeqCst);
        advance(&clock, Duration::from_secs(61)).await;
        assert!(cache.get("a", V1, || upstream.fetcher()).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn slow_upstream_times_out_without_cancelling_the_fetch() {
        let (clock, upstream, cache) = setup(Duration::from_secs(8));
        let err = cache.get("a", V1, || upstream.fetcher()).await.unwrap_err();
        assert!(matches!(err, CacheError::Timeout(_)), "{err}");
        advance(&clock, Duration::from_secs(4)).await;
        // The fetch went on in the background; its result serves the next request.
        assert_eq!(
            cache
                .get("a", V1, || upstream.fetcher())
                .await
                .unwrap()
                .access_key_id,
            "ASIA1"
        );
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_fetch_does_not_wedge_the_entry() {
        let clock = Arc::new(FixedClock::new(datetime!(2026-06-01 00:00:00 UTC)));
        let cache: Cache<&str, Refused> = Cache::new(clock.clone(), Policy::default());
        let panicking: Fetcher<Refused> = Arc::new(|| Box::pin(async { panic!("boom") }));
        let err = cache.get("a", V1, || panicking.clone()).await.unwrap_err();
        assert!(matches!(err, CacheError::Aborted), "{err}");
        // No valid credentials and no in-flight fetch: the next request tries again.
        let err = cache.get("a", V1, || unreachable!()).await.unwrap_err();
        assert!(matches!(err, CacheError::Aborted), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_forgotten_when_new_keys_arrive() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get("a", V1, || upstream.fetcher()).await.unwrap();
        advance(&clock, Duration::from_secs(2 * 3600)).await;
        cache.get("b", V1, || upstream.fetcher()).await.unwrap();
        assert_eq!(cache.len(), 1);
    }
}
