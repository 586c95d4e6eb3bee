//! Whole answers to cached credential requests, kept per worker thread: a request that
//! presents the very token of a kept answer, while nothing that answer was made from can
//! have changed, gets the same bytes again without taking a lock or writing anything that
//! the other workers read.
//!
//! The whole way (the store, the token check, the binding's source, the cache, the rendered
//! document) takes seven mutexes and counts shared `Arc`s up and down, all of them touched
//! by both workers on every request: most of what a cached ECS fetch cost beyond a bare
//! HTTP server (issue 21). An answer is kept only when each of its inputs has a check that
//! needs none of that, and every check is made on every use:
//!
//! * **the token**: the same text, presented the same way (header or query), compared in
//!   constant time; any other token goes the whole way, and is checked there;
//! * **the files** (binding, certificate, key, and the directories on their way): the
//!   store's [`Watch`] tells no change since the answer was made ([`Watch::seen`], read
//!   before the request read anything). Without file-change notification nothing is kept:
//!   each request then `stat`s the files on the whole way;
//! * **the cache**: its [`Hold`]: no credentials fetched since, the entry not forgotten, its
//!   proactive refresh not yet due and the certificate still valid. Uses are counted as hits
//!   and noted on the entry, as the whole way does;
//! * **who asks**: never kept for a binding pinned to users (`bind --allow-uid`), whose
//!   answer depends on the connection.
//!
//! Each worker keeps at most [`SLOTS`] answers, one per slot of the token's hash, the
//! latest winning: a host's handful of bindings stay kept, while a server of thousands sees
//! most requests go the whole way, as they did before (plus the cost of keeping). A kept
//! answer holds the binding, its cache entry and a copy of the document (secrets, as the
//! rendered documents are) until its slot is taken, a request finds it no longer holds, or
//! its thread ends.

use std::cell::RefCell;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Bytes;
use zeroize::Zeroizing;

use crate::binding::{Binding, same_bytes};
use crate::cache::Hold;
use crate::credentials::Credentials;
use crate::system::clock::Clock;
use crate::system::watch::{Seen, Watch};

/// Answers kept per worker thread (a power of two).
const SLOTS: usize = 64;

thread_local! {
    /// This thread's answers, of every [`Memo`] (one per front), made on first use.
    static KEPT: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// The answers of one front; see the module documentation.
#[derive(Debug)]
pub(crate) struct Memo {
    /// Tells this front's answers from another's in the thread's slots (an address could be
    /// reused by a front made after this one is dropped).
    id: u64,
}

/// An answer as it is kept, with what says it still holds.
pub(crate) struct Answer {
    /// The moment of the store's watch the answer was made at.
    pub seen: Seen,
    pub hold: Hold,
    /// The binding and credentials it answers, for the line each answer logs.
    pub binding: Arc<Binding>,
    pub credentials: Arc<Credentials>,
    /// The document.
    pub body: Bytes,
}

struct Slot {
    owner: u64,
    query: bool,
    /// Zeroed when dropped, as every copy of a secret.
    token: Zeroizing<Box<[u8]>>,
    answer: Answer,
}

impl Default for Memo {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Relaxed),
        }
    }
}

impl Memo {
    /// The document kept for `token` (presented in the query string when `query`), if it is
    /// still what the whole way would answer: `watch` tells no change and the cache's hold
    /// holds at `clock`'s now. A kept answer that no longer holds is dropped.
    pub(crate) fn answer(
        &self,
        query: bool,
        token: &[u8],
        watch: &Watch,
        clock: &dyn Clock,
    ) -> Option<Bytes> {
        KEPT.with_borrow_mut(|slots| {
            let place = slots.get_mut(slot_of(token))?;
            let slot = place.as_ref()?;
            if slot.owner != self.id || slot.query != query || !same_bytes(&slot.token, token) {
                return None;
            }
            let now = clock.now();
            if !watch.unchanged(Some(slot.answer.seen)) || !slot.answer.hold.holds(now) {
                *place = None;
                return None;
            }
            let answer = &slot.answer;
            answer.hold.hit(now);
            super::vend::log_vended(&answer.binding, &answer.credentials);
            Some(answer.body.clone())
        })
    }

    /// How many answers this thread keeps for this front (for tests and diagnostics).
    pub(crate) fn kept_here(&self) -> usize {
        KEPT.with_borrow(|slots| {
            slots
                .iter()
                .flatten()
                .filter(|slot| slot.owner == self.id)
                .count()
        })
    }

    /// Keeps `answer`, just made for `token` (presented in the query string when `query`),
    /// in place of whatever its slot held.
    pub(crate) fn keep(&self, query: bool, token: &[u8], mut answer: Answer) {
        // A copy of this thread's own: every answer counts its body's references up and
        // down, and on a body shared with the other workers that count's cache line would
        // go from core to core on every request.
        answer.body = Bytes::copy_from_slice(&answer.body);
        let slot = Slot {
            owner: self.id,
            query,
            token: Zeroizing::new(token.into()),
            answer,
        };
        let index = slot_of(token);
        KEPT.with_borrow_mut(|slots| {
            if slots.is_empty() {
                slots.resize_with(SLOTS, || None);
            }
            slots[index] = Some(slot);
        });
    }
}

/// The slot of `token` (for every front: a slot says whose answer it holds).
fn slot_of(token: &[u8]) -> usize {
    let mut hasher = rustc_hash::FxBuildHasher.build_hasher();
    hasher.write(token);
    // The high bits: Fx mixes them best.
    (hasher.finish() >> (u64::BITS - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Mode;
    use crate::cache::{Cache, Policy};
    use crate::secret::Secret;
    use crate::source::{FetchFuture, Key, Source, Version};
    use crate::system::clock::FixedClock;
    use time::OffsetDateTime;
    use time::macros::datetime;

    /// Credentials that never expire, from a source steady for a day.
    #[derive(Debug)]
    struct Steady;

    impl Source for Steady {
        fn key(&self) -> Key {
            [9; 32]
        }

        fn steady_version(
            &self,
            _: &Arc<Watch>,
            now: OffsetDateTime,
        ) -> Option<(Version, OffsetDateTime)> {
            Some((Version::default(), now + time::Duration::days(1)))
        }

        fn fetch(&self) -> FetchFuture {
            Box::pin(async {
                Ok(Credentials {
                    access_key_id: "ASIAKEPT".into(),
                    secret_access_key: Secret::new("s"),
                    session_token: None,
                    expiration: None,
                    role_arn: None,
                })
            })
        }
    }

    fn kept_in_slot(token: &[u8]) -> bool {
        KEPT.with_borrow(|slots| slots.get(slot_of(token)).is_some_and(Option::is_some))
    }

    #[tokio::test]
    async fn a_kept_answer_is_for_its_very_token_and_front_until_a_file_changes() {
        let clock = Arc::new(FixedClock::new(datetime!(2026-06-01 00:00:00 UTC)));
        let cache = Cache::new(clock.clone(), Policy::default());
        let source: Arc<dyn Source> = Arc::new(Steady);
        let credentials = cache.get(&source).await.unwrap();
        let binding = Arc::new(crate::binding::tests::sample(Mode::EcsFull).0);
        let watch = Arc::new(Watch::new());
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("binding.json");
        std::fs::write(&file, "{}").unwrap();
        let answer = || Answer {
            seen: watch.observe([file.as_path()]).unwrap(),
            hold: cache.hold(&source, &credentials, &watch).unwrap(),
            binding: binding.clone(),
            credentials: credentials.clone(),
            body: Bytes::from_static(b"{\"AccessKeyId\":\"ASIAKEPT\"}"),
        };
        let memo = Memo::default();
        let token = b"needroleshere.web-1.secret-one";
        memo.keep(false, token, answer());
        let found = |memo: &Memo, query: bool, token: &[u8]| {
            memo.answer(query, token, &watch, clock.as_ref()).is_some()
        };
        assert!(found(&memo, false, token));

        // Another token of the same length in the same slot: found there, refused by its
        // bytes, and the kept answer stays.
        let colliding = (0..1000)
            .map(|i| format!("needroleshere.web-1.secret-{i:03}"))
            .find(|t| slot_of(t.as_bytes()) == slot_of(token))
            .expect("64 slots, 1000 tokens");
        assert!(!found(&memo, false, colliding.as_bytes()));
        // The same token presented the other way, or to another front (same slot).
        assert!(!found(&memo, true, token));
        let other = Memo::default();
        assert!(!found(&other, false, token));
        assert!(
            found(&memo, false, token),
            "a refusal dropped the kept answer"
        );

        // A file it was made from changes: not answered, and no longer kept.
        std::fs::write(&file, "{\"changed\":true}").unwrap();
        assert!(!found(&memo, false, token));
        assert!(!kept_in_slot(token));

        // Kept again, and dropped when the cache would answer otherwise.
        memo.keep(false, token, answer());
        assert!(found(&memo, false, token));
        cache.refresh(&source).await.unwrap();
        assert!(!found(&memo, false, token));
        assert!(!kept_in_slot(token));
    }
}
