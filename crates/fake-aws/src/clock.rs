//! The fakes' own clock: what time the doubles believe it is.
//!
//! Contract:
//! * [`Clock`] gives the current UTC time; the fakes read time only through one.
//! * [`SystemClock`] reads the wall clock; [`FixedClock`] stands still until a test moves it.
//!
//! Written apart from the product's `needroleshere::system::clock` on purpose: the doubles must not
//! share code with what they check. A test that drives the product and a fake on one clock
//! implements both traits on one small adapter.

use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard};

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
        reason = "the doubles' one wall-clock reader (clippy.toml bans it elsewhere)"
    )]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until moved.
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
        *self.lock() += by;
    }

    fn lock(&self) -> MutexGuard<'_, OffsetDateTime> {
        // A poisoned lock only means another thread panicked mid-update of a plain value.
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
}
