//! The SAML test harness against itself: real Keycloak (tests/keycloak/realm.json) signs the
//! assertions, obtained over ECP and through the IdP-initiated browser sign-in, and the strict
//! STS double's `AssumeRoleWithSAML` verifies them against the IAM SAML provider made from
//! Keycloak's metadata. Genuine responses are accepted for each user's roles (and the
//! credentials work, through real boto3); tampered, unsigned, wrapped, replayed, expired and
//! misdirected ones are refused with AWS's error codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::daemon::{assert_success, python};
use common::keycloak::{
    self, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, CAROL, CAROL_PASSWORD, SAML_ACS, SAML_CLIENT,
    SAML_DEVELOPER_ROLE_ARN, SAML_PROVIDER_ARN, SAML_READONLY_ROLE_ARN,
    SAML_RESPONSE_SIGNED_CLIENT, SAML_RESPONSE_SIGNED_IDP_INITIATED_NAME, SAML_SESSION_DURATION,
};
use common::saml;
use fake_aws::clock::{Clock as _, FixedClock, SystemClock};
use fake_aws::registry::Registry;
use fake_aws::sts::{FakeSts, Role, SamlProvider, StsConfig};

/// A role that exists but trusts another provider.
const OTHER_PROVIDER_ARN: &str = "arn:aws:iam::123456789012:saml-provider/another-idp";

/// The STS double on loopback with the realm's SAML provider (from Keycloak's metadata) and
/// its roles: `saml-developer` (12 hours at most) and `saml-readonly` (1 hour) trust it. With
/// `clock`, the double runs on that clock.
async fn sts(clock: Option<Arc<FixedClock>>) -> (FakeSts, String, fake_aws::Running) {
    let metadata = keycloak::saml_metadata().await;
    let provider = SamlProvider::from_metadata(SAML_PROVIDER_ARN, &metadata).unwrap();
    assert_eq!(provider.entity_id, keycloak::issuer());
    sts_with(provider, clock).await
}

async fn sts_with(
    provider: SamlProvider,
    clock: Option<Arc<FixedClock>>,
) -> (FakeSts, String, fake_aws::Running) {
    let mut config = StsConfig::example(Registry::new());
    if let Some(clock) = clock {
        config = config.with_clock(clock);
    }
    config.saml_providers.push(provider);
    config.roles.push(Role {
        max_duration_seconds: 43_200,
        ..Role::trusting_saml(SAML_DEVELOPER_ROLE_ARN, SAML_PROVIDER_ARN)
    });
    config.roles.push(Role::trusting_saml(
        SAML_READONLY_ROLE_ARN,
        SAML_PROVIDER_ARN,
    ));
    let fake = FakeSts::new(config);
    let running = fake
        .spawn_http(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = running.url();
    (fake, url, running)
}

/// `AssumeRoleWithSAML` over HTTP (unsigned, as clients send it): the status and body.
async fn assume(
    url: &str,
    role: &str,
    principal: &str,
    assertion: &str,
    duration: Option<u32>,
) -> (u16, String) {
    let duration = duration.map(|seconds| seconds.to_string());
    let mut form = vec![
        ("Action", "AssumeRoleWithSAML"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("PrincipalArn", principal),
        ("SAMLAssertion", assertion),
    ];
    if let Some(duration) = &duration {
        form.push(("DurationSeconds", duration));
    }
    let response = keycloak::http()
        .post(url)
        .form(&form)
        .send()
        .await
        .expect("the fake STS answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Asserts a refusal: status, the error's `Code` and a part of its `Message`.
fn assert_refused(answer: &(u16, String), status: u16, code: &str, message: &str) {
    let (got_status, body) = answer;
    assert_eq!(*got_status, status, "{body}");
    let document = roxmltree::Document::parse(body).expect("an XML error document");
    let text_of = |name: &str| {
        document
            .descendants()
            .find(|node| node.tag_name().name() == name)
            .and_then(|node| node.text())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(text_of("Code"), code, "{body}");
    assert!(
        text_of("Message").contains(message),
        "expected '{message}' in {body}"
    );
}

/// boto3: AssumeRoleWithSAML, then GetCallerIdentity with the credentials.
const BOTO3: &str = r#"
import json, os, boto3, botocore.exceptions
sts = boto3.client("sts", endpoint_url=os.environ["STS_URL"], region_name="us-east-1")
answer = sts.assume_role_with_saml(RoleArn=os.environ["ROLE"],
    PrincipalArn=os.environ["PRINCIPAL"], SAMLAssertion=os.environ["ASSERTION"])
c = answer["Credentials"]
caller = boto3.client("sts", endpoint_url=os.environ["STS_URL"], region_name="us-east-1",
    aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"]).get_caller_identity()
print(json.dumps({"assumed": answer["AssumedRoleUser"]["Arn"], "subject": answer["Subject"],
    "subject_type": answer["SubjectType"], "issuer": answer["Issuer"],
    "audience": answer["Audience"], "name_qualifier": answer["NameQualifier"],
    "expiration": c["Expiration"].isoformat(), "arn": caller["Arn"]}))
"#;

async fn assume_with_boto3(url: &str, role: &str, assertion: &str) -> serde_json::Value {
    let output = tokio::process::Command::new(python())
        .args(["-c", BOTO3])
        .env("STS_URL", url)
        .env("ROLE", role)
        .env("PRINCIPAL", SAML_PROVIDER_ARN)
        .env("ASSERTION", assertion)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .await
        .unwrap();
    assert_success(&output, "boto3");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn genuine_keycloak_assertions_are_accepted_for_each_users_roles() {
    let (fake, url, _running) = sts(None).await;
    for (user, password) in [(ALICE, ALICE_PASSWORD), (BOB, BOB_PASSWORD)] {
        for role in keycloak::saml_roles(user) {
            // One sign-in per role: an assertion is accepted once.
            let xml = saml::ecp_response(SAML_CLIENT, user, password).await;
            let answer = assume_with_boto3(&url, role, &saml::encode(&xml)).await;
            let role_name = role.rsplit('/').next().unwrap();
            let expected = format!("arn:aws:sts::123456789012:assumed-role/{role_name}/{user}");
            assert_eq!(answer["assumed"], expected, "{answer}");
            assert_eq!(answer["arn"], expected, "GetCallerIdentity: {answer}");
            assert_eq!(answer["issuer"], keycloak::issuer());
            assert_eq!(answer["audience"], SAML_CLIENT);
            assert_eq!(answer["subject_type"], "persistent");
            assert!(
                answer["subject"].as_str().unwrap().starts_with("G-"),
                "Keycloak's persistent NameID: {answer}"
            );
            assert!(!answer["name_qualifier"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(fake.calls("AssumeRoleWithSAML"), 3);
    assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_form_sign_in_with_a_one_time_code_gives_an_accepted_assertion() {
    let (_fake, url, _running) = sts(None).await;
    let (xml, action) = saml::form_response(
        &keycloak::saml_idp_initiated_url(),
        CAROL,
        CAROL_PASSWORD,
        Some(&keycloak::carol_totp()),
    )
    .await;
    assert_eq!(action, SAML_ACS, "the form posts to the AWS sign-in");
    let answer = assume(
        &url,
        SAML_DEVELOPER_ROLE_ARN,
        SAML_PROVIDER_ARN,
        &saml::encode(&xml),
        Some(SAML_SESSION_DURATION),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert!(
        answer
            .1
            .contains("<Arn>arn:aws:sts::123456789012:assumed-role/saml-developer/carol</Arn>"),
        "{}",
        answer.1
    );
    // carol is not offered the read-only role.
    let (xml, _) = saml::form_response(
        &keycloak::saml_idp_initiated_url(),
        CAROL,
        CAROL_PASSWORD,
        Some(&keycloak::carol_totp()),
    )
    .await;
    assert_refused(
        &assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&xml),
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "doesn't contain the requested Role",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_signing_combination_keycloak_makes_is_accepted() {
    let (_fake, url, _running) = sts(None).await;
    // Response and Assertion signed (the AWS client).
    let both = saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await;
    // The same with the Response's signature taken off: only the Assertion signed.
    let assertion_only =
        saml::without_response_signature(&saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await);
    // Keycloak's default: only the Response signed, through the browser sign-in.
    let idp_initiated = format!(
        "{}/clients/{SAML_RESPONSE_SIGNED_IDP_INITIATED_NAME}",
        keycloak::saml_endpoint()
    );
    let (response_only, _) = saml::form_response(&idp_initiated, BOB, BOB_PASSWORD, None).await;
    let document = roxmltree::Document::parse(&response_only).unwrap();
    let signatures = document
        .descendants()
        .filter(|node| node.tag_name().name() == "Signature")
        .count();
    assert_eq!(
        signatures, 1,
        "only the Response is signed: {response_only}"
    );
    for (what, xml, audience) in [
        ("both signed", both, SAML_CLIENT),
        ("assertion signed", assertion_only, SAML_CLIENT),
        (
            "response signed",
            response_only,
            SAML_RESPONSE_SIGNED_CLIENT,
        ),
    ] {
        let answer = assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&xml),
            None,
        )
        .await;
        assert_eq!(answer.0, 200, "{what}: {}", answer.1);
        assert!(
            answer
                .1
                .contains(&format!("<Audience>{audience}</Audience>")),
            "{what}: {}",
            answer.1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_unsigned_and_wrapped_assertions_are_refused() {
    let (fake, url, _running) = sts(None).await;
    let genuine = saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await;

    // bob's one role changed to the developer role in the XML, re-encoded.
    let tampered = genuine.replace(SAML_READONLY_ROLE_ARN, SAML_DEVELOPER_ROLE_ARN);
    assert_ne!(tampered, genuine);
    assert_refused(
        &assume(
            &url,
            SAML_DEVELOPER_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&tampered),
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "Response signature invalid",
    );

    // The same change with every signature removed.
    let unsigned = saml::without_signatures(&tampered);
    assert!(!unsigned.contains("SignatureValue"));
    assert_refused(
        &assume(
            &url,
            SAML_DEVELOPER_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&unsigned),
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "Response signature invalid",
    );

    // Signature wrapping: a forged, unsigned assertion (new ID, the developer role) placed
    // before the genuine signed one.
    let id = saml::assertion_id(&genuine);
    let unsigned = saml::without_signatures(&genuine);
    let forged = unsigned[saml::assertion_range(&unsigned)]
        .replace(&id, "_forged-assertion")
        .replace(SAML_READONLY_ROLE_ARN, SAML_DEVELOPER_ROLE_ARN);
    let assertion_only = saml::without_response_signature(&genuine);
    let start = saml::assertion_range(&assertion_only).start;
    let mut wrapped = assertion_only.clone();
    wrapped.insert_str(start, &forged);
    assert_refused(
        &assume(
            &url,
            SAML_DEVELOPER_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&wrapped),
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "exactly one saml:Assertion, not 2",
    );

    // The genuine one is still good (nothing above used it up), and then only once.
    let encoded = saml::encode(&genuine);
    let first = assume(
        &url,
        SAML_READONLY_ROLE_ARN,
        SAML_PROVIDER_ARN,
        &encoded,
        None,
    )
    .await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_refused(
        &assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &encoded,
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "has already been used",
    );
    assert_eq!(fake.issued().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_misdirected_and_unauthorised_requests_are_refused() {
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let (_fake, url, _running) = sts(Some(clock.clone())).await;

    // Expired: the double's clock moves past the assertion's five minutes.
    let xml = saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await;
    clock.set(SystemClock.now() + std::time::Duration::from_secs(400));
    assert_refused(
        &assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&xml),
            None,
        )
        .await,
        400,
        "ExpiredTokenException",
        "Token must be redeemed within 5 minutes of issuance",
    );
    clock.set(SystemClock.now());

    let xml = saml::ecp_response(SAML_CLIENT, ALICE, ALICE_PASSWORD).await;
    let encoded = saml::encode(&xml);
    // A role the assertion does not offer (it exists and trusts the provider).
    let bob = saml::encode(&saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await);
    assert_refused(
        &assume(&url, SAML_DEVELOPER_ROLE_ARN, SAML_PROVIDER_ARN, &bob, None).await,
        400,
        "InvalidIdentityToken",
        "SAML Assertion doesn't contain the requested Role and Metadata in the attributes",
    );
    // A provider the account does not have.
    assert_refused(
        &assume(
            &url,
            SAML_DEVELOPER_ROLE_ARN,
            OTHER_PROVIDER_ARN,
            &encoded,
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "Specified provider doesn't exist",
    );
    // Longer than the assertion's SessionDuration, then than the role's maximum.
    assert_refused(
        &assume(
            &url,
            SAML_DEVELOPER_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &encoded,
            Some(SAML_SESSION_DURATION + 1),
        )
        .await,
        400,
        "ValidationError",
        "exceeds the SessionDuration (7200)",
    );
    assert_refused(
        &assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &encoded,
            Some(7200),
        )
        .await,
        400,
        "ValidationError",
        "exceeds the MaxSessionDuration",
    );
    // None of that used the assertion up.
    let answer = assume(
        &url,
        SAML_DEVELOPER_ROLE_ARN,
        SAML_PROVIDER_ARN,
        &encoded,
        Some(SAML_SESSION_DURATION),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_with_another_certificate_or_a_role_trusting_another_provider_refuses() {
    // The provider's metadata carries another certificate (the test PKI's root CA).
    let metadata = keycloak::saml_metadata().await;
    let keycloak_provider = SamlProvider::from_metadata(SAML_PROVIDER_ARN, &metadata).unwrap();
    let other_pem = std::fs::read_to_string(common::pki().join("root-ca.pem")).unwrap();
    let other = pem::parse(&other_pem).unwrap().into_contents();
    let impostor = SamlProvider::new(SAML_PROVIDER_ARN, &keycloak_provider.entity_id, vec![other]);
    let (_fake, url, _running) = sts_with(impostor, None).await;
    let xml = saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await;
    assert_refused(
        &assume(
            &url,
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&xml),
            None,
        )
        .await,
        400,
        "InvalidIdentityToken",
        "Response signature invalid",
    );

    // The right provider, registered under another ARN that the roles do not trust: the
    // assertion's Role values name SAML_PROVIDER_ARN, so that pair is not offered either.
    let mut config = StsConfig::example(Registry::new());
    config.saml_providers.push(SamlProvider::new(
        SAML_PROVIDER_ARN,
        &keycloak_provider.entity_id,
        keycloak_provider.certificates.clone(),
    ));
    config.roles.push(Role::trusting_saml(
        SAML_READONLY_ROLE_ARN,
        OTHER_PROVIDER_ARN,
    ));
    let fake = FakeSts::new(config);
    let running = fake
        .spawn_http(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let xml = saml::ecp_response(SAML_CLIENT, BOB, BOB_PASSWORD).await;
    assert_refused(
        &assume(
            &running.url(),
            SAML_READONLY_ROLE_ARN,
            SAML_PROVIDER_ARN,
            &saml::encode(&xml),
            None,
        )
        .await,
        403,
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithSAML",
    );
}

/// The product's own sign-in (`needroleshere::signin::saml_session`, ECP and the form) against
/// the same Keycloak: what it hands to STS is accepted by the strict double, for every role
/// it read from the assertion. In particular the Response it cuts out of an ECP envelope
/// still verifies.
#[tokio::test(flavor = "multi_thread")]
async fn the_products_sign_in_gives_assertions_the_strict_sts_accepts() {
    use needroleshere::aws_files::profiles::SamlSettings;
    use needroleshere::secret::Secret;
    use needroleshere::signin::saml_session::SamlSignIns;

    let (fake, url, _running) = sts(None).await;
    let ecp = SamlSettings {
        auth_url: keycloak::saml_endpoint().parse().unwrap(),
        username: Some(ALICE.to_owned()),
        provider: None,
    };
    let form = SamlSettings {
        auth_url: keycloak::saml_idp_initiated_url().parse().unwrap(),
        username: Some(BOB.to_owned()),
        provider: None,
    };
    let sign_ins = SamlSignIns::new(
        keycloak::http(),
        Arc::new(needroleshere::system::clock::SystemClock),
    );
    let password = Secret::new(ALICE_PASSWORD);
    sign_ins
        .sign_in(&form, BOB, Secret::new(BOB_PASSWORD))
        .await
        .unwrap();
    // ECP signs in with the password each time; the form from the provider's session.
    for (what, profile, user, password) in [
        ("ECP", &ecp, ALICE, Some(&password)),
        ("form", &form, BOB, None),
    ] {
        let offered = sign_ins.assertion(profile, password).await.unwrap().roles;
        let mut offered: Vec<String> = offered
            .iter()
            .map(|pair| {
                assert_eq!(pair.provider_arn.as_str(), SAML_PROVIDER_ARN);
                pair.role_arn.as_str().to_owned()
            })
            .collect();
        offered.sort();
        let mut expected: Vec<String> = keycloak::saml_roles(user)
            .iter()
            .map(|role| (*role).to_owned())
            .collect();
        expected.sort();
        assert_eq!(offered, expected, "{what}");
        for role in &offered {
            // A fresh assertion per call (an assertion is accepted once).
            let assertion = sign_ins.assertion(profile, password).await.unwrap();
            let answer = assume(
                &url,
                role,
                SAML_PROVIDER_ARN,
                assertion.encoded.expose(),
                None,
            )
            .await;
            assert_eq!(answer.0, 200, "{what} {role}: {}", answer.1);
        }
    }
    assert_eq!(fake.issued().len(), 3);
}
