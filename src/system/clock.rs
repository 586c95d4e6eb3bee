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
            /// The last whole second this thread converted (see [`since_epoch`]).
            static SECOND: Cell<Option<(u64, OffsetDateTime)>> = const { Cell::new(None) };
        }
        match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(elapsed) => SECOND.with(|second| since_epoch(elapsed, second)),
            Err(_) => OffsetDateTime::now_utc(),
        }
    }
}

/// The time `elapsed` after the Unix epoch. The calendar arithmetic of the conversion costs
/// several times the clock read, and a busy server asks many times a second (twice per
/// cached credential fetch): `second` keeps the last whole second converted.
fn since_epoch(elapsed: Duration, second: &Cell<Option<(u64, OffsetDateTime)>>) -> OffsetDateTime {
    let whole = elapsed.as_secs();
    let at = match second.get() {
        Some((kept, at)) if kept == whole => at,
        _ => {
            let at = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(whole);
            second.set(Some((whole, at)));
            at
        }
    };
    // `subsec_nanos` is below a second: always a valid nanosecond.
    at.replace_nanosecond(elapsed.subsec_nanos()).unwrap_or(at)
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
    fn a_kept_second_gives_the_same_time_as_a_conversion() {
        let second = Cell::new(None);
        for elapsed in [
            Duration::new(1_767_225_600, 0),
            Duration::new(1_767_225_600, 999_999_999),
            Duration::new(1_767_225_600, 123_456_789),
            Duration::new(1_767_225_601, 1),
            Duration::new(1_767_225_601, 5),
            // Back to an earlier second, as a stepped clock can.
            Duration::new(1_767_225_600, 42),
        ] {
            assert_eq!(
                since_epoch(elapsed, &second),
                OffsetDateTime::UNIX_EPOCH + elapsed,
                "{elapsed:?}"
            );
        }
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the reference the clock is checked against"
    )]
    fn the_system_clock_reads_the_time() {
        for _ in 0..3 {
            let before = OffsetDateTime::now_utc();
            let now = SystemClock.now();
            let after = OffsetDateTime::now_utc();
            assert!(before <= now && now <= after, "{before} {now} {after}");
        }
    }
}
