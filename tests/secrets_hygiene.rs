//! Secrets hygiene, end to end:
//!
//! * a full run — `bind` of every mode, `serve --debug` under `RUST_LOG=trace`, credentials
//!   fetched many times over ECS (header, query, token file) and IMDS, wrong tokens, a
//!   rebind, `credential-process --debug` with an encrypted key, `update --once --debug` —
//!   whose every log line is searched for every secret in play: secret access keys, session
//!   tokens, binding tokens and their secrets (old and new), IMDS session tokens, the key
//!   password; none may appear, not even in part;
//! * `Debug` of every public type that holds a secret hides it;
//! * files holding secrets (env, token, credentials file) are created 0600 whatever the
//!   umask, and their directories are not opened up either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::daemon::{
    Fake, assert_success, bind, command, env_file, get_as_sdk, get_with_bearer, get_with_query,
    identity_args, identity_args_from, read_env, stderr, token_file, token_of,
};
use common::hostile::{Daemon, OTHER, QUERY, WEB};
use common::imds::{TOKEN_HEADER, credentials_path, put_token, request};
use common::{PKCS8_PASSWORD, pki_file};
use needroleshere::binding::{AccessToken, Binding, BindingName, Mode};
use needroleshere::credentials::Credentials;
use needroleshere::identity::IdentityFiles;
use needroleshere::secret::Secret;
use needroleshere::system::env::Environment;

/// Every secret seen, and whether any of it (whole, or its first or last 16 characters)
/// appears in `log`.
fn assert_no_secret(log: &str, secrets: &[(String, String)], what: &str) {
    for (kind, secret) in secrets {
        assert!(secret.len() >= 16, "{kind} is too short to search for");
        let head = &secret[..16];
        let tail = &secret[secret.len() - 16..];
        for (part, text) in [("whole", secret.as_str()), ("head", head), ("tail", tail)] {
            if let Some(at) = log.find(text) {
                let start = log[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = log[at..].find('\n').map_or(log.len(), |i| at + i);
                panic!(
                    "{what}: a {kind} ({part}) is in the log:\n{}",
                    &log[start..end]
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_run_logs_no_secret() {
    let trace = [("RUST_LOG", "trace")];
    let mut daemon = Daemon::start_with_env(&["--debug"], &trace).await;
    let mut secrets: Vec<(String, String)> = Vec::new();
    let mut logs: Vec<(String, String)> = Vec::new();
    let note_token = |secrets: &mut Vec<(String, String)>, name: &str, token: &str| {
        secrets.push((format!("token of {name}"), token.to_owned()));
        let secret = token.rsplit('.').next().unwrap().to_owned();
        secrets.push((format!("binding secret of {name}"), secret));
    };
    for name in [WEB, OTHER, QUERY] {
        note_token(&mut secrets, name, &daemon.token(name));
    }

    // More bindings, made with --debug under RUST_LOG=trace and validated (a CreateSession
    // call at bind time): a token-file binding and a rebind of `web`.
    let url = format!("http://{}", daemon.ecs);
    for (name, extra) in [("filed", vec!["--token-file"]), (WEB, vec![])] {
        let mut args = identity_args("p256");
        args.extend(["--url", &url, "--endpoint", &daemon.fake.url(), "--debug"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut all = vec![
            "bind".to_owned(),
            name.to_owned(),
            "--configuration-directory".to_owned(),
            daemon.dir.path().display().to_string(),
        ];
        all.extend(args);
        let output = command(&all, &trace).output().await.unwrap();
        assert_success(&output, &format!("bind {name}"));
        logs.push((format!("bind {name}"), stderr(&output)));
        note_token(&mut secrets, name, &token_of(daemon.dir.path(), name));
    }

    // Fetch, many times, every way.
    let target = daemon.target();
    for _ in 0..10 {
        for name in [WEB, OTHER, "filed"] {
            let mut env = read_env(&env_file(daemon.dir.path(), name));
            if name == "filed" {
                // The env file holds only the URI; the consumer names the token file.
                env.insert(
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_owned(),
                    token_file(daemon.dir.path(), name).display().to_string(),
                );
            }
            assert_eq!(get_as_sdk(&target, &env).await.status, 200, "{name}");
        }
        let response = get_with_query(&target, &daemon.token(QUERY)).await;
        assert_eq!(response.status, 200);
        let session = put_token(daemon.imds, "300").await;
        assert_eq!(session.status, 200);
        secrets.push(("IMDS session token".into(), session.body.clone()));
        for path in [
            credentials_path(),
            credentials_path().replace("credentials/", "credentials-extended/"),
        ] {
            let response =
                request(daemon.imds, "GET", &path, &[(TOKEN_HEADER, &session.body)]).await;
            assert_eq!(response.status, 200, "{response:?}");
        }
    }
    // Refused attempts carry secrets too: a wrong secret, a right token the wrong way, the
    // token of the old `web` binding.
    let wrong = format!("needroleshere.web.{}", "Zm9vYmFy".repeat(11));
    note_token(&mut secrets, "a caller (wrong)", &wrong);
    assert_eq!(get_with_bearer(&target, &wrong).await.status, 401);
    assert_eq!(
        get_with_bearer(&target, &daemon.token(QUERY)).await.status,
        401
    );
    assert_eq!(
        get_with_query(&target, &daemon.token(WEB)).await.status,
        401
    );
    let old_web = secrets[0].1.clone();
    assert_eq!(get_with_bearer(&target, &old_web).await.status, 401);
    daemon.assert_alive("after the full run").await;

    // credential-process --debug with an encrypted key, the password from the environment
    // and, once, from the flag.
    for from_flag in [false, true] {
        let mut args = vec!["credential-process".to_owned(), "--debug".to_owned()];
        args.extend(identity_args_from(
            &pki_file("p384.fullchain.pem"),
            &pki_file("p384.pkcs8-encrypted.key"),
            fake_aws::ROLE_ARN,
        ));
        args.extend(["--endpoint".to_owned(), daemon.fake.url()]);
        let mut env = trace.to_vec();
        if from_flag {
            args.extend(["--pkcs8-password".to_owned(), PKCS8_PASSWORD.to_owned()]);
        } else {
            env.push(("NEEDROLESHERE_PKCS8_PASSWORD", PKCS8_PASSWORD));
        }
        let output = command(&args, &env).output().await.unwrap();
        assert_success(&output, "credential-process");
        logs.push(("credential-process".into(), stderr(&output)));
    }
    secrets.push(("key password".into(), PKCS8_PASSWORD.to_owned()));

    // update --once --debug.
    let home = tempfile::tempdir().unwrap();
    let credentials = home.path().join("credentials");
    let mut args = vec![
        "update".to_owned(),
        "--once".to_owned(),
        "--debug".to_owned(),
        "--profile".to_owned(),
        "ci".to_owned(),
    ];
    args.extend(identity_args("rsa2048"));
    args.extend(["--endpoint".to_owned(), daemon.fake.url()]);
    let credentials_env = credentials.display().to_string();
    let mut env = trace.to_vec();
    env.push(("AWS_SHARED_CREDENTIALS_FILE", &credentials_env));
    let output = command(&args, &env).output().await.unwrap();
    assert_success(&output, "update");
    logs.push(("update".into(), stderr(&output)));

    // Every secret access key and session token the fake issued.
    for session in daemon
        .fake
        .fake
        .sessions()
        .into_iter()
        .chain(daemon.other_fake.fake.sessions())
    {
        secrets.push((
            "secret access key".into(),
            session.secret_access_key.clone(),
        ));
        secrets.push(("session token".into(), session.session_token.clone()));
    }
    assert!(
        secrets.len() >= 30,
        "the run should have made many secrets ({})",
        secrets.len()
    );
    let serve_log = daemon.log();
    assert!(
        serve_log.contains("TRACE") && serve_log.contains("DEBUG"),
        "serve should have logged at trace level:\n{serve_log:.2000}"
    );
    logs.push(("serve".into(), serve_log));
    for (what, log) in &logs {
        assert_no_secret(log, &secrets, what);
    }
    // The credentials file holds its secrets, of course, and is the user's alone.
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn debug_of_secret_bearing_types_hides_the_secrets() {
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENxyz";
    const PASSWORD: &str = "hunter2-correct-horse";
    let shown = |value: &dyn std::fmt::Debug| format!("{value:?} {value:#?}");
    let assert_hidden = |text: String, secrets: &[&str], what: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{what} shows a secret: {text}");
        }
    };

    assert_hidden(shown(&Secret::new(SECRET_KEY)), &[SECRET_KEY], "Secret");
    let credentials = Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: Secret::new(SECRET_KEY),
        session_token: Some(Secret::new(SESSION_TOKEN)),
        expiration: None,
        role_arn: None,
    };
    assert_hidden(
        shown(&credentials),
        &[SECRET_KEY, SESSION_TOKEN],
        "Credentials",
    );

    let files = IdentityFiles {
        certificates: vec!["/c.pem".into()],
        intermediates: vec![],
        private_key: "/k.pem".into(),
        pkcs8_password: Some(Secret::new(PASSWORD)),
        device: Default::default(),
    };
    assert_hidden(shown(&files), &[PASSWORD], "IdentityFiles");

    let (binding, token) = Binding::create(
        "web".parse::<BindingName>().unwrap(),
        Mode::EcsFull,
        files.clone(),
        common::samples::session_request(),
        None,
        None,
    )
    .unwrap();
    let text = token.to_secret_string();
    let secret = text.expose().rsplit('.').next().unwrap();
    assert_hidden(shown(&token), &[text.expose(), secret], "AccessToken");
    assert_hidden(
        shown(&binding),
        &[text.expose(), secret, PASSWORD],
        "Binding",
    );
    assert_hidden(
        shown(&token.authorization()),
        &[secret],
        "the Authorization value",
    );
    let parsed = AccessToken::parse(text.expose()).unwrap();
    assert_hidden(shown(&parsed), &[secret], "a parsed AccessToken");

    let env = Environment::from_pairs([
        ("NEEDROLESHERE_PKCS8_PASSWORD", PASSWORD),
        ("HTTPS_PROXY", "http://user:proxypass123@proxy.example:3128"),
        ("HTTP_PROXY", "http://user:proxypass123@proxy.example:3128"),
    ]);
    assert_hidden(shown(&env), &[PASSWORD, "proxypass123"], "Environment");

    let session = fake_aws::IssuedSession {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: SECRET_KEY.into(),
        session_token: SESSION_TOKEN.into(),
        role_arn: String::new(),
        role_session_name: String::new(),
        leaf_serial: String::new(),
        leaf_der: vec![],
        chain_der: vec![],
        expiration: time::OffsetDateTime::UNIX_EPOCH,
        duration_seconds: 900,
    };
    assert_hidden(
        shown(&session),
        &[SECRET_KEY, SESSION_TOKEN],
        "IssuedSession",
    );

    // The command line, with the password given as a flag.
    use clap::Parser as _;
    let cli = needroleshere::cli::Cli::try_parse_from([
        "needroleshere",
        "credential-process",
        "--certificate",
        "/c.pem",
        "--private-key",
        "/k.pem",
        "--pkcs8-password",
        PASSWORD,
        "--trust-anchor-arn",
        fake_aws::TRUST_ANCHOR_ARN,
        "--profile-arn",
        fake_aws::PROFILE_ARN,
        "--role-arn",
        fake_aws::ROLE_ARN,
    ])
    .unwrap();
    assert_hidden(shown(&cli), &[PASSWORD], "Cli");
    if let needroleshere::cli::Command::CredentialProcess(args) = &cli.command {
        let source = args
            .identity
            .resolve(&args.endpoint, &args.device, &env)
            .unwrap();
        assert_hidden(shown(&source.files), &[PASSWORD], "RoleSource.files");
    }

    let tokens = needroleshere::front::imds::Tokens::generate().unwrap();
    let text = format!("{tokens:?}");
    assert!(
        !text.contains("key: ["),
        "IMDS token key bytes shown: {text}"
    );
}

/// Proxy credentials are secrets too (DESIGN: never a secret in a log line): the transport
/// settings built from the environment, and the command's resolved source holding them,
/// redact them as `Environment` does. (Regression: `TransportSettings` showed them.)
#[test]
fn debug_of_transport_settings_hides_proxy_credentials() {
    let env = Environment::from_pairs([
        ("HTTPS_PROXY", "http://user:proxypass123@proxy.example:3128"),
        ("HTTP_PROXY", "http://user:proxypass123@proxy.example:3128"),
    ]);
    let settings = needroleshere::system::transport::TransportSettings::from_environment(&env);
    let text = format!("{settings:?}");
    assert!(!text.contains("proxypass123"), "{text}");
    let source = needroleshere::cli::RoleSource {
        files: IdentityFiles {
            certificates: vec!["/c.pem".into()],
            intermediates: vec![],
            private_key: "/k.pem".into(),
            pkcs8_password: None,
            device: Default::default(),
        },
        session: common::samples::session_request(),
        region: "us-east-1".parse().unwrap(),
        endpoint: "https://rolesanywhere.us-east-1.amazonaws.com"
            .parse()
            .unwrap(),
        transport: settings,
    };
    let text = format!("{source:?}");
    assert!(!text.contains("proxypass123"), "{text}");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_files_are_created_private_whatever_the_umask() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // `sh -c 'umask 000; exec needroleshere …'`: the most permissive umask there is.
    let run_with_umask = |args: Vec<String>, env: Vec<(String, String)>| {
        let mut all = vec![
            "-c".to_owned(),
            "umask 000; exec \"$@\"".to_owned(),
            "sh".to_owned(),
            common::daemon::BIN.to_owned(),
        ];
        all.extend(args);
        let mut command = tokio::process::Command::new("sh");
        command.args(&all);
        for name in common::daemon::SCRUBBED {
            command.env_remove(name);
        }
        command.envs(env).stdin(std::process::Stdio::null());
        command
    };
    let configuration = dir.path().display().to_string();
    for (name, extra) in [("env-only", vec![]), ("with-token", vec!["--token-file"])] {
        let mut args = vec![
            "bind".to_owned(),
            name.to_owned(),
            "--configuration-directory".to_owned(),
            configuration.clone(),
            "--url".to_owned(),
            "http://127.0.0.1:7224".to_owned(),
            "--endpoint".to_owned(),
            fake.url(),
        ];
        args.extend(identity_args("p256"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let output = run_with_umask(args, vec![]).output().await.unwrap();
        assert_success(&output, &format!("bind {name}"));
        // With a token file the env file holds only the URI: no secret, 0644.
        let env_mode = if extra.is_empty() { 0o600 } else { 0o644 };
        assert_eq!(mode_of(&env_file(dir.path(), name)), env_mode, "env/{name}");
        assert_eq!(
            mode_of(&dir.path().join("bindings").join(format!("{name}.json"))),
            0o644,
            "bindings/{name}.json holds no secret and must be readable by serve"
        );
    }
    assert_eq!(
        mode_of(&token_file(dir.path(), "with-token")),
        0o600,
        "token file"
    );
    for sub in ["bindings", "env", "token"] {
        let mode = mode_of(&dir.path().join(sub));
        assert_eq!(mode & 0o022, 0, "{sub}/ is writable by others: {mode:o}");
    }
    // No temporary file is left behind, readable or not.
    let stray: Vec<String> = common::daemon::files_under(dir.path())
        .into_iter()
        .filter(|f| f.contains(".tmp."))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // update: a new credentials file and its new directory.
    let credentials = home.path().join("aws").join("credentials");
    let mut args = vec!["update".to_owned(), "--once".to_owned()];
    args.extend(identity_args("p256"));
    args.extend(["--endpoint".to_owned(), fake.url()]);
    let output = run_with_umask(
        args,
        vec![(
            "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
            credentials.display().to_string(),
        )],
    )
    .output()
    .await
    .unwrap();
    assert_success(&output, "update");
    assert_eq!(mode_of(&credentials), 0o600, "credentials file");
    assert_eq!(
        mode_of(credentials.parent().unwrap()),
        0o700,
        "its new directory"
    );

    // Rebinding keeps an existing token file's mode (the permission model hands it over
    // with chown/chmod); it never widens a new one.
    let token = token_file(dir.path(), "with-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut args = vec![
        "with-token".to_owned(),
        "--url".to_owned(),
        "http://127.0.0.1:7224".to_owned(),
        "--endpoint".to_owned(),
        fake.url(),
        "--token-file".to_owned(),
    ];
    args.extend(identity_args("p256"));
    let output = bind(dir.path(), &args[0], &args[1..]).await;
    assert_success(&output, "rebind");
    assert_eq!(mode_of(&token), 0o640);
    // The env file holds no secret with a token file (and keeps its mode on rebind).
    assert_eq!(mode_of(&env_file(dir.path(), "with-token")), 0o644);
}
