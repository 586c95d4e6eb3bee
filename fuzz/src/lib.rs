//! What the fuzz targets share: a throwaway test PKI (made once per process by
//! `tests/pki/generate.sh`), and in-process ECS and IMDS routers over real bindings whose
//! credentials come from the strict fake IAM Roles Anywhere on a loopback port.
//!
//! Nothing here reaches beyond 127.0.0.1.

/// A CreateSession request and a binding the fake accepts: the integration tests' own helper
/// file, included so the two cannot drift (`fake_aws` does not build product types).
#[path = "../../tests/common/samples.rs"]
pub mod samples;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use fake_aws::rolesanywhere::{Config, FakeRolesAnywhere, Running};
use needroleshere::binding::{Binding, ConfigDir, Mode, Store};
use needroleshere::cache::Policy;
use needroleshere::front::{ecs, imds, vend};
use needroleshere::identity::IdentityFiles;
use needroleshere::system::clock::SystemClock;
use needroleshere::system::env::Environment;

/// A directory holding the test PKI: `$NEEDROLESHERE_FUZZ_PKI` when set (scripts/test.sh
/// makes one for every target), else one made now. Making one runs openssl for seconds,
/// which on a loaded machine can exceed libFuzzer's per-input timeout: targets build what
/// they need in their `init` block, before the first input is timed.
pub fn pki() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static MADE: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("NEEDROLESHERE_FUZZ_PKI") {
        Some(dir) => PathBuf::from(dir),
        None => MADE
            .get_or_init(|| {
                let dir = tempfile::tempdir().expect("temporary directory");
                fake_aws::generate_pki(dir.path()).expect("the test PKI");
                dir
            })
            .path()
            .to_owned(),
    })
}

/// A scratch directory for files a target writes.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
        .path()
}

/// The runtime every async target runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// The routers under test and the tokens that open their bindings.
pub struct Fronts {
    pub ecs: axum::Router,
    /// IMDS for binding `imds`, IMDSv2 only.
    pub imds: axum::Router,
    /// The same listener with IMDSv1 allowed.
    pub imds_v1: axum::Router,
    /// Token of binding `web` (ecs-full: header).
    pub web_token: String,
    /// Token of binding `query` (ecs-full-query: query string).
    pub query_token: String,
    _fake: FakeRolesAnywhere,
    _running: Running,
    _dir: tempfile::TempDir,
}

fn files(pki: &Path) -> IdentityFiles {
    IdentityFiles {
        certificates: vec![pki.join("p256.fullchain.pem").into()],
        intermediates: vec![],
        private_key: pki.join("p256.pkcs8.key").into(),
        pkcs8_password: None,
        device: Default::default(),
    }
}

/// The fronts, made once per process.
pub fn fronts() -> &'static Fronts {
    static FRONTS: OnceLock<Fronts> = OnceLock::new();
    FRONTS.get_or_init(|| {
        let pki = pki();
        let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki).expect("fake config"));
        let running = runtime()
            .block_on(fake.spawn_http("127.0.0.1:0".parse().expect("address")))
            .expect("start the fake");
        let dir = tempfile::tempdir().expect("configuration directory");
        let config = ConfigDir::new(dir.path());
        std::fs::create_dir_all(config.bindings_dir()).expect("bindings/");
        let session = samples::session_request();
        let mut tokens = Vec::new();
        for (name, mode) in [
            ("web", Mode::EcsFull),
            ("query", Mode::EcsFullQuery),
            ("imds", Mode::Imds),
        ] {
            let (binding, token) = Binding::create(
                name.parse().expect("name"),
                mode,
                files(pki),
                session.clone(),
                None,
                Some(running.url()),
            )
            .expect("binding");
            std::fs::write(config.binding_path(&binding.name), binding.to_json())
                .expect("write binding");
            tokens.push(token.to_secret_string().expose().to_owned());
        }
        let store = Arc::new(Store::new(config));
        let http = needroleshere::system::transport::build_client(
            &needroleshere::system::transport::TransportSettings::from_environment(
                &Environment::default(),
            ),
        )
        .expect("HTTP client");
        let defaults = needroleshere::source::binding::Defaults {
            region: None,
            endpoint: None,
            env: Environment::default(),
        };
        let vendor = Arc::new(vend::Vendor::new(
            http,
            defaults,
            Arc::new(SystemClock),
            Policy::default(),
        ));
        let ecs = ecs::router(Arc::new(ecs::EcsState::new(store.clone(), vendor.clone())));
        let keys = Arc::new(imds::Tokens::generate().expect("IMDS key"));
        let imds_router = |allow_v1| {
            let target = imds::Target::Stored {
                vendor: vendor.clone(),
                store: store.clone(),
                name: "imds".parse().expect("name"),
            };
            let options = imds::ImdsOptions {
                allow_v1,
                local_addr: Some("127.0.0.1:80".parse().expect("address")),
            };
            imds::router(Arc::new(imds::ImdsState::new(
                vendor.clock().clone(),
                keys.clone(),
                target,
                options,
            )))
        };
        Fronts {
            ecs,
            imds: imds_router(false),
            imds_v1: imds_router(true),
            web_token: tokens[0].clone(),
            query_token: tokens[1].clone(),
            _fake: fake,
            _running: running,
            _dir: dir,
        }
    })
}

/// Sends `request` through `router` and returns the status, headers and body.
pub fn send(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt as _;
    runtime().block_on(async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("routers are infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .expect("a response body");
        (parts.status, parts.headers, body.to_vec())
    })
}

/// A path under the scratch directory.
pub fn scratch_file(name: &str) -> PathBuf {
    scratch().join(name)
}
