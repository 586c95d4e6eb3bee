//! The credential cache between sources and fronts: every front asks it, never a source.
//!
//! One entry per [`Source::key`] (for bindings: the identity files, request, region and
//! endpoint; for profiles: the profile, or the source profile and MFA device of an MFA
//! session). Each request also brings the source's current [`Source::version`] — a
//! certificate's fingerprint, a profile's settings — so a renewed certificate makes the next
//! request fetch anew while the old credentials stay available as a fallback. Per entry:
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
//!   jittered delay; meanwhile requests get the last good credentials or the last error. A
//!   fetch that failed because it needs a person called no one, so it sets no backoff.
//! * **Out of band**: [`Cache::refresh`] fetches now whatever the state (a person gave an MFA
//!   code, or asked for new credentials); [`Cache::get_fresh`] never answers from the
//!   proactive window (`update` writes a file once per refresh).

use rustc_hash::FxHashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::credentials::Credentials;
use crate::source::{Category, Key, Kind, Source, SourceError, Upstream, Version};
use crate::system::clock::Clock;
use crate::system::watch::Watch;

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
    /// How long [`Cache::refresh`] (a person's request) waits for its fetch.
    pub refresh_wait: Duration,
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
            refresh_wait: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        }
    }
}

/// What a request for credentials gets.
pub type Outcome = Result<Arc<Credentials>, SourceError>;

/// Credentials by source key; see the module docs.
pub struct Cache {
    shared: Arc<Shared>,
    entries: Mutex<FxHashMap<Key, Arc<Entry>>>,
    /// The number of entries at which a new key next sweeps out the dead ones.
    sweep_at: std::sync::atomic::AtomicUsize,
}

/// What every entry of a cache needs: one copy, not one per entry (10,000 bindings).
struct Shared {
    clock: Arc<dyn Clock>,
    policy: Policy,
    /// Every entry's proactive refresh, run by one task.
    refreshes: Arc<Refreshes>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// How a request treats credentials in the proactive window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Anything servable; a refresh starts in the background.
    Any,
    /// Credentials outside the proactive window: joins or starts the refresh.
    Fresh,
    /// New credentials now, whatever is cached and whatever the backoff.
    New,
}

impl Cache {
    pub fn new(clock: Arc<dyn Clock>, policy: Policy) -> Self {
        Self {
            shared: Arc::new(Shared {
                clock,
                policy,
                refreshes: Arc::new(Refreshes::default()),
            }),
            entries: Mutex::default(),
            sweep_at: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// Credentials from `source`: cached, or fetched once however many ask.
    pub async fn get(&self, source: &Arc<dyn Source>) -> Result<Arc<Credentials>, SourceError> {
        self.request(source, Want::Any).await
    }

    /// Like [`Cache::get`], but credentials due for a refresh are refreshed first.
    pub async fn get_fresh(
        &self,
        source: &Arc<dyn Source>,
    ) -> Result<Arc<Credentials>, SourceError> {
        self.request(source, Want::Fresh).await
    }

    /// New credentials from `source` now, ignoring what is cached and any backoff: for a
    /// person's request. A fetch already under way started before the request (and may lack
    /// what the person just gave, such as an MFA code), so its end is awaited and a new
    /// fetch made.
    pub async fn refresh(&self, source: &Arc<dyn Source>) -> Result<Arc<Credentials>, SourceError> {
        self.request(source, Want::New).await
    }

    /// Credentials from `source` without waiting: [`Lookup::Ready`] when the cache can
    /// answer now (a hit, the last good credentials, or an error), else the fetch to wait
    /// for, started or joined. What [`Cache::get`] does up to its first wait: a cached
    /// answer costs no future.
    pub fn lookup(&self, source: &Arc<dyn Source>) -> Lookup {
        let now = self.shared.clock.now();
        match self.prepare(source, now) {
            Ok((entry, version)) => entry.begin(source, version, Want::Any, now),
            Err(outcome) => Lookup::Ready(outcome),
        }
    }

    async fn request(
        &self,
        source: &Arc<dyn Source>,
        want: Want,
    ) -> Result<Arc<Credentials>, SourceError> {
        let mut now = self.shared.clock.now();
        let (entry, version) = match self.prepare(source, now) {
            Ok(prepared) => prepared,
            Err(outcome) => return outcome,
        };
        if want == Want::New {
            entry.await_inflight().await;
            now = self.shared.clock.now();
        }
        match entry.begin(source, version, want, now) {
            Lookup::Ready(outcome) => outcome,
            Lookup::Pending(pending) => pending.wait().await,
        }
    }

    /// The entry of `source` and its current version; the answer itself when the source
    /// cannot be used now.
    fn prepare(
        &self,
        source: &Arc<dyn Source>,
        now: OffsetDateTime,
    ) -> Result<(Arc<Entry>, Version), Outcome> {
        let key = source.key();
        match source.version(now) {
            Ok(version) => Ok((self.entry(key, source), version)),
            // The source cannot be used now (a renewal half done, an expired certificate):
            // valid cached credentials still answer.
            Err(error) => Err(match self.peek(&key) {
                Some(credentials) => {
                    crate::metrics::cache_fallback();
                    tracing::warn!(error = %error.chain(), "serving cached credentials while {}", error.kind().describe());
                    Ok(credentials)
                }
                None => Err(error),
            }),
        }
    }

    fn entry(&self, key: Key, source: &Arc<dyn Source>) -> Arc<Entry> {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get(&key) {
            return entry.clone();
        }
        // A new key is the moment to forget entries nobody can use any more, once the map
        // has doubled since the last sweep: a sweep on every new key made the first requests
        // of n bindings cost O(n²) in all (10,000 bindings: 50 million checks); this way each
        // new key pays O(1) on average.
        if entries.len() >= self.sweep_at.load(Relaxed) {
            let now = self.shared.clock.now();
            entries.retain(|_, entry| {
                let alive = entry.is_alive(now);
                if !alive {
                    entry.retire();
                }
                alive
            });
            self.sweep_at.store((entries.len() * 2).max(1), Relaxed);
        }
        let entry = Arc::new(Entry {
            shared: self.shared.clone(),
            state: Mutex::new(State::new(source.clone())),
            epoch: AtomicU64::new(0),
            held_use: AtomicI64::new(i64::MIN),
        });
        entries.insert(key, entry.clone());
        entry
    }

    /// The credentials cached for `key`, if they are still good to serve, without any fetch.
    pub fn peek(&self, key: &Key) -> Option<Arc<Credentials>> {
        let entry = lock(&self.entries).get(key)?.clone();
        let state = lock(&entry.state);
        entry.last_good(&state, self.shared.clock.now())
    }

    /// When the entry of `key` will next call its source by itself: its proactive refresh,
    /// or the end of its backoff after a failure. `None` when nothing is scheduled.
    pub fn next_attempt(&self, key: &Key) -> Option<OffsetDateTime> {
        let entry = lock(&self.entries).get(key)?.clone();
        let state = lock(&entry.state);
        match state.retry_at {
            Some(retry_at) => Some(retry_at),
            None => state.current.as_ref()?.refresh_at,
        }
    }

    /// What the entry of `key` holds, for `status` and the metrics: when its credentials
    /// were fetched and expire, and the last failure since. `None` for an unknown key.
    pub fn report(&self, key: &Key) -> Option<EntryReport> {
        let entry = lock(&self.entries).get(key)?.clone();
        let state = lock(&entry.state);
        Some(EntryReport {
            fetched_at: state.current.as_ref().map(|c| c.fetched_at),
            expiration: state.current.as_ref().and_then(|c| c.expiration),
            last_error: state.last_error.clone(),
            next_attempt: state
                .retry_at
                .or_else(|| state.current.as_ref()?.refresh_at),
        })
    }

    /// Why the last fetch for `key` failed, while no fetch has succeeded since: for a caller
    /// that got the last good credentials back and wants to say why they are not new.
    pub fn last_error(&self, key: &Key) -> Option<SourceError> {
        let entry = lock(&self.entries).get(key)?.clone();
        let state = lock(&entry.state);
        state.last_error.clone()
    }

    /// Forgets the credentials of `key`; a fetch under way still ends, and is kept.
    pub fn forget(&self, key: &Key) {
        if let Some(entry) = lock(&self.entries).remove(key) {
            entry.retire();
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for (_, entry) in lock(&self.entries).drain() {
            entry.retire();
        }
    }

    /// What keeps `credentials`, which [`Cache::lookup`] just answered for `source`, the
    /// answer: see [`Hold`]. `None` unless they are the entry's current credentials of the
    /// source's current version (not a fallback), and when the version may change without
    /// `watch` telling (see [`Source::steady_version`]).
    pub fn hold(
        &self,
        source: &Arc<dyn Source>,
        credentials: &Arc<Credentials>,
        watch: &Arc<Watch>,
    ) -> Option<Hold> {
        let now = self.shared.clock.now();
        let (version, steady) = source.steady_version(watch, now)?;
        let entry = lock(&self.entries).get(&source.key())?.clone();
        let state = lock(&entry.state);
        let current = state.current.as_ref()?;
        // Credentials of another version are a fallback, answered until a fetch succeeds: a
        // hold would skip the fetches.
        if !Arc::ptr_eq(&current.credentials, credentials)
            || current.version != version
            || state.retired
        {
            return None;
        }
        let until = current
            .refresh_at
            .map_or(steady, |refresh| refresh.min(steady));
        if now >= until {
            return None;
        }
        let epoch = entry.epoch.load(SeqCst);
        drop(state);
        Some(Hold {
            entry,
            epoch,
            until,
        })
    }

    /// How many entries are held (for tests and diagnostics).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // Entries still held elsewhere (a fetch under way) are refreshed no more.
        self.shared.refreshes.close();
    }
}

impl Upstream for Cache {
    fn fresh<'a>(
        &'a self,
        source: &'a Arc<dyn Source>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Credentials>, SourceError>> + Send + 'a>> {
        Box::pin(self.get_fresh(source))
    }
}

/// What [`Cache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// The answer, now.
    Ready(Outcome),
    /// A fetch is under way: its outcome answers.
    Pending(Pending),
}

/// A request waiting for its entry's fetch (see [`Cache::lookup`]).
pub struct Pending {
    entry: Arc<Entry>,
    receiver: watch::Receiver<Option<Outcome>>,
    /// Whether valid credentials could answer if the fetch fails or is slow.
    has_fallback: bool,
    want: Want,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("has_fallback", &self.has_fallback)
            .field("want", &self.want)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// The fetch's outcome; the last good credentials when it fails or takes too long.
    pub async fn wait(self) -> Outcome {
        let Self {
            entry,
            mut receiver,
            has_fallback,
            want,
        } = self;
        let policy = &entry.shared.policy;
        let wait = match want {
            Want::New => policy.refresh_wait,
            // SDK clients give up after a second or two: valid credentials answer them soon.
            Want::Any if has_fallback => policy.fallback_wait,
            Want::Any | Want::Fresh => policy.wait,
        };
        let outcome = tokio::time::timeout(wait, receiver.wait_for(Option::is_some))
            .await
            .map(|value| value.ok().and_then(|value| value.clone()));
        let fallback = |error: SourceError| {
            if want == Want::New {
                return Err(error);
            }
            let state = lock(&entry.state);
            let last_good = entry.last_good(&state, entry.shared.clock.now());
            if last_good.is_some() {
                crate::metrics::cache_fallback();
            }
            last_good.ok_or(error)
        };
        match outcome {
            Ok(Some(Ok(credentials))) => Ok(credentials),
            Ok(Some(Err(error))) => fallback(error),
            Ok(None) => fallback(aborted()),
            Err(_) => fallback(SourceError::message(
                Kind::TimedOut,
                format!("no answer from upstream within {} s", wait.as_secs_f32()),
            )),
        }
    }
}

/// Until when a hit is still the answer, for a front that keeps the whole answer it made of
/// it (see [`crate::front::memo`]): while nothing the source reads changed (the caller's
/// [`Watch`]), its entry has fetched nothing new and was not forgotten, and before its
/// proactive refresh is due and the source's version could change by time (a certificate's
/// end). Within those bounds [`Entry::begin`] answers the same credentials, so asking
/// [`Hold::holds`] is asking the cache, without its locks.
pub struct Hold {
    entry: Arc<Entry>,
    epoch: u64,
    until: OffsetDateTime,
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold")
            .field("epoch", &self.epoch)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

impl Hold {
    /// Whether the cache would still answer the held credentials at `now`.
    pub fn holds(&self, now: OffsetDateTime) -> bool {
        now < self.until && self.entry.epoch.load(SeqCst) == self.epoch
    }

    /// A request answered from the hold at `now`: counted as a hit, and a use of the entry
    /// (its proactive refresh is for entries in use).
    pub fn hit(&self, now: OffsetDateTime) {
        crate::metrics::cache_hit();
        let seconds = now.unix_timestamp();
        // Written once a second at most: both workers read this line on every request.
        if self.entry.held_use.load(Relaxed) < seconds {
            self.entry.held_use.store(seconds, Relaxed);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Entries hold plain data updated in small critical sections; after a panic elsewhere
    // the data is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Entry {
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Bumped whenever what a hit answers may change otherwise than by time: new credentials,
    /// or the entry forgotten. A [`Hold`] holds while it is unchanged.
    epoch: AtomicU64,
    /// The last use through a [`Hold`], in Unix seconds (see [`State::last_used`]): those
    /// uses take no lock.
    held_use: AtomicI64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // A forgotten entry leaves nothing behind in the schedule.
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = state.scheduled.take() {
            self.shared.refreshes.cancel(at);
        }
    }
}

/// What one entry holds; see [`Cache::report`].
#[derive(Debug, Clone)]
pub struct EntryReport {
    /// When the current credentials were fetched.
    pub fetched_at: Option<OffsetDateTime>,
    /// When they expire.
    pub expiration: Option<OffsetDateTime>,
    /// Why the last fetch failed, while none has succeeded since.
    pub last_error: Option<SourceError>,
    /// When the entry will next call its source by itself.
    pub next_attempt: Option<OffsetDateTime>,
}

struct Current {
    credentials: Arc<Credentials>,
    fetched_at: OffsetDateTime,
    version: Version,
    expiration: Option<OffsetDateTime>,
    refresh_at: Option<OffsetDateTime>,
    block_at: Option<OffsetDateTime>,
}

/// The fetch under way.
struct Inflight {
    generation: u64,
    outcome: watch::Receiver<Option<Outcome>>,
}

struct State {
    /// The source as last asked for: background refreshes use it.
    source: Arc<dyn Source>,
    current: Option<Current>,
    inflight: Option<Inflight>,
    generation: u64,
    last_error: Option<SourceError>,
    failures: u32,
    retry_at: Option<OffsetDateTime>,
    last_used: Option<OffsetDateTime>,
    /// This entry's place in [`Refreshes`], if a proactive refresh is scheduled.
    scheduled: Option<DueAt>,
    /// Forgotten by the cache, while something still holds it: refreshed no more.
    retired: bool,
}

impl State {
    fn new(source: Arc<dyn Source>) -> Self {
        Self {
            source,
            current: None,
            inflight: None,
            generation: 0,
            last_error: None,
            failures: 0,
            retry_at: None,
            last_used: None,
            scheduled: None,
            retired: false,
        }
    }
}

fn before(limit: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    limit.is_none_or(|t| now < t)
}

fn aborted() -> SourceError {
    SourceError::message(Kind::Internal, "the credential fetch ended unexpectedly")
}

impl Entry {
    fn is_alive(&self, now: OffsetDateTime) -> bool {
        let state = lock(&self.state);
        state.inflight.is_some()
            || state.retry_at.is_some_and(|t| now < t)
            || state
                .current
                .as_ref()
                .is_some_and(|c| before(c.expiration, now))
    }

    /// Out of the cache: no [`Hold`] holds and no refresh is scheduled any more.
    fn retire(&self) {
        let mut state = lock(&self.state);
        state.retired = true;
        if let Some(at) = state.scheduled.take() {
            self.shared.refreshes.cancel(at);
        }
        self.epoch.fetch_add(1, SeqCst);
    }

    /// What a request for `version` gets now, or the fetch it must wait for.
    fn begin(
        self: &Arc<Self>,
        source: &Arc<dyn Source>,
        version: Version,
        want: Want,
        now: OffsetDateTime,
    ) -> Lookup {
        let mut state = lock(&self.state);
        state.last_used = Some(now);
        if !Arc::ptr_eq(&state.source, source) {
            state.source = source.clone();
        }
        let may_retry = want == Want::New || state.retry_at.is_none_or(|t| now >= t);
        if want != Want::New
            && let Some(current) = &state.current
            && current.version == version
        {
            if before(current.refresh_at, now) {
                crate::metrics::cache_hit();
                return Lookup::Ready(Ok(current.credentials.clone()));
            }
            if want == Want::Any && before(current.block_at, now) {
                crate::metrics::cache_hit();
                let credentials = current.credentials.clone();
                if state.inflight.is_none() && may_retry {
                    self.start_fetch(&mut state, version);
                }
                return Lookup::Ready(Ok(credentials));
            }
        }
        let has_fallback = want != Want::New && self.last_good(&state, now).is_some();
        let receiver = match &state.inflight {
            Some(inflight) => inflight.outcome.clone(),
            None if !may_retry => {
                let last_good = self.last_good(&state, now);
                if last_good.is_some() {
                    crate::metrics::cache_fallback();
                }
                return Lookup::Ready(
                    last_good.ok_or_else(|| state.last_error.clone().unwrap_or_else(aborted)),
                );
            }
            None => self.start_fetch(&mut state, version),
        };
        Lookup::Pending(Pending {
            entry: self.clone(),
            receiver,
            has_fallback,
            want,
        })
    }

    /// Waits (at most `refresh_wait`) until no fetch is under way.
    async fn await_inflight(&self) {
        let waiting = async {
            loop {
                let receiver = match &lock(&self.state).inflight {
                    Some(inflight) => inflight.outcome.clone(),
                    None => return,
                };
                let mut receiver = receiver;
                // Ends with an outcome, or with the fetch task gone: either way, look again.
                let _ = receiver.wait_for(Option::is_some).await;
                tokio::task::yield_now().await;
            }
        };
        let _ = tokio::time::timeout(self.shared.policy.refresh_wait, waiting).await;
    }

    /// The current credentials while they have more than `last_good_margin` left.
    fn last_good(&self, state: &State, now: OffsetDateTime) -> Option<Arc<Credentials>> {
        let current = state.current.as_ref()?;
        match current.expiration {
            Some(expiration) if expiration - now > self.shared.policy.last_good_margin => {
                Some(current.credentials.clone())
            }
            Some(_) => None,
            None => Some(current.credentials.clone()),
        }
    }

    fn start_fetch(
        self: &Arc<Self>,
        state: &mut State,
        version: Version,
    ) -> watch::Receiver<Option<Outcome>> {
        let (sender, receiver) = watch::channel(None);
        state.generation += 1;
        let generation = state.generation;
        state.inflight = Some(Inflight {
            generation,
            outcome: receiver.clone(),
        });
        let entry = self.clone();
        let fetch = state.source.fetch();
        crate::metrics::cache_refresh();
        tokio::spawn(async move {
            // Clears the in-flight marker even if the fetch panics, so the entry never sticks.
            let guard = InflightGuard {
                entry: entry.clone(),
                generation,
            };
            let started = tokio::time::Instant::now();
            let result = fetch.await;
            crate::metrics::upstream(
                result.as_ref().map(|_| ()).map_err(SourceError::category),
                started.elapsed(),
            );
            let outcome = entry.finish(result, version, generation);
            drop(guard);
            let _ = sender.send(Some(outcome));
        });
        receiver
    }

    fn finish(
        self: &Arc<Self>,
        result: Result<Credentials, SourceError>,
        version: Version,
        generation: u64,
    ) -> Outcome {
        let now = self.shared.clock.now();
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
                self.epoch.fetch_add(1, SeqCst);
                state.current = Some(Current {
                    credentials: credentials.clone(),
                    fetched_at: now,
                    version,
                    expiration,
                    refresh_at,
                    block_at,
                });
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                if let (Some(at), Some(expiration)) = (refresh_at, expiration) {
                    self.schedule_refresh(&mut state, at, now, expiration - now, generation);
                }
                Ok(credentials)
            }
            Err(error) => {
                // A fetch that stopped for a person called no one: nothing to back off from,
                // and the person's answer must be usable at once.
                if error.category() != Category::NeedsPerson {
                    state.failures = state.failures.saturating_add(1);
                    let backoff = jittered(
                        self.shared
                            .policy
                            .backoff_base
                            .saturating_mul(2u32.saturating_pow(state.failures - 1))
                            .min(self.shared.policy.backoff_cap),
                    );
                    state.retry_at = Some(now + backoff);
                }
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// (proactive, blocking) margins before expiry for credentials living `lifetime`.
    fn margins(&self, lifetime: time::Duration) -> (time::Duration, time::Duration) {
        let lifetime = Duration::try_from(lifetime).unwrap_or(Duration::ZERO);
        let proactive = self.shared.policy.proactive_margin.min(lifetime / 2);
        let jitter = random_fraction(self.shared.policy.jitter.min(lifetime / 10));
        let blocking = self.shared.policy.blocking_margin.min(lifetime / 3);
        let to_time = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::ZERO);
        (to_time(proactive + jitter), to_time(blocking))
    }

    /// Refreshes at `at` if nothing has fetched since `generation` and the entry was used
    /// within the credentials' `lifetime` (SDKs ask about once per lifetime). Replaces the
    /// refresh scheduled before, if any.
    fn schedule_refresh(
        self: &Arc<Self>,
        state: &mut State,
        at: OffsetDateTime,
        now: OffsetDateTime,
        lifetime: time::Duration,
        generation: u64,
    ) {
        let delay = Duration::try_from(at - now).unwrap_or(Duration::ZERO);
        if let Some(earlier) = state.scheduled.take() {
            self.shared.refreshes.cancel(earlier);
        }
        if state.retired {
            return;
        }
        state.scheduled = Some(self.shared.refreshes.schedule(
            tokio::time::Instant::now() + delay,
            Due {
                entry: Arc::downgrade(self),
                generation,
                lifetime,
            },
        ));
    }

    /// The scheduled refresh is due: fetches if it is still wanted.
    fn refresh_due(self: &Arc<Self>, at: DueAt, generation: u64, lifetime: time::Duration) {
        let now = self.shared.clock.now();
        let mut state = lock(&self.state);
        if state.scheduled == Some(at) {
            state.scheduled = None;
        }
        let current = state.generation == generation
            && !state.retired
            && state.inflight.is_none()
            && state
                .current
                .as_ref()
                .is_some_and(|c| !before(c.refresh_at, now));
        // Never used through a hold: `i64::MIN`, which saturates to "long ago".
        let since_held_use = now
            .unix_timestamp()
            .saturating_sub(self.held_use.load(Relaxed));
        let used = state.last_used.is_some_and(|used| now - used <= lifetime)
            || since_held_use <= lifetime.whole_seconds();
        if current && used {
            let version = state
                .current
                .as_ref()
                .map(|c| c.version)
                .unwrap_or_default();
            self.start_fetch(&mut state, version);
        }
    }
}

/// Where a refresh is in the schedule: its time, then the order it was scheduled in.
type DueAt = (tokio::time::Instant, u64);

/// A scheduled refresh.
struct Due {
    entry: Weak<Entry>,
    generation: u64,
    lifetime: time::Duration,
}

/// The proactive refreshes of all entries in the order they are due, run by one task that
/// sleeps until the first: a sleeping task per entry cost some 10,000 tasks (and their
/// timers) for 10,000 bindings. Each entry has at most one refresh here; a rescheduled or
/// dropped entry takes its old one out.
#[derive(Default)]
struct Refreshes {
    inner: Mutex<Schedule>,
    /// Tells the task that the first refresh changed, or that the cache is gone.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Schedule {
    due: std::collections::BTreeMap<DueAt, Due>,
    next_order: u64,
    /// The task, once started (a cache used from a runtime that has since gone starts it
    /// again).
    task: Option<tokio::task::JoinHandle<()>>,
    closed: bool,
}

impl Refreshes {
    /// Schedules `due` at `at`; starts the task the first time (a fetch runs in a runtime).
    fn schedule(self: &Arc<Self>, at: tokio::time::Instant, due: Due) -> DueAt {
        let mut schedule = lock(&self.inner);
        let key = (at, schedule.next_order);
        schedule.next_order += 1;
        let first = schedule.due.first_key_value().is_none_or(|(k, _)| key < *k);
        schedule.due.insert(key, due);
        let running = schedule.task.as_ref().is_some_and(|t| !t.is_finished());
        if !running && !schedule.closed {
            schedule.task = Some(tokio::spawn(self.clone().run()));
        } else if first {
            self.wake.notify_one();
        }
        key
    }

    fn cancel(&self, at: DueAt) {
        lock(&self.inner).due.remove(&at);
    }

    fn close(&self) {
        let mut schedule = lock(&self.inner);
        schedule.closed = true;
        schedule.due.clear();
        drop(schedule);
        self.wake.notify_one();
    }

    /// Runs the refreshes as they fall due, until the cache is dropped.
    async fn run(self: Arc<Self>) {
        loop {
            // Registered before the schedule is read, so no wake-up is lost in between.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let now = tokio::time::Instant::now();
            let mut fire = Vec::new();
            let next = {
                let mut schedule = lock(&self.inner);
                if schedule.closed {
                    return;
                }
                while let Some(entry) = schedule.due.first_entry()
                    && entry.key().0 <= now
                {
                    let (at, due) = entry.remove_entry();
                    fire.push((at, due));
                }
                schedule.due.first_key_value().map(|(at, _)| at.0)
            };
            // Outside the schedule's lock: a refresh takes its entry's lock.
            for (at, due) in fire {
                if let Some(entry) = due.entry.upgrade() {
                    entry.refresh_due(at, due.generation, due.lifetime);
                }
            }
            match next {
                Some(next) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(next) => {}
                        () = woken => {}
                    }
                }
                None => woken.await,
            }
        }
    }
}

struct InflightGuard {
    entry: Arc<Entry>,
    generation: u64,
}

impl Drop for InflightGuard {
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
    use crate::secret::Secret;
    use crate::system::clock::FixedClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::macros::datetime;

    const V1: Version = [1; 32];
    const V2: Version = [2; 32];

    fn key(name: &str) -> Key {
        crate::source::digest([name.as_bytes()])
    }

    #[derive(Debug)]
    struct TestSource {
        upstream: Arc<Upstream>,
        key: Key,
        version: Version,
    }

    impl Source for TestSource {
        fn key(&self) -> Key {
            self.key
        }

        fn version(&self, _: OffsetDateTime) -> Result<Version, SourceError> {
            Ok(self.version)
        }

        /// Steady for a day: these tests move the clock by hours at most.
        fn steady_version(
            &self,
            _: &Arc<Watch>,
            now: OffsetDateTime,
        ) -> Option<(Version, OffsetDateTime)> {
            Some((self.version, now + time::Duration::days(1)))
        }

        fn fetch(&self) -> crate::source::FetchFuture {
            let upstream = self.upstream.clone();
            Box::pin(async move {
                let n = upstream.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(upstream.delay).await;
                if upstream.failing.load(Ordering::SeqCst) {
                    return Err(SourceError::message(Kind::Unavailable, "upstream says no"));
                }
                if upstream.needs_person.load(Ordering::SeqCst) {
                    return Err(SourceError::message(Kind::NeedsMfa, "a code, please"));
                }
                Ok(Credentials {
                    access_key_id: format!("ASIA{n}"),
                    secret_access_key: Secret::new("s"),
                    session_token: Some(Secret::new("t")),
                    expiration: Some(upstream.clock.now() + upstream.lifetime),
                    role_arn: None,
                })
            })
        }
    }

    /// A scripted upstream: counts calls, answers after `delay` with credentials that live
    /// `lifetime`, or fails while `failing` is set.
    #[derive(Debug)]
    struct Upstream {
        clock: Arc<FixedClock>,
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
        needs_person: std::sync::atomic::AtomicBool,
        delay: Duration,
        lifetime: time::Duration,
    }

    impl Upstream {
        fn new(clock: Arc<FixedClock>, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                clock,
                calls: AtomicUsize::new(0),
                failing: false.into(),
                needs_person: false.into(),
                delay,
                lifetime: time::Duration::hours(1),
            })
        }

        /// A source of this upstream for identity `name` at `version`.
        fn source(self: &Arc<Self>, name: &str, version: Version) -> Arc<dyn Source> {
            Arc::new(TestSource {
                upstream: self.clone(),
                key: key(name),
                version,
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn setup(delay: Duration) -> (Arc<FixedClock>, Arc<Upstream>, Arc<Cache>) {
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
    async fn lookup_answers_a_hit_at_once_and_a_miss_by_the_fetch_it_joins() {
        let (clock, upstream, cache) = setup(Duration::from_millis(200));
        let source = upstream.source("a", V1);
        // Nothing cached: the first lookup starts the fetch, the second joins it.
        let Lookup::Pending(first) = cache.lookup(&source) else {
            panic!("a cold cache answered at once");
        };
        let Lookup::Pending(second) = cache.lookup(&source) else {
            panic!("a fetch under way answered at once");
        };
        let (first, second) = tokio::join!(first.wait(), second.wait());
        assert_eq!(first.unwrap().access_key_id, "ASIA1");
        assert_eq!(second.unwrap().access_key_id, "ASIA1");
        assert_eq!(upstream.calls(), 1);
        // Cached: answered without a wait, and without a call.
        let Lookup::Ready(hit) = cache.lookup(&source) else {
            panic!("a cached credential made the request wait");
        };
        assert_eq!(hit.unwrap().access_key_id, "ASIA1");
        assert_eq!(upstream.calls(), 1);
        // Renewed identity: the request waits for the new fetch.
        let renewed = upstream.source("a", V2);
        let Lookup::Pending(fetch) = cache.lookup(&renewed) else {
            panic!("a renewed identity was answered with the old credentials");
        };
        assert_eq!(fetch.wait().await.unwrap().access_key_id, "ASIA2");
        assert!(matches!(cache.lookup(&renewed), Lookup::Ready(Ok(_))));
        // Nearly expired: never answered from the cache at once.
        advance(&clock, Duration::from_secs(55 * 60)).await;
        assert!(matches!(cache.lookup(&renewed), Lookup::Pending(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_fetch() {
        let (_, upstream, cache) = setup(Duration::from_millis(200));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (cache, upstream) = (cache.clone(), upstream.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(&upstream.source("a", V1)).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().access_key_id, "ASIA1");
        }
        assert_eq!(upstream.calls(), 1);
        // Cached afterwards; another key is fetched on its own.
        cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(upstream.calls(), 1);
        assert_eq!(
            cache
                .get(&upstream.source("b", V1))
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn used_credentials_are_refreshed_before_they_near_expiry() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        advance(&clock, Duration::from_secs(30 * 60)).await;
        cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(upstream.calls(), 1, "still fresh at 30 minutes");
        // The background refresh fires between 39 and 40 minutes (20 min margin + jitter).
        advance(&clock, Duration::from_secs(10 * 60 + 1)).await;
        tokio::task::yield_now().await;
        assert_eq!(upstream.calls(), 2, "proactive refresh");
        let fresh = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(fresh.access_key_id, "ASIA2");
    }

    #[tokio::test(start_paused = true)]
    async fn one_task_refreshes_every_entry() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        for i in 0..100 {
            cache
                .get(&upstream.source(&format!("k{i}"), V1))
                .await
                .unwrap();
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The fetches have ended; what is left waits for the refreshes: one task, not 100.
        let metrics = tokio::runtime::Handle::current().metrics();
        assert_eq!(metrics.num_alive_tasks(), 1);
        assert_eq!(lock(&cache.shared.refreshes.inner).due.len(), 100);
        advance(&clock, Duration::from_secs(41 * 60)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(upstream.calls(), 200, "each entry refreshed once");
        assert_eq!(
            lock(&cache.shared.refreshes.inner).due.len(),
            100,
            "each rescheduled once, the old refresh gone"
        );
        // Forgotten entries leave nothing scheduled; a dropped cache stops the task.
        cache.clear();
        assert!(lock(&cache.shared.refreshes.inner).due.is_empty());
        drop(cache);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(metrics.num_alive_tasks(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_due_before_the_first_scheduled_one_is_not_late() {
        let (clock, short, cache) = setup(Duration::ZERO);
        let long = Arc::new(Upstream {
            lifetime: time::Duration::hours(2),
            ..Arc::into_inner(Upstream::new(clock.clone(), Duration::ZERO)).unwrap()
        });
        // The task first sleeps until the long-lived credentials' refresh (~100 minutes)...
        cache.get(&long.source("long", V1)).await.unwrap();
        tokio::task::yield_now().await;
        // ...and must wake for the short-lived ones' (~40 minutes), scheduled after.
        cache.get(&short.source("short", V1)).await.unwrap();
        advance(&clock, Duration::from_secs(41 * 60)).await;
        tokio::task::yield_now().await;
        assert_eq!(short.calls(), 2, "refreshed at about 40 minutes");
        assert_eq!(long.calls(), 1, "not due yet");
        advance(&clock, Duration::from_secs(60 * 60)).await;
        tokio::task::yield_now().await;
        assert_eq!(long.calls(), 2, "refreshed at about 100 minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_holds_while_the_cache_would_answer_the_same() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        let watch = Arc::new(Watch::unavailable());
        let source = upstream.source("a", V1);
        let first = cache.get(&source).await.unwrap();
        let hold = cache.hold(&source, &first, &watch).unwrap();
        assert!(hold.holds(clock.now()));
        // Not for credentials the entry does not hold, nor for a fallback: the source's
        // version has moved on and a fetch must be tried.
        let other = Arc::new(Credentials::clone(&first));
        assert!(cache.hold(&source, &other, &watch).is_none());
        assert!(
            cache
                .hold(&upstream.source("a", V2), &first, &watch)
                .is_none()
        );

        // Until the proactive refresh is due (39-40 minutes into an hour), fetch or not.
        upstream.failing.store(true, Ordering::SeqCst);
        advance(&clock, Duration::from_secs(38 * 60)).await;
        assert!(hold.holds(clock.now()));
        advance(&clock, Duration::from_secs(3 * 60)).await;
        assert_eq!(upstream.calls(), 2, "the refresh was tried");
        assert!(!hold.holds(clock.now()), "held into the proactive window");
        assert!(cache.hold(&source, &first, &watch).is_none());

        // New credentials, whatever the time: a person's refresh.
        upstream.failing.store(false, Ordering::SeqCst);
        let second = cache.refresh(&source).await.unwrap();
        let hold = cache.hold(&source, &second, &watch).unwrap();
        assert!(hold.holds(clock.now()));
        let third = cache.refresh(&source).await.unwrap();
        assert!(!hold.holds(clock.now()), "held past new credentials");

        // Forgotten: the next request fetches, so nothing holds.
        let hold = cache.hold(&source, &third, &watch).unwrap();
        cache.forget(&source.key());
        assert!(!hold.holds(clock.now()), "held past a forget");
    }

    #[tokio::test(start_paused = true)]
    async fn uses_through_a_hold_keep_an_entry_refreshed() {
        // As `entries_unused_for_a_lifetime_are_not_refreshed`, but used at 30 minutes
        // through a hold: the refresh 80 minutes in is 50 minutes after that use.
        let (clock, upstream, cache) = setup(Duration::ZERO);
        let watch = Arc::new(Watch::unavailable());
        let source = upstream.source("a", V1);
        let first = cache.get(&source).await.unwrap();
        let hold = cache.hold(&source, &first, &watch).unwrap();
        advance(&clock, Duration::from_secs(30 * 60)).await;
        hold.hit(clock.now());
        advance(&clock, Duration::from_secs(11 * 60)).await;
        assert_eq!(upstream.calls(), 2);
        advance(&clock, Duration::from_secs(40 * 60)).await;
        assert_eq!(upstream.calls(), 3, "a use through a hold did not count");
        // Then no use for a lifetime: no more refreshes.
        for _ in 0..6 {
            advance(&clock, Duration::from_secs(30 * 60)).await;
        }
        assert_eq!(upstream.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_unused_for_a_lifetime_are_not_refreshed() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
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
        cache.get(&upstream.source("a", V1)).await.unwrap();
        advance(&clock, Duration::from_secs(60)).await;
        let renewed = cache.get(&upstream.source("a", V2)).await.unwrap();
        assert_eq!(
            renewed.access_key_id, "ASIA2",
            "a renewed certificate gets new credentials"
        );
        assert_eq!(
            cache
                .get(&upstream.source("a", V2))
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
        // Another renewal while upstream fails: the valid credentials still answer.
        upstream.failing.store(true, Ordering::SeqCst);
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA2");
        assert_eq!(upstream.calls(), 3);
        assert_eq!(cache.peek(&key("a")).unwrap().access_key_id, "ASIA2");
        assert!(cache.peek(&key("unknown")).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_fetch_with_a_fallback_answers_within_the_short_wait() {
        let (clock, upstream, cache) = setup(Duration::from_secs(3));
        let first = tokio::spawn({
            let (cache, upstream) = (cache.clone(), upstream.clone());
            async move { cache.get(&upstream.source("a", V1)).await }
        });
        advance(&clock, Duration::from_secs(3)).await;
        first.await.unwrap().unwrap();
        // A renewal with upstream slow: the old credentials answer after the short wait.
        let started = tokio::time::Instant::now();
        let served = cache.get(&upstream.source("a", V2)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1");
        assert_eq!(started.elapsed(), Policy::default().fallback_wait);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_credentials_are_served_while_a_refresh_runs() {
        let (clock, upstream, cache) = setup(Duration::from_secs(3));
        cache.get(&upstream.source("a", V1)).await.unwrap();
        // At 45 minutes (inside the proactive window, outside the blocking one), with no
        // background timer having run because nobody used it: answered at once, refresh starts.
        advance(&clock, Duration::from_secs(45 * 60)).await;
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1");
        tokio::task::yield_now().await;
        assert_eq!(upstream.calls(), 2, "a background refresh started");
        advance(&clock, Duration::from_secs(4)).await;
        assert_eq!(
            cache
                .get(&upstream.source("a", V1))
                .await
                .unwrap()
                .access_key_id,
            "ASIA2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nearly_expired_credentials_wait_for_a_refresh() {
        let (clock, upstream, cache) = setup(Duration::from_millis(100));
        cache.get(&upstream.source("a", V1)).await.unwrap();
        advance(&clock, Duration::from_secs(50 * 60)).await; // 10 min left: under 11
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(
            served.access_key_id, "ASIA2",
            "must not serve creds with 10 minutes left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn last_good_credentials_survive_upstream_failure_but_never_expire() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        upstream.failing.store(true, Ordering::SeqCst);
        advance(&clock, Duration::from_secs(55 * 60)).await;
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1", "last good while still valid");
        // Within the failure backoff no new call is made.
        let calls = upstream.calls();
        cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(upstream.calls(), calls);
        // Past expiry (less the 1 minute margin): an error, never expired credentials.
        advance(&clock, Duration::from_secs(4 * 60 + 30)).await;
        let err = cache.get(&upstream.source("a", V1)).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Unavailable, "{err}");
        // Upstream recovers: after the backoff the next request fetches anew.
        upstream.failing.store(false, Ordering::SeqCst);
        advance(&clock, Duration::from_secs(61)).await;
        assert!(cache.get(&upstream.source("a", V1)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn slow_upstream_times_out_without_cancelling_the_fetch() {
        let (clock, upstream, cache) = setup(Duration::from_secs(8));
        let err = cache.get(&upstream.source("a", V1)).await.unwrap_err();
        assert_eq!(err.kind(), Kind::TimedOut, "{err}");
        advance(&clock, Duration::from_secs(4)).await;
        // The fetch went on in the background; its result serves the next request.
        assert_eq!(
            cache
                .get(&upstream.source("a", V1))
                .await
                .unwrap()
                .access_key_id,
            "ASIA1"
        );
        assert_eq!(upstream.calls(), 1);
    }

    #[derive(Debug)]
    struct Panicking;

    impl Source for Panicking {
        fn key(&self) -> Key {
            key("a")
        }

        fn fetch(&self) -> crate::source::FetchFuture {
            Box::pin(async { panic!("boom") })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_fetch_does_not_wedge_the_entry() {
        let clock = Arc::new(FixedClock::new(datetime!(2026-06-01 00:00:00 UTC)));
        let cache = Cache::new(clock.clone(), Policy::default());
        let panicking: Arc<dyn Source> = Arc::new(Panicking);
        let err = cache.get(&panicking).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Internal, "{err}");
        // No valid credentials and no in-flight fetch: the next request tries again.
        let err = cache.get(&panicking).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Internal, "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_forgotten_when_new_keys_arrive() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        advance(&clock, Duration::from_secs(2 * 3600)).await;
        cache.get(&upstream.source("b", V1)).await.unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_that_needs_a_person_sets_no_backoff() {
        let (_, upstream, cache) = setup(Duration::ZERO);
        upstream.needs_person.store(true, Ordering::SeqCst);
        let err = cache.get(&upstream.source("a", V1)).await.unwrap_err();
        assert_eq!(err.kind(), Kind::NeedsMfa);
        // The person answered: the very next request fetches, with no backoff in the way.
        upstream.needs_person.store(false, Ordering::SeqCst);
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA2");
        // An upstream failure, by contrast, backs off.
        let (_, upstream, cache) = setup(Duration::ZERO);
        upstream.failing.store(true, Ordering::SeqCst);
        cache.get(&upstream.source("a", V1)).await.unwrap_err();
        upstream.failing.store(false, Ordering::SeqCst);
        cache.get(&upstream.source("a", V1)).await.unwrap_err();
        assert_eq!(upstream.calls(), 1, "no new call within the backoff");
    }

    /// A source refused for this machine's clock (issue 20 item 12).
    #[derive(Debug)]
    struct Skewed(AtomicUsize);

    impl Source for Skewed {
        fn key(&self) -> Key {
            key("skewed")
        }

        fn fetch(&self) -> crate::source::FetchFuture {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(SourceError::message(
                    Kind::ClockSkew,
                    "this machine's clock is 10 minutes behind AWS",
                ))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_skew_refusal_caches_nothing_and_backs_off() {
        let clock = Arc::new(FixedClock::new(datetime!(2026-06-01 00:00:00 UTC)));
        let cache = Cache::new(clock.clone(), Policy::default());
        let skewed = Arc::new(Skewed(AtomicUsize::new(0)));
        let source: Arc<dyn Source> = skewed.clone();
        let err = cache.get(&source).await.unwrap_err();
        assert_eq!(err.kind(), Kind::ClockSkew, "{err}");
        assert!(cache.peek(&source.key()).is_none(), "nothing to serve");
        let retry_at = cache.next_attempt(&source.key()).expect("a backoff");
        assert!(retry_at > clock.now(), "{retry_at}");
        // Within the backoff the refusal answers again without a call...
        assert_eq!(
            cache.get(&source).await.unwrap_err().kind(),
            Kind::ClockSkew
        );
        assert_eq!(skewed.0.load(Ordering::SeqCst), 1);
        // ...and after it the source is asked again: nothing was kept from the refusal.
        advance(&clock, Duration::from_secs(2)).await;
        assert_eq!(
            cache.get(&source).await.unwrap_err().kind(),
            Kind::ClockSkew
        );
        assert_eq!(skewed.0.load(Ordering::SeqCst), 2);
        assert!(cache.peek(&source.key()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_fetches_anew_whatever_is_cached_and_whatever_the_backoff() {
        let (_, upstream, cache) = setup(Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        let fresh = cache.refresh(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(
            fresh.access_key_id, "ASIA2",
            "fresh credentials are replaced"
        );
        upstream.failing.store(true, Ordering::SeqCst);
        // A failed refresh says so: it does not hide behind the cached credentials...
        let err = cache.refresh(&upstream.source("a", V1)).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Unavailable);
        // ...which still answer ordinary requests, and the failure is there to report.
        let served = cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA2");
        let key = upstream.source("a", V1).key();
        assert_eq!(cache.last_error(&key).unwrap().kind(), Kind::Unavailable);
        // The backoff does not hold a refresh back.
        upstream.failing.store(false, Ordering::SeqCst);
        let fresh = cache.refresh(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(fresh.access_key_id, "ASIA4");
        assert!(cache.last_error(&key).is_none(), "a success clears it");
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_does_not_join_a_fetch_that_started_before_it() {
        let (clock, upstream, cache) = setup(Duration::from_secs(2));
        let source = upstream.source("a", V1);
        let earlier = tokio::spawn({
            let (cache, source) = (cache.clone(), source.clone());
            async move { cache.get(&source).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(upstream.calls(), 1, "a fetch is under way");
        let refreshed = tokio::spawn({
            let (cache, source) = (cache.clone(), source.clone());
            async move { cache.refresh(&source).await }
        });
        advance(&clock, Duration::from_secs(2)).await;
        advance(&clock, Duration::from_secs(2)).await;
        assert_eq!(earlier.await.unwrap().unwrap().access_key_id, "ASIA1");
        assert_eq!(refreshed.await.unwrap().unwrap().access_key_id, "ASIA2");
    }

    #[tokio::test(start_paused = true)]
    async fn get_fresh_does_not_answer_from_the_proactive_window() {
        let (clock, upstream, cache) = setup(Duration::from_secs(3));
        let source = upstream.source("a", V1);
        let first = tokio::spawn({
            let (cache, source) = (cache.clone(), source.clone());
            async move { cache.get(&source).await }
        });
        advance(&clock, Duration::from_secs(3)).await;
        first.await.unwrap().unwrap();
        // 45 minutes on, no timer having run: `get` answers the old credentials at once...
        advance(&clock, Duration::from_secs(45 * 60)).await;
        let (plain, fresh) = tokio::join!(cache.get(&source), async {
            let fresh = cache.get_fresh(&source);
            advance(&clock, Duration::from_secs(3)).await;
            fresh.await
        });
        assert_eq!(plain.unwrap().access_key_id, "ASIA1");
        // ...while `get_fresh` joins the refresh that request started.
        assert_eq!(fresh.unwrap().access_key_id, "ASIA2");
        assert_eq!(upstream.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn next_attempt_is_the_proactive_refresh_or_the_end_of_the_backoff() {
        let (clock, upstream, cache) = setup(Duration::ZERO);
        let source = upstream.source("a", V1);
        let start = clock.now();
        cache.get(&source).await.unwrap();
        let at = cache.next_attempt(&source.key()).unwrap();
        // An hour's credentials: 20 minutes before expiry, earlier by at most a minute.
        assert!(at <= start + time::Duration::minutes(40), "{at}");
        assert!(at >= start + time::Duration::minutes(39), "{at}");
        upstream.failing.store(true, Ordering::SeqCst);
        cache.refresh(&source).await.unwrap_err();
        let retry = cache.next_attempt(&source.key()).unwrap();
        // The first backoff: half to all of a second.
        assert!(retry > clock.now() && retry <= clock.now() + time::Duration::seconds(1));
        assert!(cache.next_attempt(&key("unknown")).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_source_of_the_same_identity_is_the_one_that_fetches() {
        let (_, upstream, cache) = setup(Duration::ZERO);
        let other = Upstream::new(upstream.clock.clone(), Duration::ZERO);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        // The same key at a new version (an edited profile): the new source is asked.
        let served = cache.get(&other.source("a", V2)).await.unwrap();
        assert_eq!(served.access_key_id, "ASIA1");
        assert_eq!((upstream.calls(), other.calls()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unusable_source_falls_back_to_valid_cached_credentials() {
        #[derive(Debug)]
        struct Broken;
        impl Source for Broken {
            fn key(&self) -> Key {
                key("a")
            }
            fn version(&self, _: OffsetDateTime) -> Result<Version, SourceError> {
                Err(SourceError::message(Kind::Identity, "half renewed"))
            }
            fn fetch(&self) -> crate::source::FetchFuture {
                unreachable!("an unusable source is never asked to fetch")
            }
        }
        let (_, upstream, cache) = setup(Duration::ZERO);
        let broken: Arc<dyn Source> = Arc::new(Broken);
        assert_eq!(cache.get(&broken).await.unwrap_err().kind(), Kind::Identity);
        cache.get(&upstream.source("a", V1)).await.unwrap();
        assert_eq!(cache.get(&broken).await.unwrap().access_key_id, "ASIA1");
    }
}
