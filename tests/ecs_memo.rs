//! The ECS front's kept answers (src/front/memo.rs) never outlive what they were made from:
//! one front, in this process, on one thread (so every request after the first finds the
//! answer kept by the one before), against the strict fake IAM Roles Anywhere on a fixed
//! clock. Each step changes one input of a kept answer (the secret presented, the way it is
//! presented, the certificate, the time, the binding file) and the very next request must
//! get what the whole way answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fake_aws::rolesanywhere::{FakeRolesAnywhere, Running};
use needroleshere::binding::{AccessToken, Binding, ConfigDir, Mode, Store, render_env};
use needroleshere::cache::Policy;
use needroleshere::front::ecs::{self, EcsState};
use needroleshere::identity::IdentityFiles;
use needroleshere::system::clock::FixedClock;
use needroleshere::system::env::Environment;
use needroleshere::system::transport::TransportSettings;
use tower::ServiceExt as _;

struct Setup {
    _tmp: tempfile::TempDir,
    clock: Arc<FixedClock>,
    fake: FakeRolesAnywhere,
    running: Running,
    dir: ConfigDir,
    pki: PathBuf,
    state: Arc<EcsState>,
    router: axum::Router,
}

impl Setup {
    async fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let (clock, fake, running) = common::fixed_fake::fake_on_fixed_clock().await;
        let settings = TransportSettings::from_environment(&Environment::default());
        let vendor = common::fixed_fake::vendor(clock.clone(), &settings, Policy::default());
        // Identity files of the test's own, so that they can be renewed.
        let pki = tmp.path().join("pki");
        std::fs::create_dir(&pki).unwrap();
        let dir = ConfigDir::new(tmp.path().join("config"));
        let store = Arc::new(Store::new(dir.clone()));
        let state = Arc::new(EcsState::new(store, Arc::new(vendor)));
        let router = ecs::router(state.clone());
        let setup = Setup {
            _tmp: tmp,
            clock,
            fake,
            running,
            dir,
            pki,
            state,
            router,
        };
        setup.install_identity("p256");
        setup
    }

    /// Puts the certificate and key of `kind` in place, each by a rename, as a renewal does.
    fn install_identity(&self, kind: &str) {
        for (from, to) in [
            (format!("{kind}.fullchain.pem"), "leaf.pem"),
            (format!("{kind}.pkcs8.key"), "leaf.key"),
        ] {
            let staged = self.pki.join(format!(".{to}.new"));
            std::fs::copy(common::pki_file(&from), &staged).unwrap();
            std::fs::rename(&staged, self.pki.join(to)).unwrap();
        }
    }

    /// Binds `web` anew (a new secret) and answers its token.
    fn bind(&self, mode: Mode) -> AccessToken {
        let files = IdentityFiles {
            certificates: vec![self.pki.join("leaf.pem").into()],
            intermediates: vec![],
            private_key: self.pki.join("leaf.key").into(),
            pkcs8_password: None,
            device: Default::default(),
        };
        let (binding, token) = Binding::create(
            "web".parse().unwrap(),
            mode,
            files,
            common::samples::session_request(),
            None,
            Some(self.running.url()),
        )
        .unwrap();
        let url = "http://127.0.0.1:8000".parse().unwrap();
        let env = render_env(mode, Some(&url), &token, false).unwrap();
        self.dir.install(&binding, &env, None).unwrap();
        token
    }

    /// `GET /ecs/credentials` presenting `token` in the header, or in the query string.
    async fn get(&self, token: &str, in_query: bool) -> (StatusCode, String) {
        let request = if in_query {
            Request::get(format!("/ecs/credentials?access_token={token}"))
        } else {
            Request::get("/ecs/credentials").header("authorization", format!("Bearer {token}"))
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The access key id of a 200 answer.
    async fn key_id(&self, token: &str) -> String {
        let (status, body) = self.get(token, false).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let document: serde_json::Value = serde_json::from_str(&body).unwrap();
        document["AccessKeyId"].as_str().unwrap().to_owned()
    }

    /// Waits (real time) until the fake has had `n` calls.
    async fn calls_reach(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.fake.request_count() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} upstream calls, expected {n}",
                self.fake.request_count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn secret(token: &AccessToken) -> String {
    token.to_secret_string().expose().to_owned()
}

/// One thread: each request after the first meets the answer the one before kept.
#[tokio::test(flavor = "current_thread")]
async fn a_kept_answer_gives_way_to_any_change_at_the_next_request() {
    let s = Setup::new().await;
    let token = s.bind(Mode::EcsFull);
    // The first answer waited for its fetch, and is not kept; the second is.
    let first = s.key_id(&secret(&token)).await;
    assert_eq!(s.state.kept_answers(), 0);
    assert_eq!(s.key_id(&secret(&token)).await, first);
    assert_eq!(s.state.kept_answers(), 1, "a cached answer was not kept");
    assert_eq!(s.fake.request_count(), 1);

    // Another secret for the same binding, and the right one presented the other way.
    let mut wrong = secret(&token).into_bytes();
    let at = wrong.len() - 10;
    wrong[at] = if wrong[at] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(s.get(&wrong, false).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get(&secret(&token), true).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.key_id(&secret(&token)).await, first);
    assert_eq!(s.state.kept_answers(), 1);

    // A renewed certificate: new credentials at once, the kept answer dropped.
    s.install_identity("p384");
    let renewed = s.key_id(&secret(&token)).await;
    assert_ne!(
        renewed, first,
        "the old certificate's credentials after a renewal"
    );
    assert_eq!(s.state.kept_answers(), 0);
    assert_eq!(s.fake.request_count(), 2);
    assert_eq!(s.key_id(&secret(&token)).await, renewed);
    assert_eq!(s.state.kept_answers(), 1);

    // Into the proactive window (about 39 minutes into an hour): answered at once with the
    // credentials at hand, and the request starts their refresh.
    s.clock.advance(time::Duration::minutes(42));
    assert_eq!(s.key_id(&secret(&token)).await, renewed);
    assert_eq!(s.state.kept_answers(), 0, "kept into the proactive window");
    s.calls_reach(3).await;
    let refreshed = s.key_id(&secret(&token)).await;
    assert_ne!(refreshed, renewed, "the refresh was not served");
    assert_eq!(s.state.kept_answers(), 1);

    // A rebind: the old secret opens nothing, the new one does.
    let rebound = s.bind(Mode::EcsFull);
    assert_eq!(
        s.get(&secret(&token), false).await.0,
        StatusCode::UNAUTHORIZED
    );
    s.key_id(&secret(&rebound)).await;
    s.key_id(&secret(&rebound)).await;
    assert_eq!(s.state.kept_answers(), 1);

    // Unbound: nothing, and nothing kept.
    s.dir.remove(&"web".parse().unwrap()).unwrap();
    assert_eq!(
        s.get(&secret(&rebound), false).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.state.kept_answers(), 0);
}

/// A binding whose token goes in the query string is kept too, and only for that way.
#[tokio::test(flavor = "current_thread")]
async fn a_query_token_is_kept_for_the_query_only() {
    let s = Setup::new().await;
    let token = s.bind(Mode::EcsFullQuery);
    let (status, body) = s.get(&secret(&token), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.get(&secret(&token), true).await, (status, body));
    assert_eq!(
        s.state.kept_answers(),
        1,
        "a query token's answer was not kept"
    );
    assert_eq!(
        s.get(&secret(&token), false).await.0,
        StatusCode::UNAUTHORIZED
    );
}
