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

use std::sync::Arc;

use common::keycloak;
use needroleshere::aws_files::profiles::SamlSettings;
use needroleshere::secret::Secret;
use needroleshere::signin::saml_session::{SamlSignInError, SamlSignIns};
use needroleshere::system::clock::SystemClock;

/// Keycloak's base URL, once it is up (starting it blocks, so not on this runtime's worker).
async fn keycloak_url() -> String {
    tokio::task::spawn_blocking(|| keycloak::base_url().to_owned())
        .await
        .unwrap()
}

/// The IdP-initiated sign-in URL for AWS: a sign-in by form.
fn form_url(base: &str) -> url::Url {
    format!(
        "{base}/realms/{}/protocol/saml/clients/amazon-aws",
        keycloak::REALM
    )
    .parse()
    .unwrap()
}

/// The realm's SAML endpoint, which speaks ECP.
fn ecp_url(base: &str) -> url::Url {
    format!("{base}/realms/{}/protocol/saml", keycloak::REALM)
        .parse()
        .unwrap()
}

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

    // The provider's session (its cookies) gives the next one, without a person.
    let renewed = saml.assertion(&profile, None).await.unwrap();
    assert_ne!(
        renewed.encoded, first.encoded,
        "a fresh assertion each time"
    );
    assert_eq!(renewed.roles, first.roles);
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
