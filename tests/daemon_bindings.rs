//! `needroleshere bind` and `unbind`, and the files they leave for `serve` and systemd:
//! compatibility both ways with the existing needroleshere's binding files, secret rotation
//! and revocation, refused names and flags (nothing written), file modes and owners kept
//! across rebinds, stale temporary files, and no secret in any output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::daemon::{
    self, Fake, Serve, assert_credentials, assert_error, assert_failure, assert_success, bind,
    bind_ok, files_under, get_with_bearer, get_with_query, identity_args, mode_args, token_of,
    unbind,
};
use common::pki_file;
use fake_aws::rolesanywhere::{FORBIDDEN_ROLE_ARN, PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN};

/// The binding file of the existing needroleshere (sorah/needroleshere `RoleBinding`), as
/// its releases deserialize it: newer ones read `mode`, older ones `env_mode`; unknown
/// fields are ignored, every listed field is required (Options may be null).
mod existing_tool {
    #[derive(Debug, serde::Deserialize)]
    pub(crate) struct RoleBinding {
        pub name: String,
        pub secret_hash: String,
        pub certificate_files: Vec<String>,
        pub private_key_file: String,
        pub request: CreateSessionRequest,
        pub mode: EnvironmentMode,
    }

    #[derive(Debug, serde::Deserialize)]
    pub(crate) struct OlderRoleBinding {
        pub name: String,
        pub secret_hash: String,
        pub certificate_files: Vec<String>,
        pub private_key_file: String,
        pub request: CreateSessionRequest,
        pub env_mode: EnvironmentMode,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct CreateSessionRequest {
        pub duration_seconds: Option<i64>,
        pub profile_arn: String,
        pub role_arn: String,
        pub session_name: Option<String>,
        pub trust_anchor_arn: String,
    }

    #[derive(Debug, PartialEq, Eq, serde::Deserialize)]
    #[serde(tag = "kind")]
    pub(crate) enum EnvironmentMode {
        EcsFull(EnvironmentOpts),
        EcsRelative(EnvironmentOpts),
        EcsFullQuery(EnvironmentOpts),
        EcsRelativeQuery(EnvironmentOpts),
        Empty(EnvironmentOpts),
    }

    #[derive(Debug, PartialEq, Eq, serde::Deserialize)]
    pub(crate) struct EnvironmentOpts {}
}

#[tokio::test(flavor = "multi_thread")]
async fn bindings_written_by_the_existing_tool_are_served() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The existing tool's files name no endpoint: serve's --endpoint is used.
    let serve = Serve::start(dir.path(), &["--endpoint".into(), fake.url()]).await;
    std::fs::create_dir_all(dir.path().join("bindings")).unwrap();

    // (name, mode field, mode kind, duration, session name, token in query)
    let cases = [
        (
            "legacy-new",
            "mode",
            "EcsFull",
            Some(900),
            Some("legacy-session"),
            false,
        ),
        ("legacy-old", "env_mode", "EcsFull", None, None, false),
        (
            "legacy-query",
            "mode",
            "EcsRelativeQuery",
            Some(3600),
            None,
            true,
        ),
    ];
    for (index, (name, field, kind, duration, session_name, query)) in cases.into_iter().enumerate()
    {
        // A known secret: 64 bytes.
        let raw: Vec<u8> = (0..64u8)
            .map(|b| b.wrapping_mul(7).wrapping_add(index as u8))
            .collect();
        let token = format!("needroleshere.{name}.{}", URL_SAFE_NO_PAD.encode(&raw));
        // Exactly the fields the existing tool writes, pretty-printed as it does.
        let json = serde_json::json!({
            "name": name,
            "secret_hash": daemon::secret_hash(&raw),
            "certificate_files": [pki_file("p256.fullchain.pem")],
            "private_key_file": pki_file("p256.sec1.key"),
            "request": {
                "durationSeconds": duration,
                "profileArn": PROFILE_ARN,
                "roleArn": ROLE_ARN,
                "sessionName": session_name,
                "trustAnchorArn": TRUST_ANCHOR_ARN,
            },
            field: {"kind": kind},
        });
        let mut text = serde_json::to_string_pretty(&json).unwrap();
        text.push('\n');
        std::fs::write(daemon::binding_file(dir.path(), name), text).unwrap();

        let response = if query {
            get_with_query(serve.target(), &token).await
        } else {
            get_with_bearer(serve.target(), &token).await
        };
        let key = daemon::access_key_id(&response);
        let session = fake.session(&key);
        assert_credentials(&response, &session, name);
        assert_eq!(session.duration_seconds, duration.unwrap_or(3600), "{name}");
        if let Some(session_name) = session_name {
            assert_eq!(session.role_session_name, session_name, "{name}");
        }
        // The mode of the file is enforced.
        let wrong_way = if query {
            get_with_bearer(serve.target(), &token).await
        } else {
            get_with_query(serve.target(), &token).await
        };
        assert_error(&wrong_way, 401, &format!("{name}, token the wrong way"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn our_binding_files_read_as_the_existing_tools_struct() {
    let dir = tempfile::tempdir().unwrap();
    let modes = [
        (
            "ecs-full",
            existing_tool::EnvironmentMode::EcsFull(existing_tool::EnvironmentOpts {}),
        ),
        (
            "ecs-full-query",
            existing_tool::EnvironmentMode::EcsFullQuery(existing_tool::EnvironmentOpts {}),
        ),
        (
            "ecs-relative",
            existing_tool::EnvironmentMode::EcsRelative(existing_tool::EnvironmentOpts {}),
        ),
        (
            "ecs-relative-query",
            existing_tool::EnvironmentMode::EcsRelativeQuery(existing_tool::EnvironmentOpts {}),
        ),
    ];
    for (mode, expected) in modes {
        let name = format!("compat-{mode}");
        let mut args = identity_args("p384");
        args.extend(mode_args(mode, "http://127.0.0.1:7224"));
        args.extend([
            "--no-validate".into(),
            "--session-name".into(),
            "compat".into(),
            "--session-duration".into(),
            "1800".into(),
            // A field of ours, which the existing tool's struct ignores.
            "--allow-uid".into(),
            "0".into(),
        ]);
        bind_ok(dir.path(), &name, &args).await;
        let bytes = std::fs::read(daemon::binding_file(dir.path(), &name)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["allowed_uids"], serde_json::json!([0]), "{name}");

        let newer: existing_tool::RoleBinding = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{name}: not readable by the existing tool: {e}"));
        let older: existing_tool::OlderRoleBinding = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{name}: not readable by older releases: {e}"));
        assert_eq!(newer.name, name);
        assert_eq!(newer.mode, expected, "{name}");
        assert_eq!(older.env_mode, expected, "{name}");
        assert_eq!(older.name, name);
        assert_eq!(older.secret_hash, newer.secret_hash);
        assert_eq!(
            newer.certificate_files,
            [pki_file("p384.fullchain.pem").display().to_string()]
        );
        assert_eq!(
            newer.private_key_file,
            pki_file("p384.pkcs8.key").display().to_string()
        );
        assert_eq!(older.certificate_files, newer.certificate_files);
        assert_eq!(older.private_key_file, newer.private_key_file);
        let request = &newer.request;
        assert_eq!(request.duration_seconds, Some(1800));
        assert_eq!(request.session_name.as_deref(), Some("compat"));
        assert_eq!(request.profile_arn, PROFILE_ARN);
        assert_eq!(request.role_arn, ROLE_ARN);
        assert_eq!(request.trust_anchor_arn, TRUST_ANCHOR_ARN);
        assert_eq!(older.request.role_arn, ROLE_ARN);

        // secret_hash is base64url(SHA-384(raw secret)), the secret only in the token.
        let token = token_of(dir.path(), &name);
        let raw = daemon::check_token(&token, &name);
        assert_eq!(newer.secret_hash, daemon::secret_hash(&raw));
        let secret = token.rsplit('.').next().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            !text.contains(secret),
            "{name}: the binding file holds the secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rebind_rotates_the_secret_and_unbind_revokes_it() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).await;
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url()]);

    bind_ok(dir.path(), "rotating", &args).await;
    let old = token_of(dir.path(), "rotating");
    assert_eq!(get_with_bearer(serve.target(), &old).await.status, 200);

    bind_ok(dir.path(), "rotating", &args).await;
    let new = token_of(dir.path(), "rotating");
    assert_ne!(old, new, "rebind must make a new secret");
    assert_error(
        &get_with_bearer(serve.target(), &old).await,
        401,
        "old token after rebind",
    );
    let response = get_with_bearer(serve.target(), &new).await;
    let key = daemon::access_key_id(&response);
    assert_credentials(&response, &fake.session(&key), "new token after rebind");

    // A rebind that changes the request is served with the new request at once: the daemon
    // keeps per-binding work (endpoint, cache key) only as long as the binding file is the same.
    let mut renamed = args.clone();
    renamed.extend(["--role-session-name".into(), "after-rebind".into()]);
    bind_ok(dir.path(), "rotating", &renamed).await;
    let new = token_of(dir.path(), "rotating");
    let response = get_with_bearer(serve.target(), &new).await;
    let session = fake.session(&daemon::access_key_id(&response));
    assert_credentials(
        &response,
        &session,
        "token after a rebind with a new request",
    );
    assert_eq!(
        session.role_session_name, "after-rebind",
        "a rebind's new role session name must reach CreateSession"
    );

    let output = unbind(dir.path(), "rotating").await;
    assert_success(&output, "unbind");
    assert_error(
        &get_with_bearer(serve.target(), &new).await,
        401,
        "token after unbind",
    );
    assert_eq!(
        files_under(dir.path()),
        Vec::<String>::new(),
        "unbind left files"
    );
    let output = unbind(dir.path(), "rotating").await;
    assert_success(&output, "second unbind");
    let output = unbind(dir.path(), "never-bound").await;
    assert_success(&output, "unbind of a binding that never existed");

    // A binding whose file is corrupt still unbinds, completely.
    args.push("--token-file".into());
    bind_ok(dir.path(), "broken", &args).await;
    std::fs::write(daemon::binding_file(dir.path(), "broken"), b"\x00not json").unwrap();
    let output = unbind(dir.path(), "broken").await;
    assert_success(&output, "unbind of a corrupt binding");
    assert_eq!(
        files_under(dir.path()),
        Vec::<String>::new(),
        "unbind left files"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_refuses_invalid_names_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.push("--no-validate".into());

    let too_long = "x".repeat(65);
    for name in [
        "a.b", "../x", "a/b", "", &too_long, "a b", "..", ".", "é", "a+b",
    ] {
        let output = bind(dir.path(), name, &args).await;
        let expected: Vec<&str> = if name.is_empty() {
            vec!["name"]
        } else {
            vec![name, "name"]
        };
        assert_failure(&output, &expected, &format!("bind {name:?}"));
        assert_eq!(
            files_under(dir.path()),
            Vec::<String>::new(),
            "bind {name:?} wrote files"
        );
        let output = unbind(dir.path(), name).await;
        assert_failure(&output, &["name"], &format!("unbind {name:?}"));
    }

    // The whole alphabet, and 64 characters, are fine.
    let longest = "y".repeat(64);
    for name in ["Az09@_-", longest.as_str()] {
        bind_ok(dir.path(), name, &args).await;
        assert!(daemon::binding_file(dir.path(), name).exists());
    }
}

/// Failed, saying where the configuration directory comes from.
fn assert_names_the_directory_options(output: &std::process::Output, what: &str) {
    assert_failure(output, &[], what);
    let text = daemon::stderr(output);
    assert!(
        text.contains("RUNTIME_DIRECTORY") || text.contains("--configuration-directory"),
        "{what}: the error should name RUNTIME_DIRECTORY or --configuration-directory:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_explains_missing_url_and_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = identity_args("p256");
    base.push("--no-validate".into());

    for mode in ["ecs-full", "ecs-full-query"] {
        let mut args = base.clone();
        args.extend(["--mode".into(), mode.into()]);
        let output = bind(dir.path(), "nourl", &args).await;
        assert_failure(&output, &["--url"], &format!("{mode} without --url"));
    }
    // The default mode is ecs-full.
    let output = bind(dir.path(), "nourl", &base).await;
    assert_failure(&output, &["--url"], "default mode without --url");
    assert_eq!(files_under(dir.path()), Vec::<String>::new());

    // No --configuration-directory and no RUNTIME_DIRECTORY.
    let mut args = vec!["bind".to_owned(), "nodir".into()];
    args.extend(base.clone());
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    let output = daemon::run(&args, &[]).await;
    assert_names_the_directory_options(&output, "bind without a directory");
    let output = daemon::run(&["unbind".into(), "nodir".into()], &[]).await;
    assert_names_the_directory_options(&output, "unbind without a directory");

    // With RUNTIME_DIRECTORY (as under systemd), that is the directory.
    let output = daemon::run(
        &args,
        &[("RUNTIME_DIRECTORY", dir.path().to_str().unwrap())],
    )
    .await;
    assert_success(&output, "bind with RUNTIME_DIRECTORY");
    assert!(daemon::env_file(dir.path(), "nodir").exists());
    let output = daemon::run(
        &["unbind".into(), "nodir".into()],
        &[("RUNTIME_DIRECTORY", dir.path().to_str().unwrap())],
    )
    .await;
    assert_success(&output, "unbind with RUNTIME_DIRECTORY");
    assert!(!daemon::env_file(dir.path(), "nodir").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_validation_writes_nothing_and_success_costs_one_session() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = daemon::identity_args_from(
        &pki_file("p256.fullchain.pem"),
        &pki_file("p256.pkcs8.key"),
        FORBIDDEN_ROLE_ARN,
    );
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.extend(["--endpoint".into(), fake.url()]);
    let output = bind(dir.path(), "refused", &args).await;
    assert_failure(
        &output,
        &["AccessDenied"],
        "bind to a role outside the profile",
    );
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
    assert_eq!(fake.fake.request_count(), 1);

    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.extend(["--endpoint".into(), fake.url()]);
    let output = bind(dir.path(), "checked", &args).await;
    assert_success(&output, "bind with validation");
    assert_eq!(fake.fake.request_count(), 2);
    assert_eq!(fake.fake.sessions().len(), 1);
    // Neither bind's output nor its errors show the token or the issued credentials.
    let token = token_of(dir.path(), "checked");
    let session = &fake.fake.sessions()[0];
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        daemon::stderr(&output)
    );
    for secret in [
        token.rsplit('.').next().unwrap(),
        &session.secret_access_key,
        &session.session_token,
    ] {
        assert!(!all.contains(secret), "bind printed a secret:\n{all}");
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread")]
async fn files_have_safe_modes_and_rebinds_keep_owner_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.extend(["--no-validate".into(), "--token-file".into()]);

    // Stale leftovers of interrupted writes, ours and the existing tool's.
    for sub in ["bindings", "env", "token"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for stale in [
        "env/.perm.tmp.12345",
        "token/.perm.tmp.12345",
        "bindings/.perm.json.tmp.12345",
        "bindings/.wip.perm",
    ] {
        std::fs::write(dir.path().join(stale), b"half-written").unwrap();
    }
    bind_ok(dir.path(), "perm", &args).await;

    let binding = daemon::binding_file(dir.path(), "perm");
    let env = daemon::env_file(dir.path(), "perm");
    let token = daemon::token_file(dir.path(), "perm");
    assert_eq!(mode_of(&binding), 0o644, "binding file: readable by serve");
    assert_eq!(
        mode_of(&env),
        0o644,
        "new env file: only the URI, no secret"
    );
    assert_eq!(mode_of(&token), 0o600, "new token file");
    for sub in ["bindings", "env", "token"] {
        assert_eq!(mode_of(&dir.path().join(sub)), 0o755, "{sub}/");
    }
    let token_text = std::fs::read(&token).unwrap();
    assert!(
        !token_text.ends_with(b"\n"),
        "the token file ends with a newline"
    );
    assert!(token_text.starts_with(b"Bearer needroleshere.perm."));
    let first = token_of(dir.path(), "perm");

    // Hand the files to a consumer: owner nobody, modes 0640.
    const NOBODY: u32 = 65534;
    for path in [&env, &token] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    bind_ok(dir.path(), "perm", &args).await;
    let second = token_of(dir.path(), "perm");
    assert_ne!(first, second, "rebind rotates the token");
    for path in [&env, &token] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (NOBODY, NOBODY, 0o640),
            "{} after rebind",
            path.display()
        );
    }
    assert_eq!(
        std::fs::read_to_string(&token).unwrap(),
        format!("Bearer {second}"),
        "the token file holds the new token"
    );

    // Only the binding's own files (and the stale leftovers, if kept) exist.
    let unexpected: Vec<String> = files_under(dir.path())
        .into_iter()
        .filter(|f| !["bindings/perm.json", "env/perm", "token/perm"].contains(&f.as_str()))
        .filter(|f| !f.contains(".perm.") && !f.ends_with(".wip.perm"))
        .collect();
    assert_eq!(
        unexpected,
        Vec::<String>::new(),
        "temporary files left behind"
    );
}
