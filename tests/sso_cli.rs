//! The AWS CLI v2 (Debian's `awscli`, 2.9.19; scripts/test.sh installs it) as the second
//! party of IAM Identity Center sign-in, against the strict doubles of `fake_aws::sso`.
//!
//! The CLI ignores `AWS_ENDPOINT_URL_*`, so it reaches the doubles under AWS's own host names
//! (`oidc.us-east-1.amazonaws.com`, `portal.sso.us-east-1.amazonaws.com`,
//! `sts.us-east-1.amazonaws.com`) through the doubles' CONNECT proxy (`HTTPS_PROXY`) and the
//! test PKI's TLS CA (`AWS_CA_BUNDLE`), as the compatibility matrix's AWS CLI v2 cell does.
//!
//! `aws sso login --no-browser` prints a user code; the test reads it from the CLI's stdout
//! (`PYTHONUNBUFFERED=1`: the CLI writes the prompt without flushing, which a terminal would
//! show at once but a pipe holds back) and approves it as the person would, through the
//! double's test API. Then `aws sts get-caller-identity` must be served role credentials
//! from the portal, signed with which the strict fake STS accepts the call.
//!
//! What the CLI leaves in `~/.aws/sso/cache/` is checked exactly: these tests are the record
//! of the cache format `src/aws_files/sso_cache.rs` shares with it. Both ways: our reader
//! reads what the CLI wrote, and the CLI uses (and renews) a token only our writer wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use common::matrix::FakeAws;
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sso::{
    BEARER_HEADER, SSO_ALICE, SSO_DEVELOPER_ROLE, SSO_READ_ONLY_ROLE, SSO_START_URL,
};
use needroleshere::aws_files::sso_cache::{SsoCache, TokenKey, registration_file_name};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// Generous: the CLI takes seconds to start on a loaded machine, and its polling loop
/// sleeps for real (1 s interval, 6 s after the `slow_down` its second, immediate poll
/// earns).
const CLI_TIMEOUT: Duration = Duration::from_secs(180);

/// `[profile dev]` on the `sso-session` form, `[profile legacy]` on the older one.
fn config() -> String {
    format!(
        "[profile dev]\n\
         sso_session = corp\n\
         sso_account_id = {ACCOUNT_ID}\n\
         sso_role_name = {SSO_DEVELOPER_ROLE}\n\
         region = us-east-1\n\
         output = json\n\
         \n\
         [sso-session corp]\n\
         sso_start_url = {SSO_START_URL}\n\
         sso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\
         \n\
         [profile legacy]\n\
         sso_start_url = {SSO_START_URL}\n\
         sso_region = us-east-1\n\
         sso_account_id = {ACCOUNT_ID}\n\
         sso_role_name = {SSO_READ_ONLY_ROLE}\n\
         region = us-east-1\n\
         output = json\n"
    )
}

/// Hex SHA-1, as botocore names its cache files.
fn sha1_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        text.as_bytes(),
    ))
}

/// A HOME for the CLI and the doubles it reaches.
struct Cli {
    fake: FakeAws,
    home: tempfile::TempDir,
}

impl Cli {
    async fn start() -> Cli {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/config"), config()).unwrap();
        Cli {
            fake: FakeAws::start().await,
            home,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join(".aws/sso/cache")
    }

    fn command(&self, args: &[&str]) -> Command {
        // Debian's CLI by its path: PATH may hold another `aws` (the v1 of build/venv, a
        // pyenv shim).
        let mut command = Command::new("/usr/bin/aws");
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join(".aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HTTPS_PROXY", self.fake.https_proxy())
            .env("AWS_CA_BUNDLE", common::pki_file("tls-ca.pem"))
            .env("NO_PROXY", "localhost,127.0.0.1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// `aws sso login --no-browser --profile PROFILE`: reads the user code it prints,
    /// approves it as `alice`, and returns everything it printed.
    async fn login(&self, profile: &str) -> String {
        let mut child = self
            .command(&["sso", "login", "--no-browser", "--profile", profile])
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run aws (Debian's awscli; scripts/test.sh installs it): {e}")
            });
        let stdout = child.stdout.take().unwrap();
        let run = async {
            let mut lines = BufReader::new(stdout).lines();
            let mut printed = String::new();
            let mut approved = false;
            while let Some(line) = lines.next_line().await.unwrap() {
                printed.push_str(&line);
                printed.push('\n');
                if !approved && is_user_code(line.trim()) {
                    assert_eq!(
                        self.fake.world.sso.pending_user_codes(),
                        vec![line.trim().to_owned()],
                        "the code the CLI printed is the one waiting"
                    );
                    self.fake.world.sso.approve(line.trim(), SSO_ALICE).unwrap();
                    approved = true;
                }
            }
            let output = child.wait_with_output().await.unwrap();
            (printed, output)
        };
        let (printed, output) = tokio::time::timeout(CLI_TIMEOUT, run)
            .await
            .expect("aws sso login finished");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "aws sso login failed ({}):\n{printed}\n{stderr}\nrefusals: {:?}",
            output.status,
            self.fake.world.sso.rejections()
        );
        assert!(
            printed.contains(&format!(
                "Successfully logged into Start URL: {SSO_START_URL}"
            )),
            "{printed}"
        );
        printed
    }

    /// `aws sts get-caller-identity --profile PROFILE`, parsed.
    async fn caller_identity(&self, profile: &str) -> Result<Value, String> {
        let output = tokio::time::timeout(
            CLI_TIMEOUT,
            self.command(&["sts", "get-caller-identity", "--profile", profile])
                .output(),
        )
        .await
        .expect("aws sts get-caller-identity finished")
        .unwrap();
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The files of the SSO cache, by name.
    fn cache_files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.cache_dir())
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn read_cache(&self, name: &str) -> serde_json::Map<String, Value> {
        let path = self.cache_dir().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", path.display());
        match serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() {
            Value::Object(map) => map,
            other => panic!("{} holds {other}", path.display()),
        }
    }
}

use common::sso::now;

impl Cli {
    /// Whether the portal accepts `access_token` (ListAccounts).
    fn portal_accepts(&self, access_token: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(BEARER_HEADER, HeaderValue::from_str(access_token).unwrap());
        self.fake
            .world
            .sso
            .handle("GET", "/assignment/accounts", None, &headers, b"")
            .is_ok()
    }
}

/// `ABCD-EFGH`.
fn is_user_code(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() == 9
        && bytes[4] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_uppercase())
}

/// The registration cache key botocore uses (`SSOTokenFetcher._registration_cache_key`):
/// hex SHA-1 of `json.dumps` (sorted keys, default separators) of tool, start URL, region,
/// scopes and session name.
fn registration_key(session: Option<&str>, scopes: Option<&[&str]>) -> String {
    let json = |value: Option<String>| value.unwrap_or_else(|| "null".to_owned());
    let scopes = scopes.map(|scopes| {
        format!(
            "[{}]",
            scopes
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    sha1_hex(&format!(
        "{{\"region\": \"us-east-1\", \"scopes\": {}, \"session_name\": {}, \
         \"startUrl\": \"{SSO_START_URL}\", \"tool\": \"botocore\"}}",
        json(scopes),
        json(session.map(|s| format!("\"{s}\"")))
    ))
}

fn keys(map: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

/// `2026-12-03T18:04:05Z`: what botocore writes for a time.
fn is_utc_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == 20
            && text.ends_with('Z')
            && time::PrimitiveDateTime::parse(
                &text[..19],
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .is_ok()
    })
}

fn assert_developer(identity: &Value) {
    assert_eq!(identity["Account"], ACCOUNT_ID, "{identity}");
    let arn = identity["Arn"].as_str().unwrap();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/AWSReservedSSO_{SSO_DEVELOPER_ROLE}_"
        )) && arn.ends_with(&format!("/{SSO_ALICE}")),
        "{arn}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_signs_in_with_an_sso_session_and_uses_the_role() {
    let cli = Cli::start().await;
    cli.login("dev").await;

    let token_file = format!("{}.json", sha1_hex("corp"));
    let registration_file = format!(
        "{}.json",
        registration_key(Some("corp"), Some(&["sso:account:access"]))
    );
    assert_eq!(
        cli.cache_files(),
        BTreeSet::from([token_file.clone(), registration_file.clone()])
    );
    let token = cli.read_cache(&token_file);
    assert_eq!(
        keys(&token),
        BTreeSet::from([
            "startUrl",
            "region",
            "accessToken",
            "expiresAt",
            "clientId",
            "clientSecret",
            "registrationExpiresAt",
            "refreshToken",
        ])
    );
    assert_eq!(token["startUrl"], SSO_START_URL);
    assert_eq!(token["region"], "us-east-1");
    assert!(
        is_utc_timestamp(&token["expiresAt"]),
        "{:?}",
        token["expiresAt"]
    );
    assert!(is_utc_timestamp(&token["registrationExpiresAt"]));
    let registration = cli.read_cache(&registration_file);
    assert_eq!(
        keys(&registration),
        BTreeSet::from(["clientId", "clientSecret", "expiresAt", "scopes"])
    );
    assert_eq!(registration["clientId"], token["clientId"]);
    assert_eq!(
        registration["scopes"],
        serde_json::json!(["sso:account:access"])
    );
    assert!(is_utc_timestamp(&registration["expiresAt"]));

    // Our reader reads what the CLI wrote, and the token it finds is live at the portal.
    let cache = SsoCache::new(cli.cache_dir());
    let ours = cache
        .read_token(&TokenKey::Session("corp".into()))
        .unwrap()
        .expect("the CLI's token file");
    assert_eq!(ours.start_url.as_deref(), Some(SSO_START_URL));
    assert_eq!(ours.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        ours.access_token.expose(),
        token["accessToken"].as_str().unwrap()
    );
    assert!(ours.renewable(now()).is_some());
    assert!(ours.other.is_empty(), "{:?}", ours.other.keys());
    assert!(cli.portal_accepts(ours.access_token.expose()));
    let scopes = ["sso:account:access".to_owned()];
    let registration = cache
        .read_registration(&registration_file_name(
            SSO_START_URL,
            "us-east-1",
            Some("corp"),
            Some(&scopes),
        ))
        .unwrap()
        .expect("the CLI's registration file");
    assert_eq!(
        registration.client_id,
        ours.client.as_ref().unwrap().client_id
    );
    assert_eq!(registration.scopes.as_deref(), Some(&scopes[..]));

    let identity = cli.caller_identity("dev").await.unwrap();
    assert_developer(&identity);
    let issued = cli.fake.world.sso.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].role_name, SSO_DEVELOPER_ROLE);
    assert_eq!(cli.fake.world.sso.calls("RegisterClient"), 1);
    assert_eq!(cli.fake.world.sso.calls("StartDeviceAuthorization"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_signs_in_with_the_legacy_profile_form() {
    let cli = Cli::start().await;
    cli.login("legacy").await;

    let token_file = format!("{}.json", sha1_hex(SSO_START_URL));
    let registration_file = format!("{}.json", registration_key(None, None));
    assert_eq!(
        cli.cache_files(),
        BTreeSet::from([token_file.clone(), registration_file.clone()])
    );
    // No scopes were registered, so the service gave no refresh token, and the CLI keeps
    // no client with the token.
    let token = cli.read_cache(&token_file);
    assert_eq!(
        keys(&token),
        BTreeSet::from([
            "startUrl",
            "region",
            "accessToken",
            "expiresAt",
            "clientId",
            "clientSecret",
            "registrationExpiresAt",
        ])
    );
    let registration = cli.read_cache(&registration_file);
    assert_eq!(
        keys(&registration),
        BTreeSet::from(["clientId", "clientSecret", "expiresAt"])
    );

    let cache = SsoCache::new(cli.cache_dir());
    let ours = cache
        .read_token(&TokenKey::Legacy {
            start_url: SSO_START_URL.to_owned(),
        })
        .unwrap()
        .expect("the CLI's token file");
    assert!(ours.refresh_token.is_none() && ours.renewable(now()).is_none());
    assert!(cli.portal_accepts(ours.access_token.expose()));
    assert!(
        cache
            .read_registration(&registration_file_name(
                SSO_START_URL,
                "us-east-1",
                None,
                None
            ))
            .unwrap()
            .is_some()
    );

    let identity = cli.caller_identity("legacy").await.unwrap();
    assert_eq!(identity["Account"], ACCOUNT_ID);
    assert!(
        identity["Arn"]
            .as_str()
            .unwrap()
            .contains(&format!("AWSReservedSSO_{SSO_READ_ONLY_ROLE}_")),
        "{identity}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_without_a_sign_in_is_refused_and_calls_nothing() {
    let cli = Cli::start().await;
    let error = cli.caller_identity("dev").await.unwrap_err();
    assert!(
        error.contains("Error loading SSO Token: Token for corp does not exist"),
        "{error}"
    );
    assert_eq!(cli.fake.world.sso.request_count(), 0);
    assert!(!Path::new(&cli.cache_dir()).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_uses_a_token_only_our_writer_wrote() {
    let cli = Cli::start().await;
    let cache = SsoCache::new(cli.cache_dir());
    let token = common::sso::sign_in_directly(&cli.fake.world, true);
    let written = cache
        .write_token(&TokenKey::Session("corp".into()), &token, now())
        .unwrap();
    assert_eq!(written.set_aside, None);
    assert_eq!(
        cli.cache_files(),
        BTreeSet::from([format!("{}.json", sha1_hex("corp"))])
    );

    let identity = cli.caller_identity("dev").await.unwrap();
    assert_developer(&identity);
    // It used the token as it was: no renewal, no sign-in.
    assert_eq!(cli.fake.world.sso.calls("CreateToken"), 1);
    assert_eq!(cli.fake.world.sso.calls("GetRoleCredentials"), 1);

    // The legacy form, from a file of ours too.
    let token = common::sso::sign_in_directly(&cli.fake.world, false);
    cache
        .write_token(
            &TokenKey::Legacy {
                start_url: SSO_START_URL.to_owned(),
            },
            &token,
            now(),
        )
        .unwrap();
    let identity = cli.caller_identity("legacy").await.unwrap();
    assert_eq!(identity["Account"], ACCOUNT_ID);
    assert_eq!(cli.fake.world.sso.calls("GetRoleCredentials"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_cli_renews_our_token_with_its_refresh_token_and_we_read_the_renewal() {
    let cli = Cli::start().await;
    let cache = SsoCache::new(cli.cache_dir());
    let key = TokenKey::Session("corp".into());
    let mut token = common::sso::sign_in_directly(&cli.fake.world, true);
    // Within the CLI's 15-minute renewal window.
    token.expires_at = now() + time::Duration::minutes(5);
    let first_refresh = token.refresh_token.clone().unwrap();
    cache.write_token(&key, &token, now()).unwrap();

    let identity = cli.caller_identity("dev").await.unwrap();
    assert_developer(&identity);
    assert_eq!(cli.fake.world.sso.calls("CreateToken"), 2, "a renewal");
    let renewed = cache
        .read_token(&key)
        .unwrap()
        .expect("the CLI rewrote the token");
    assert_ne!(renewed.access_token, token.access_token);
    assert_ne!(renewed.refresh_token.as_ref(), Some(&first_refresh));
    assert!(renewed.expires_at > now() + time::Duration::minutes(30));
    assert_eq!(renewed.client, token.client);
    assert!(cli.portal_accepts(renewed.access_token.expose()));
}

/// Our own client does the device flow (through the proxy, with the test CA, under AWS's
/// host names, as a person's machine reaches AWS), our writer caches the sign-in, and the
/// AWS CLI uses it.
#[tokio::test(flavor = "multi_thread")]
async fn our_sign_in_through_the_proxy_is_used_by_the_aws_cli() {
    use needroleshere::aws::sso::{Client, Endpoints};
    use needroleshere::aws_files::sso_cache::{CachedToken, TokenClient};
    use needroleshere::system::env::Environment;
    use needroleshere::system::transport::{TransportSettings, build_client};

    let cli = Cli::start().await;
    let ca = common::pki_file("tls-ca.pem");
    let env = Environment::from_pairs([
        ("HTTPS_PROXY", cli.fake.https_proxy().as_str()),
        ("AWS_CA_BUNDLE", ca.to_str().unwrap()),
    ]);
    let http = build_client(&TransportSettings::from_environment(&env)).unwrap();
    let endpoints = Endpoints::resolve(&env, None, &"us-east-1".parse().unwrap()).unwrap();
    assert_eq!(
        endpoints.oidc.as_str(),
        "https://oidc.us-east-1.amazonaws.com/"
    );
    let client = Client::new(
        http,
        endpoints,
        std::sync::Arc::new(needroleshere::system::clock::SystemClock),
    );
    let scopes = ["sso:account:access".to_owned()];
    let registration = client
        .register_client("needroleshere", Some(&scopes))
        .await
        .unwrap();

    // The polling protocol as our client sees it.
    let waiting = client
        .start_device_authorization(&registration, SSO_START_URL)
        .await
        .unwrap();
    let poll = || client.create_token_with_device_code(&registration, &waiting.device_code);
    assert_eq!(
        poll().await.unwrap_err().oauth_error(),
        Some("authorization_pending")
    );
    assert_eq!(poll().await.unwrap_err().oauth_error(), Some("slow_down"));
    cli.fake.world.sso.deny(&waiting.user_code).unwrap();

    let device = client
        .start_device_authorization(&registration, SSO_START_URL)
        .await
        .unwrap();
    assert_eq!(device.interval_seconds, 1);
    assert!(
        device
            .verification_uri
            .starts_with("https://device.sso.us-east-1.")
    );
    cli.fake
        .world
        .sso
        .approve(&device.user_code, SSO_ALICE)
        .unwrap();
    let tokens = client
        .create_token_with_device_code(&registration, &device.device_code)
        .await
        .unwrap();
    let accounts = client.list_accounts(&tokens.access_token).await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(
        client
            .list_account_roles(&tokens.access_token, ACCOUNT_ID)
            .await
            .unwrap(),
        [SSO_DEVELOPER_ROLE, SSO_READ_ONLY_ROLE]
    );
    let credentials = client
        .get_role_credentials(&tokens.access_token, ACCOUNT_ID, SSO_DEVELOPER_ROLE)
        .await
        .unwrap();
    assert!(cli.fake.world.issued(&credentials.access_key_id));

    SsoCache::new(cli.cache_dir())
        .write_token(
            &TokenKey::Session("corp".into()),
            &CachedToken {
                start_url: Some(SSO_START_URL.to_owned()),
                region: Some("us-east-1".to_owned()),
                access_token: tokens.access_token,
                expires_at: tokens.expires_at,
                client: Some(TokenClient {
                    client_id: registration.client_id,
                    client_secret: registration.client_secret,
                    expires_at: registration.expires_at,
                }),
                refresh_token: tokens.refresh_token,
                other: serde_json::Map::new(),
            },
            now(),
        )
        .unwrap();
    assert_developer(&cli.caller_identity("dev").await.unwrap());
    assert_eq!(
        cli.fake.world.sso.calls("CreateToken"),
        3,
        "the CLI renewed nothing"
    );
}

/// `needroleshere login dev --no-browser` (through the proxy, with the test CA, as a
/// person's machine reaches AWS) prints a code, waits for its approval and leaves the
/// CLI's files; the AWS CLI then uses the sign-in, and a second `login` reuses the
/// registration.
#[tokio::test(flavor = "multi_thread")]
async fn our_login_command_signs_in_and_the_aws_cli_uses_it() {
    const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");
    let cli = Cli::start().await;
    let login = || async {
        let mut child = Command::new(BIN)
            .args(["login", "dev", "--no-browser"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", cli.home.path())
            .env("AWS_CONFIG_FILE", cli.home.path().join(".aws/config"))
            .env("HTTPS_PROXY", cli.fake.https_proxy())
            .env("AWS_CA_BUNDLE", common::pki_file("tls-ca.pem"))
            .env("NO_PROXY", "localhost,127.0.0.1")
            // A display: --no-browser must still keep the browser shut.
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let run = async {
            let mut lines = BufReader::new(stderr).lines();
            let mut printed = String::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                printed.push_str(&line);
                printed.push('\n');
                if is_user_code(line.trim()) {
                    cli.fake.world.sso.approve(line.trim(), SSO_ALICE).unwrap();
                }
            }
            (child.wait().await.unwrap(), printed)
        };
        let (status, printed) = tokio::time::timeout(CLI_TIMEOUT, run)
            .await
            .expect("login finished");
        assert!(status.success(), "login failed ({status}):\n{printed}");
        assert!(
            printed.contains("https://device.sso.us-east-1.amazonaws.com/")
                && printed.contains(SSO_START_URL),
            "{printed}"
        );
        printed
    };
    login().await;

    let token_file = format!("{}.json", sha1_hex("corp"));
    let registration_file = format!(
        "{}.json",
        registration_key(Some("corp"), Some(&["sso:account:access"]))
    );
    assert_eq!(
        cli.cache_files(),
        BTreeSet::from([token_file.clone(), registration_file])
    );
    let token = cli.read_cache(&token_file);
    assert_eq!(token["startUrl"], SSO_START_URL);
    assert!(token.contains_key("refreshToken"));
    assert_developer(&cli.caller_identity("dev").await.unwrap());

    login().await;
    assert_eq!(cli.fake.world.sso.calls("RegisterClient"), 1);
    assert_eq!(cli.fake.world.sso.calls("StartDeviceAuthorization"), 2);
    assert_developer(&cli.caller_identity("dev").await.unwrap());
}
