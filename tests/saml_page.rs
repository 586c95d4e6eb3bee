//! The page of `serve ecs` for SAML profiles in Debian's Chromium (`tests/browser/saml.cjs`,
//! playwright-core), with the real Keycloak as the identity provider and the strict STS
//! double verifying every assertion: carol's sign-in by Keycloak's forms with her one-time
//! code (wrong password and wrong code refused in the dialogs), alice's over ECP with the
//! choice between her two roles; then boto3 through the server names the role the page
//! shows. The browser reaches nothing but the server (its proxy is a trap).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::browser::{CHROMIUM, Trap, browser_tools, screenshots, totp_codes};
use common::keycloak;
use common::profiles::{Desktop, World};
use common::saml::{assumed, keycloak_url, world};

/// The whole browser run of one server, launch included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/browser/saml.cjs MODE` against `server`; panics with its output on failure.
async fn run_saml_script(world: &World, server: &Desktop, mode: &str, expect: serde_json::Value) {
    let modules = browser_tools();
    let trap = Trap::start().await;
    let screenshots = screenshots();
    let started = Instant::now();
    let mut command = world.command("node");
    command
        .arg(root().join("tests/browser/saml.cjs"))
        .arg(mode)
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", CHROMIUM)
        .env("PAGE_URL", server.url())
        .env("PROXY_TRAP", trap.addr.to_string())
        .env("SCREENSHOT_DIR", &screenshots)
        .env("TZ", "UTC")
        .env("EXPECT", expect.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "tests/browser/saml.cjs {mode} did not finish in {SCRIPT_TIMEOUT:?} \
                 (screenshots of a failure, if any, in {})",
                screenshots.display()
            )
        })
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains(&format!("all checks passed ({mode})")),
        "the page failed in Chromium ({mode}, {:.1} s):\n{stderr}\n--- what passed before ---\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    let (own, leaked) = trap.own_and_leaked();
    assert!(
        leaked.is_empty(),
        "the browser tried to reach beyond this machine (the trap dropped it): {leaked:?}"
    );
    if !own.is_empty() {
        println!(
            "Chromium's own background calls, dropped by the trap: {}",
            own.join("; ")
        );
    }
}

/// carol, by form (`saml-form`: Keycloak's IdP-initiated URL, `role_arn` set, no
/// `saml_username`): the dialog with the password form only, a wrong password refused in
/// it, the right one opening the MFA dialog, a wrong code refused there, the right one
/// closing it; the page and boto3 then name her role.
#[tokio::test(flavor = "multi_thread")]
async fn carol_signs_in_by_form_with_her_code_in_chromium() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    let server = Desktop::start(&world, "ecs", "saml-form").await;
    let (codes, wrong_code) = totp_codes(|step| {
        fake_aws::totp::hotp(
            keycloak::CAROL_TOTP_SECRET.as_bytes(),
            u64::try_from(step).unwrap(),
            6,
        )
    });
    let expect = serde_json::json!({
        "profile": "saml-form",
        "user": keycloak::CAROL,
        "password": keycloak::CAROL_PASSWORD,
        "wrongPassword": "not-carols-password",
        "codes": serde_json::from_str::<serde_json::Value>(&codes).unwrap(),
        "wrongCode": wrong_code,
        "roleArn": keycloak::SAML_DEVELOPER_ROLE_ARN,
        "account": keycloak::SAML_ACCOUNT,
    });
    run_saml_script(&world, &server, "form", expect).await;

    assert_eq!(
        world.boto3_caller(&server.exports).await,
        assumed(keycloak::SAML_DEVELOPER_ROLE_ARN, keycloak::CAROL)
    );
    assert!(world.sts.calls("AssumeRoleWithSAML") >= 1);
}

/// alice, over ECP (`saml-ecp`: the realm's SAML endpoint, `saml_username = alice`, no role):
/// after her password the "Account and role" card lists both roles her assertion offers;
/// the read-only one chosen there is what the page and boto3 name.
#[tokio::test(flavor = "multi_thread")]
async fn alice_signs_in_over_ecp_and_chooses_her_role_in_chromium() {
    let base = keycloak_url().await;
    let world = world(&base, None).await;
    let server = Desktop::start(&world, "ecs", "saml-ecp").await;
    let expect = serde_json::json!({
        "profile": "saml-ecp",
        "user": keycloak::ALICE,
        "password": keycloak::ALICE_PASSWORD,
        "roleArns": [keycloak::SAML_DEVELOPER_ROLE_ARN, keycloak::SAML_READONLY_ROLE_ARN],
        "chosen": keycloak::SAML_READONLY_ROLE_ARN,
        "account": keycloak::SAML_ACCOUNT,
    });
    run_saml_script(&world, &server, "ecp", expect).await;

    assert_eq!(
        world.boto3_caller(&server.exports).await,
        assumed(keycloak::SAML_READONLY_ROLE_ARN, keycloak::ALICE)
    );
}
