//! SAML sign-in to a second, different identity provider: Debian's SimpleSAMLphp (see
//! `tests/common/simplesamlphp.rs` and `scripts/simplesamlphp.sh`), with the product's own
//! client (`needroleshere::signin::saml_session`) and, end to end, the real binary's
//! `serve ecs`, the strict STS double registered with SimpleSAMLphp's own metadata verifying
//! every assertion's signatures, and boto3 as the SDK.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::sync::Arc;

use common::keycloak;
use common::profiles::{Desktop, World};
use common::simplesamlphp as ssp;
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::{Role, SamlProvider};
use needroleshere::aws_files::profiles::SamlSettings;
use needroleshere::secret::Secret;
use needroleshere::signin::saml_session::{SamlSignInError, SamlSignIns};
use needroleshere::system::clock::SystemClock;

/// SimpleSAMLphp's base URL, once it is up (starting it blocks, so not on a runtime worker).
async fn base() -> String {
    tokio::task::spawn_blocking(|| ssp::base_url().to_owned())
        .await
        .unwrap()
}

fn settings(base: &str, username: Option<&str>) -> SamlSettings {
    SamlSettings {
        auth_url: ssp::sign_in_url(base),
        username: username.map(str::to_owned),
        provider: None,
    }
}

fn sign_ins() -> Arc<SamlSignIns> {
    SamlSignIns::new(keycloak::http(), Arc::new(SystemClock))
}

fn role_arns(assertion: &needroleshere::signin::saml::Assertion) -> Vec<String> {
    assertion
        .roles
        .iter()
        .map(|pair| pair.role_arn.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dave_signs_in_by_form_and_renews_from_the_providers_session() {
    let base = base().await;
    let saml = sign_ins();
    let profile = settings(&base, Some(ssp::DAVE));

    let err = saml.assertion(&profile, None).await.unwrap_err();
    assert!(matches!(err, SamlSignInError::NeedsPerson { .. }), "{err}");

    saml.sign_in(&profile, ssp::DAVE, Secret::new(ssp::DAVE_PASSWORD))
        .await
        .unwrap();
    let first = saml.assertion(&profile, None).await.unwrap();
    assert_eq!(
        role_arns(&first),
        [ssp::ADMIN_ROLE_ARN, ssp::READONLY_ROLE_ARN],
        "{first:?}"
    );
    assert!(
        first
            .roles
            .iter()
            .all(|pair| pair.provider_arn.to_string() == ssp::PROVIDER_ARN),
        "{first:?}"
    );
    assert_eq!(first.session_name.as_deref(), Some(ssp::DAVE));
    assert_eq!(first.session_duration, Some(3600));
    assert!(first.subject.is_some(), "a transient NameID: {first:?}");

    // SimpleSAMLphp's session (its cookies) gives the next one, without a person.
    let renewed = saml.assertion(&profile, None).await.unwrap();
    assert_ne!(
        renewed.encoded, first.encoded,
        "a fresh assertion each time"
    );
    assert_eq!(renewed.roles, first.roles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_erin_is_signed_in_unattended_though_it_speaks_no_ecp() {
    let base = base().await;
    let saml = sign_ins();
    let profile = settings(&base, Some(ssp::ERIN));
    let password = Secret::new(ssp::ERIN_PASSWORD);
    // SAML_PASSWORD's way: ECP is tried, the login page answers, the form is filled.
    let assertion = saml.assertion(&profile, Some(&password)).await.unwrap();
    assert_eq!(role_arns(&assertion), [ssp::READONLY_ROLE_ARN]);
    assert_eq!(assertion.session_name.as_deref(), Some(ssp::ERIN));
    assert_eq!(assertion.session_duration, Some(1800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_by_name_and_forgotten() {
    let base = base().await;
    let saml = sign_ins();
    let profile = settings(&base, None);
    let err = saml
        .sign_in(&profile, ssp::ERIN, Secret::new("not-erins-password"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SamlSignInError::PasswordRefused { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("refused the username or password"),
        "{err}"
    );
    let err = saml.assertion(&profile, None).await.unwrap_err();
    assert!(matches!(err, SamlSignInError::NeedsPerson { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// serve ecs, with the strict STS double trusting SimpleSAMLphp's metadata
// ---------------------------------------------------------------------------------------------

/// The STS double with SimpleSAMLphp's metadata as the IAM SAML provider and its two roles,
/// and a home with profile `ssp` (role chosen at sign-in) and `ssp-readonly`.
async fn world(base: &str) -> World {
    world_with_metadata(base, &ssp::metadata(base).await).await
}

async fn world_with_metadata(base: &str, metadata: &str) -> World {
    let provider = SamlProvider::from_metadata(ssp::PROVIDER_ARN, metadata).unwrap();
    let world = World::with_sts(|config| {
        config.saml_providers.push(provider);
        config.roles.extend([
            Role::trusting_saml(ssp::ADMIN_ROLE_ARN, ssp::PROVIDER_ARN),
            Role::trusting_saml(ssp::READONLY_ROLE_ARN, ssp::PROVIDER_ARN),
        ]);
    })
    .await;
    let config = world.home.path().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile ssp]\nsaml_auth_url = {url}\n\n\
         [profile ssp-readonly]\nsaml_auth_url = {url}\nrole_arn = {readonly}\n",
        url = ssp::sign_in_url(base),
        readonly = ssp::READONLY_ROLE_ARN,
    ));
    std::fs::write(&config, text).unwrap();
    world
}

fn assumed(role: &str, session: &str) -> String {
    let name = role.rsplit('/').next().unwrap();
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/{session}")
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_signs_erin_in_and_sts_accepts_simplesamlphps_assertion() {
    let base = base().await;
    let world = world(&base).await;
    let server = Desktop::start(&world, "ecs", "ssp-readonly").await;

    let (status, body) = server.credentials("/credentials").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SignInRequired"), "{body}");

    let (status, body) = server
        .post("/auth", "username=erin&password=not-erins-password")
        .await;
    assert_eq!(status, 401, "a wrong password: {body}");
    assert!(body.contains("refused the username or password"), "{body}");
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 0);

    let (status, body) = server
        .post(
            "/auth",
            &format!("username=erin&password={}", ssp::ERIN_PASSWORD),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(arn, assumed(ssp::READONLY_ROLE_ARN, ssp::ERIN));
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 1);

    // A renewal takes a fresh assertion from SimpleSAMLphp's session: no password.
    let (status, body) = server.post("/refresh", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.sts.calls("AssumeRoleWithSAML"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn daves_two_roles_are_listed_and_the_chosen_one_is_served() {
    let base = base().await;
    let world = world(&base).await;
    let server = Desktop::start(&world, "ecs", "ssp").await;

    let (status, body) = server
        .post(
            "/auth",
            &format!("username=dave&password={}", ssp::DAVE_PASSWORD),
        )
        .await;
    // Two roles offered and none named: the answer lists them.
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(ssp::ADMIN_ROLE_ARN) && body.contains(ssp::READONLY_ROLE_ARN),
        "{body}"
    );
    let (status, body) = server
        .request("GET", "/manage/profiles/ssp/roles", &[], "")
        .await;
    assert_eq!(status, 200, "{body}");
    let roles: serde_json::Value = serde_json::from_str(&body).unwrap();
    let arns: Vec<&str> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["roleArn"].as_str().unwrap())
        .collect();
    // In ARN order, once each.
    assert_eq!(
        arns,
        [ssp::ADMIN_ROLE_ARN, ssp::READONLY_ROLE_ARN],
        "{body}"
    );

    let (status, body) = server
        .post(
            "/manage/profiles/ssp/role",
            &format!("roleArn={}", ssp::ADMIN_ROLE_ARN),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(arn, assumed(ssp::ADMIN_ROLE_ARN, ssp::DAVE));
}

#[tokio::test(flavor = "multi_thread")]
async fn sts_refuses_the_assertion_when_the_provider_was_registered_with_another_certificate() {
    let base = base().await;
    // SimpleSAMLphp's metadata with every certificate swapped for the test PKI's CA: the
    // assertion's signatures no longer verify.
    let metadata = ssp::metadata(&base).await;
    let pem = std::fs::read_to_string(common::pki_file("intermediate-ca.pem")).unwrap();
    let other: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let mut swapped = String::new();
    let mut rest = metadata.as_str();
    while let Some(start) = rest.find("<ds:X509Certificate>") {
        let start = start + "<ds:X509Certificate>".len();
        let end = start + rest[start..].find("</ds:X509Certificate>").unwrap();
        swapped.push_str(&rest[..start]);
        swapped.push_str(&other);
        rest = &rest[end..];
    }
    swapped.push_str(rest);
    assert_ne!(swapped, metadata, "the metadata names a certificate");

    let world = world_with_metadata(&base, &swapped).await;
    let server = Desktop::start(&world, "ecs", "ssp-readonly").await;
    let (status, body) = server
        .post(
            "/auth",
            &format!("username=erin&password={}", ssp::ERIN_PASSWORD),
        )
        .await;
    assert!(status >= 400, "{status}: {body}");
    assert!(
        body.contains("InvalidIdentityToken") && body.contains("signature invalid"),
        "{body}"
    );
    let (status, body) = server.credentials("/credentials").await;
    assert!(status >= 400, "no credentials: {status} {body}");
}
