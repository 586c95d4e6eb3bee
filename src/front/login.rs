//! Signing a profile in from a terminal: `needroleshere login [PROFILE]`, and `exec` when
//! the profile needs a sign-in. What happens depends on the profile's kind:
//!
//! * IAM Identity Center (`sso_session`, or the older `sso_start_url`): as `aws sso login`
//!   does it — the client registration from the AWS CLI's cache (or a new one), a device
//!   code whose verification address and code are printed on stderr (and the address
//!   opened in a browser when there is a display and the caller allows it), CreateToken
//!   polled until the person approves, and the token written to the CLI's cache
//!   (`~/.aws/sso/cache/`), where the CLI and every profile of the session find it.
//! * An OpenID Connect provider (`web_identity_auth_url`): the browser with a loopback
//!   redirect when there is a display, else a device code ([`super::exec`]), then the
//!   profile's credentials, to prove the sign-in serves it. The sign-in lives in this
//!   process's memory only (as every OpenID Connect sign-in here), so it ends with `login`:
//!   a check, not a sign-in other processes can use.
//! * A SAML provider (`saml_auth_url`): the username, password and one-time code asked on
//!   the terminal ([`super::exec`]), then the same check; the sign-in lives in memory too.

use anyhow::Context as _;

use crate::aws_files::profiles::Base;
use crate::front::profiles::Profiles;
use crate::source::sso::{SsoSignIn, SsoStep};

/// Signs `profile` in on this terminal; `browser` allows opening a browser (when there is
/// a display).
pub(crate) async fn sign_in(
    profiles: &Profiles,
    profile: &str,
    browser: bool,
) -> anyhow::Result<()> {
    let plan = profiles.plan(profile)?;
    match &plan.base {
        Base::Sso(sso) => {
            let step = SsoStep {
                profile,
                sso,
                endpoint_url: plan.endpoint_url.as_deref(),
            };
            sso_sign_in(profiles, &step, browser).await
        }
        Base::SignIn { provider, .. } => {
            in_memory(profiles, profile, browser, provider.issuer.as_str()).await
        }
        Base::Saml { provider, .. } => {
            in_memory(profiles, profile, browser, provider.auth_url.as_str()).await
        }
        _ => anyhow::bail!(
            "profile {profile} does not sign in anywhere (it has no sso_session, sso_start_url, web_identity_auth_url or saml_auth_url)"
        ),
    }
}

/// A sign-in kept in this process's memory (OpenID Connect, SAML), as `exec` makes it, then
/// the profile's credentials to prove it serves the profile before it ends with `login`.
async fn in_memory(
    profiles: &Profiles,
    profile: &str,
    browser: bool,
    provider: &str,
) -> anyhow::Result<()> {
    super::exec::sign_in_here(profiles, profile, browser).await?;
    let credentials = profiles.credentials(profile).await?;
    eprintln!(
        "needroleshere: profile {profile} works (access key {}). A sign-in to {provider} is kept in memory only, by the process that made it: `needroleshere exec` and `serve ecs|ec2` sign in for themselves.",
        credentials.access_key_id
    );
    Ok(())
}

async fn sso_sign_in(profiles: &Profiles, step: &SsoStep<'_>, browser: bool) -> anyhow::Result<()> {
    let clock = profiles.clock();
    let sign_in = SsoSignIn::start(profiles.http(), profiles.environment(), clock, step).await?;
    let prompt = sign_in.prompt();
    let profile = step.profile;
    eprintln!(
        "needroleshere: profile {profile} signs in to IAM Identity Center ({}).\n\
         Open this address on any device:\n\n  {}\n\nand enter the code:\n\n  {}\n",
        step.sso.start_url, prompt.verification_uri, prompt.user_code
    );
    if let Some(complete) = &prompt.verification_uri_complete {
        eprintln!("(or open {complete}, which has the code in it)\n");
    }
    if browser && profiles.environment().has_display {
        let address = prompt
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&prompt.verification_uri);
        super::exec::open_browser(address);
    }
    sign_in
        .finish(clock)
        .await
        .with_context(|| format!("profile {profile}: the sign-in did not finish"))?;
    eprintln!(
        "needroleshere: signed in to {}; the AWS CLI's cache holds the sign-in",
        step.sso.start_url
    );
    Ok(())
}
