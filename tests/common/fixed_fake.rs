//! The strict fake IAM Roles Anywhere and the product on one fixed clock, for tests that
//! move the wall clock through credential lifetimes in this process (the binary cannot be
//! time-travelled).

use std::sync::Arc;

use fake_aws::rolesanywhere::{Config, FakeRolesAnywhere, Running};
use needroleshere::system::clock::{Clock, FixedClock, SystemClock};

/// The product's fixed clock as the fake's clock: the fake keeps a clock type of its own (it
/// shares no code with the product), so both read one time through this.
#[derive(Debug)]
struct SameClock(Arc<FixedClock>);

impl fake_aws::clock::Clock for SameClock {
    fn now(&self) -> time::OffsetDateTime {
        self.0.now()
    }
}

/// The fake over the test PKI, serving on loopback, and the clock it shares with the
/// caller: set a second from now, on a whole second as the fake's expirations are (the
/// PKI's certificates are valid from the moment they are made).
pub(crate) async fn fake_on_fixed_clock() -> (Arc<FixedClock>, FakeRolesAnywhere, Running) {
    let mut config = Config::from_pki_dir(super::pki()).expect("the fake's configuration");
    let now = SystemClock.now();
    let start = now.replace_nanosecond(0).expect("0 ns is valid") + time::Duration::seconds(1);
    let clock = Arc::new(FixedClock::new(start));
    config.clock = Arc::new(SameClock(clock.clone()));
    let fake = FakeRolesAnywhere::new(config);
    let running = fake
        .spawn_http("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the fake listens");
    (clock, fake, running)
}

/// A vendor of bindings on `clock` (no default region or endpoint: the bindings name the
/// fake's), its HTTP client made with `settings`.
pub(crate) fn vendor(
    clock: Arc<FixedClock>,
    settings: &needroleshere::system::transport::TransportSettings,
    policy: needroleshere::cache::Policy,
) -> needroleshere::front::vend::Vendor {
    let defaults = needroleshere::source::binding::Defaults {
        region: None,
        endpoint: None,
        env: needroleshere::system::env::Environment::default(),
    };
    let client = needroleshere::system::transport::build_client(settings).expect("a client");
    needroleshere::front::vend::Vendor::new(client, defaults, clock, policy)
}
