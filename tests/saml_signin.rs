//! Profiles that sign in to a SAML identity provider (aws-runas's `saml_*` keys), end to
//! end: the real Keycloak of `tests/common/keycloak.rs` as the provider (its SAML client for
//! AWS: IdP-initiated sign-in by form, ECP, carol's one-time codes), the sign-in
//! conversation of `needroleshere::signin::saml_session` against it, and the real binary's
//! servers with the strict STS double verifying every assertion's signature against
//! Keycloak's certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

use std::sync::Arc;

use common::daemon::{assert_success, awscli, python};
use common::keycloak;
use common::profiles::Desktop;
use common::saml::{TARGET_ROLE, assumed, ecp_url, form_url, keycloak_url, session_index, world};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use needroleshere::aws_files::profiles::SamlSettings;
use needroleshere::secret::Secret;
use needroleshere::signin::saml_session::{SamlSignInError, SamlSignIns};
use needroleshere::system::clock::SystemClock;

fn settings(url: url::Url, username: Option<&str>) -> SamlSettings {
    SamlSettings {
        auth_url: url,
        username: username.map(str::to_owned),
        provider: None,
    }
}

fn sign_ins() -> Arc<SamlSignIns> {
    SamlSignIns::new(keycloak::http(), Arc::new(SystemClock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_form_then_renew_from_the_providers_session_without_a_password() {
    let base = keycloak_url().await;
    let saml = sign_ins();
    let profile = settings(form_url(&base), Some(keycloak::ALICE));

    // Nobody signed in, no password: a person is needed, at once.
    let err = saml.assertion(&profile, None).await.unwrap_err();
    assert!(matches!(err, SamlSignInError::NeedsPerson { .. }), "{err}");

    saml.sign_in(
        &profile,
        keycloak::ALICE,
        Secret::new(keycloak::ALICE_PASSWORD),
    )
    .await
    .unwrap();
    let first = saml.assertion(&profile, None).await.unwrap();
    assert!(!first.roles.is_empty(), "{first:?}");
    assert_eq!(first.session_name.as_deref(), Some(keycloak::ALICE));

    // The provider's session (its cookies) gives the next one, without a person. Not the
    // password, which the sign-ins keep too: signing in with it again would start a new
    // Keycloak session, so the renewed assertion would name another one. (Changing alice's
    // password in Keycloak instead would fail the tests that sign her in beside this one.)
    let renewed = saml.assertion(&profile, None).await.unwrap();
    assert_ne!(
        renewed.encoded, first.encoded,
        "a fresh assertion each time"
    );
    assert_eq!(renewed.roles, first.roles);
    assert_eq!(
        session_index(renewed.encoded.expose()),
        session_index(first.encoded.expose()),
        "the renewal came from the provider's session, not from signing in again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_by_name_and_forgotten() {
    let base = keycloak_url().await;
    for url in [form_url(&base), ecp_url(&base)] {
        let saml = sign_ins();
        let profile = settings(url.clone(), None);
        let err = saml
            .sign_in(&profile, keycloak::BOB, Secret::new("not-bobs-password"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SamlSignInError::PasswordRefused { .. }),
            "{url}: {err}"
        );
        assert!(
            err.to_string().contains("refused the username or password"),
            "{err}"
        );
        // Nothing kept: the next fetch needs a person, and does not try the password again.
        let err = saml.assertion(&profile, None).await.unwrap_err();
        assert!(
            matches!(err, SamlSignInError::NeedsPerson { .. }),
            "{url}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecp_signs_in_with_the_password_each_time() {
    let base = keycloak_url().await;
    let saml = sign_ins();
    let profile = settings(ecp_url(&base), Some(keycloak::BOB));
    let password = Secret::new(keycloak::BOB_PASSWORD);
    // SAML_PASSWORD's way: no person at all.
    let first = saml.assertion(&profile, Some(&password)).await.unwrap();
    assert_eq!(first.session_name.as_deref(), Some(keycloak::BOB));
    let second = saml.assertion(&profile, Some(&password)).await.unwrap();
    assert_ne!(first.encoded, second.encoded);
    assert!(saml.view(&profile).signed_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_code_is_asked_of_a_person_and_a_wrong_one_is_not_retried() {
    let base = keycloak_url().await;
    let saml = sign_ins();
    let profile = settings(form_url(&base), Some(keycloak::CAROL));

    let err = saml
        .sign_in(
            &profile,
            keycloak::CAROL,
            Secret::new(keycloak::CAROL_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SamlSignInError::NeedsCode { .. }), "{err}");
    assert!(saml.awaits_code(&profile));
    // A fetch meanwhile says a code is needed; it does not sign in again.
    let err = saml.assertion(&profile, None).await.unwrap_err();
    assert!(matches!(err, SamlSignInError::NeedsCode { .. }), "{err}");

    let wrong = if keycloak::carol_totp() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let err = saml.give_code(&profile, wrong).await.unwrap_err();
    assert!(matches!(err, SamlSignInError::CodeRefused { .. }), "{err}");
    // The form waits for another code; the right one signs carol in.
    saml.give_code(&profile, &keycloak::carol_totp())
        .await
        .unwrap();
    let assertion = saml.assertion(&profile, None).await.unwrap();
    assert_eq!(assertion.session_name.as_deref(), Some(keycloak::CAROL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_a_form_it_understands_is_named() {
    let base = keycloak_url().await;
    let saml = sign_ins();
    // The realm's account console: a page, but no sign-in form for AWS (a script app).
    let url: url::Url = format!("{base}/realms/{}/account/", keycloak::REALM)
        .parse()
        .unwrap();
    let profile = settings(url.clone(), None);
    let err = saml
        .sign_in(
            &profile,
            keycloak::ALICE,
            Secret::new(keycloak::ALICE_PASSWORD),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(url.as_str()) || text.contains(&base),
        "{text}"
    );
    assert!(
        matches!(
            err,
            SamlSignInError::UnknownPage { .. } | SamlSignInError::Status { .. }
        ),
        "{err}"
    );

    // A provider that is down is named as unreachable.
    let down = settings("http://127.0.0.1:9/idp".parse().unwrap(), None);
    let err = saml
        .sign_in(&down, keycloak::ALICE, Secret::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, SamlSignInError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The servers and exec, with the strict STS double verifying Keycloak's assertions
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_signs_carol_in_by_form_with_her_code_and_renews_without_her() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    let server = Desktop::start(&world, "ecs", "saml-form").await;

    // Nobody signed in: a credential request answers at once; a switch answers 401 AUTH.
    let (status, body) = server.credentials("/credentials").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SignInRequired"), "{body}");
    let (status, body) = server.post("/profile", "saml-form").await;
    assert_eq!(status, 401, "{body}");
    // The page learns from GET /profile that a person must sign in (its dialog opens).
    let sign_in_required = || async {
        let (status, body) = server.request("GET", "/profile", &[], "").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["signInRequired"].clone()
    };
    assert_eq!(sign_in_required().await, true);

    let (status, body) = server
        .post("/auth", "username=carol&password=not-her-password")
        .await;
    assert_eq!(status, 401, "a wrong password: {body}");
    assert!(body.contains("refused the username or password"), "{body}");

    // The right password: Keycloak's one-time-code form follows, so the MFA dialog's turn.
    let (status, body) = server
        .post(
            "/auth",
            &format!("username=carol&password={}", keycloak::CAROL_PASSWORD),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("/mfa"), "{body}");
    let (status, body) = server.post("/mfa", "mfa=000000").await;
    let wrong = keycloak::carol_totp() != "000000";
    if wrong {
        assert_eq!(status, 403, "a wrong code: {body}");
        assert!(body.contains("refused the one-time code"), "{body}");
    }
    let (status, body) = server
        .post("/mfa", &format!("mfa={}", keycloak::carol_totp()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sign_in_required().await, false);

    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(
        arn,
        assumed(keycloak::SAML_DEVELOPER_ROLE_ARN, keycloak::CAROL)
    );
    let output = world
        .command(awscli())
        .args([
            "sts",
            "get-caller-identity",
            "--query",
            "Arn",
            "--output",
            "text",
        ])
        .envs(server.exports.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap();
    assert_success(&output, "aws sts get-caller-identity");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), arn);
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 1);

    // A renewal takes a fresh assertion from Keycloak's session: no password, no code.
    let (status, body) = server.post("/refresh", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 2);

    // Signing out forgets the provider's session: a person is needed again.
    let (status, body) = server
        .request(
            "DELETE",
            "/signin?profile=saml-form",
            &[("X-Requested-By", "needroleshere")],
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post("/refresh", "").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ecp_profile_without_a_role_offers_alices_roles_and_serve_ec2_serves_the_choice() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    let server = Desktop::start(&world, "ec2", "saml-ecp").await;

    let (status, body) = server
        .post("/auth", &format!("password={}", keycloak::ALICE_PASSWORD))
        .await;
    // Two roles offered and none named: the answer lists them.
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(keycloak::SAML_DEVELOPER_ROLE_ARN)
            && body.contains(keycloak::SAML_READONLY_ROLE_ARN)
            && body.contains("choose"),
        "{body}"
    );
    let (status, body) = server
        .request("GET", "/manage/profiles/saml-ecp/roles", &[], "")
        .await;
    assert_eq!(status, 200, "{body}");
    let roles: serde_json::Value = serde_json::from_str(&body).unwrap();
    let arns: Vec<&str> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["roleArn"].as_str().unwrap())
        .collect();
    assert_eq!(arns.len(), 2, "{body}");
    assert!(arns.contains(&keycloak::SAML_READONLY_ROLE_ARN), "{body}");

    // A role the assertion does not offer is refused by name.
    let (status, body) = server
        .post(
            "/manage/profiles/saml-ecp/role",
            &format!("roleArn={TARGET_ROLE}"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(TARGET_ROLE), "{body}");

    let (status, body) = server
        .post(
            "/manage/profiles/saml-ecp/role",
            &format!("roleArn={}", keycloak::SAML_READONLY_ROLE_ARN),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut imds = server.exports.clone();
    imds.push(("AWS_EC2_METADATA_DISABLED".into(), "false".into()));
    let arn = world.boto3_caller(&imds).await;
    assert_eq!(
        arn,
        assumed(keycloak::SAML_READONLY_ROLE_ARN, keycloak::ALICE)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_with_saml_password_chains_through_the_jump_role_unattended() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    let output = world
        .command(BIN)
        .args(["exec", "saml-jump", "--"])
        .arg(python())
        .args([
            "-c",
            "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])",
        ])
        .env("SAML_PASSWORD", keycloak::BOB_PASSWORD)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_success(&output, "exec saml-jump");
    let arn = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/saml-target/"
        )),
        "{arn}"
    );
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 1);
    // The password is in no output.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(keycloak::BOB_PASSWORD), "{stderr}");

    // Without a terminal or SAML_PASSWORD, exec says how to sign in.
    let output = world
        .command(BIN)
        .args(["exec", "saml-jump", "--", "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SAML_PASSWORD"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_on_a_terminal_asks_carols_password_and_code() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    // A pseudo-terminal from script(1), so exec asks there; the answers are typed ahead.
    let command = format!(
        "{BIN} exec saml-form -- {} -c \"import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])\"",
        python().display()
    );
    let mut child = world
        .command("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let typed = format!(
        "carol\n{}\n{}\n",
        keycloak::CAROL_PASSWORD,
        keycloak::carol_totp()
    );
    // One line at a time, after its question is asked. (Whether the password is echoed
    // cannot be seen here: it is typed as soon as the question shows, before the prompt
    // turns echo off, which a person is never fast enough to do.)
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    for (question, answer) in ["Username", "Password", "One-time code"]
        .iter()
        .zip(typed.lines())
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !seen.contains(question) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {question} question: {seen}"
            );
            let mut buffer = [0u8; 512];
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                tokio::io::AsyncReadExt::read(&mut stdout, &mut buffer),
            )
            .await
            .unwrap()
            .unwrap();
            assert!(n > 0, "exec ended before asking {question}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{answer}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut rest)
        .await
        .unwrap();
    let status = child.wait().await.unwrap();
    seen.push_str(&rest);
    assert!(status.success(), "{seen}");
    assert!(
        seen.contains(&assumed(keycloak::SAML_DEVELOPER_ROLE_ARN, keycloak::CAROL)),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_named() {
    let base = keycloak_url().await;
    // The double's clock runs ten minutes ahead: every assertion Keycloak issues (valid five
    // minutes) has expired by the time STS reads it.
    let ahead = Arc::new(fake_aws::clock::FixedClock::new(
        fake_aws::clock::Clock::now(&fake_aws::clock::SystemClock) + time::Duration::minutes(10),
    ));
    let late = world(&base, Some(ahead)).await;
    let server = Desktop::start(&late, "ecs", "saml-jump").await;
    let (status, body) = server
        .post("/auth", &format!("password={}", keycloak::BOB_PASSWORD))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("ExpiredToken") || body.contains("expired"),
        "{body}"
    );
    drop(server);

    let world = world(&base, None).await;
    let server = Desktop::start(&world, "ecs", "saml-not-offered").await;
    // bob is offered the read-only role only.
    let (status, body) = server
        .post("/auth", &format!("password={}", keycloak::BOB_PASSWORD))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("does not offer role") && body.contains(keycloak::SAML_DEVELOPER_ROLE_ARN),
        "{body}"
    );

    // A page with no form this understands: named by its URL.
    let (status, body) = server
        .post(
            "/auth",
            &format!(
                "profile=saml-no-form&username=alice&password={}",
                keycloak::ALICE_PASSWORD
            ),
        )
        .await;
    assert!(status >= 400, "{body}");
    assert!(body.contains("/account/"), "{body}");

    // The provider down: unavailable, not a wrong password.
    let (status, body) = server
        .post("/auth", "profile=saml-down&username=alice&password=x")
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("127.0.0.1:9"), "{body}");
}
