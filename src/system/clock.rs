//! The one place that reads the wall clock.
//!
//! Everything that depends on time (signing dates, validity windows, expiry and refresh)
//! takes a [`Clock`], so tests can pin or move time. `clippy.toml` forbids reading the
//! system clock anywhere else.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + Debug {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the sanctioned wall-clock reader"
    )]
    fn now(&self) -> OffsetDateTime {
        thread_local! {
            /// The last whole second this thread converted, and its time: the calendar
            /// arithmetic of a conversion costs several times the clock read, and a busy
            /// server asks many times a second (twice per cached credential fetch).
            static SECOND: Cell<Option<(u64, OffsetDateTime)>> = const { Cell::new(None) };
        }
        let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) else {
            return OffsetDateTime::now_utc();
        };
        let (second, nanosecond) = (since_epoch.as_secs(), since_epoch.subsec_nanos());
        let at = SECOND.with(|cached| match cached.get() {
            Some((cached_second, at)) if cached_second == second => at,
            _ => {
                let at = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(second);
                cached.set(Some((second, at)));
                at
            }
        });
        // `subsec_nanos` is below a second: always a valid nanosecond.
        at.replace_nanosecond(nanosecond).unwrap_or(at)
    }
}

/// A clock that stands still until moved; for tests and test doubles.
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    /// A clock reading `at` until [`FixedClock::set`] or [`FixedClock::advance`] moves it.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.lock() = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        // A poisoned lock only means another thread panicked mid-update of a plain value;
        // the value itself is still a valid time.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(datetime!(2026-01-02 03:04:05 UTC));
        assert_eq!(clock.now(), datetime!(2026-01-02 03:04:05 UTC));
        clock.advance(time::Duration::minutes(5));
        assert_eq!(clock.now(), datetime!(2026-01-02 03:09:05 UTC));
        clock.set(datetime!(2030-01-01 00:00:00 UTC));
        assert_eq!(clock.now(), datetime!(2030-01-01 00:00:00 UTC));
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the reference the clock is checked against"
    )]
    fn the_system_clock_reads_the_time_to_the_nanosecond_whether_its_second_is_kept_or_not() {
        let mut seconds = std::collections::HashSet::new();
        // Until two seconds have been crossed: each is converted once, then kept.
        while seconds.len() < 3 {
            let before = OffsetDateTime::now_utc();
            let now = SystemClock.now();
            let after = OffsetDateTime::now_utc();
            assert!(before <= now && now <= after, "{before} {now} {after}");
            seconds.insert(now.unix_timestamp());
        }
    }
}
