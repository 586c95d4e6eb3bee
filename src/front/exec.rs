//! `needroleshere exec [PROFILE] -- COMMAND…`: runs a command with a profile's credentials.
//!
//! * Plain: the credentials and region go into the command's environment
//!   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//!   `AWS_DEFAULT_REGION`), `AWS_PROFILE` is removed and its value passed as
//!   `AWSRUNAS_PROFILE`, and this process *becomes* the command (`execvp`), so its signals and
//!   exit status are the command's own.
//! * `--ecs` / `--imds`: the command gets a private endpoint on 127.0.0.1 instead (with a
//!   token for ECS), so a long run sees refreshed credentials. This process stays to serve
//!   it: SIGTERM, SIGHUP and SIGUSR1/2 are forwarded to the command; SIGINT and SIGQUIT,
//!   which a terminal sends to the command itself, are not sent twice. The exit status is the
//!   command's, or 128 + the signal that ended it.
//! * An MFA code, when needed and not generated from a TOTP secret, is asked for on the
//!   terminal (`/dev/tty`), or taken from `--mfa-code`.
//! * A profile that signs in to an identity provider (`web_identity_auth_url`) and has no
//!   sign-in signs in here: in the browser (a loopback redirect to this process) when there
//!   is a display, else with a device code printed on stderr for any browser, anywhere.
//!   An IAM Identity Center profile signs in with a device code as `needroleshere login`
//!   does ([`super::login`]) when stderr is a terminal, so someone sees the code; without
//!   one, the error says how to sign in.

use std::ffi::OsString;
use std::io::{BufRead as _, Write as _};
use std::sync::Arc;

use anyhow::Context as _;

use crate::aws::mfa::MfaCode;
use crate::front::desktop::random_token;
use crate::front::profiles::Profiles;
use crate::source::Kind;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport::{self, TransportSettings};

const CREDENTIAL_VARIABLES: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];
const ENDPOINT_VARIABLES: [&str; 5] = [
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
];

/// How the command gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// In its environment; this process becomes the command.
    Environment,
    /// From a private ECS endpoint, refreshed during long runs.
    Ecs,
    /// From a private IMDS endpoint, refreshed during long runs.
    Imds,
}

/// What `exec` runs, with which profile, and how.
#[derive(Debug, Clone)]
pub(crate) struct ExecOptions {
    /// The program to run and its arguments.
    pub program: OsString,
    pub arguments: Vec<OsString>,
    pub delivery: Delivery,
    /// The profile whose credentials the command gets (see
    /// [`Environment::chosen_profile`]).
    pub profile: String,
    /// An MFA code given up front; without one, the terminal is asked when a code is needed.
    pub mfa_code: Option<MfaCode>,
    /// How STS and other AWS endpoints are reached and trusted.
    pub transport: TransportSettings,
}

/// Runs `exec`; the result is the exit status to end with.
pub(crate) async fn run(
    options: ExecOptions,
    env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<u8> {
    let profile = options.profile.clone();
    let http = transport::Clients::build(&options.transport)?;
    let cache = Arc::new(crate::cache::Cache::new(
        clock,
        crate::cache::Policy::default(),
    ));
    let profiles = Arc::new(Profiles::new(env.clone(), http, cache));
    let plan = profiles.plan(&profile)?;
    let serial = plan.mfa.as_ref().map(|m| m.serial.as_str()).unwrap_or("");
    let credentials =
        credentials_asking(&profiles, &profile, serial, options.mfa_code.clone()).await?;
    let region = profiles.region(&plan);

    let program = &options.program;
    let mut command = std::process::Command::new(program);
    command.args(&options.arguments);
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE");
    command.env("AWSRUNAS_PROFILE", &profile);
    if let Some(region) = &region {
        command.env("AWS_REGION", region.as_str());
        command.env("AWS_DEFAULT_REGION", region.as_str());
    }
    if options.delivery == Delivery::Environment {
        for variable in ENDPOINT_VARIABLES {
            command.env_remove(variable);
        }
        command.env("AWS_ACCESS_KEY_ID", &credentials.access_key_id);
        command.env(
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.expose(),
        );
        match &credentials.session_token {
            Some(token) => {
                command.env("AWS_SESSION_TOKEN", token.expose());
                command.env_remove("AWS_SECURITY_TOKEN");
            }
            None => {
                command
                    .env_remove("AWS_SESSION_TOKEN")
                    .env_remove("AWS_SECURITY_TOKEN");
            }
        }
        use std::os::unix::process::CommandExt as _;
        // Only returns on failure: the process is now the command.
        let error = command.exec();
        anyhow::bail!("cannot run {}: {error}", program.to_string_lossy());
    }
    serve_and_wait(&options, command, profiles, profile).await
}

/// Gets credentials, asking for an MFA code on the terminal as often as three times.
async fn credentials_asking(
    profiles: &Profiles,
    profile: &str,
    serial: &str,
    given: Option<MfaCode>,
) -> anyhow::Result<Arc<crate::credentials::Credentials>> {
    let had_code = given.is_some();
    let mut code = given;
    for _ in 0..3 {
        let result = match code.take() {
            Some(code) => profiles.credentials_with_code(profile, code).await,
            None => profiles.credentials(profile).await,
        };
        match result {
            Ok(credentials) => return Ok(credentials),
            Err(error)
                if matches!(error.kind(), Kind::NeedsMfa | Kind::MfaRejected) && !had_code =>
            {
                if error.kind() == Kind::MfaRejected {
                    eprintln!("needroleshere: {error}");
                }
                code = Some(prompt(profile, serial)?);
            }
            // An IAM Identity Center sign-in shows a code someone must see: only with a
            // terminal on stderr; otherwise its error says how to sign in.
            Err(error)
                if error.kind() == Kind::NeedsSignIn
                    && (std::io::IsTerminal::is_terminal(&std::io::stderr())
                        || !matches!(
                            profiles.plan(profile).map(|plan| plan.base),
                            Ok(crate::aws_files::profiles::Base::Sso(_))
                        )) =>
            {
                super::login::sign_in(profiles, profile, true).await?;
            }
            Err(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("profile {profile}: no valid MFA code after three tries")
}

/// Signs in to `profile`'s identity provider from this terminal (in a browser only when
/// `browser` allows it); see the module docs.
pub(super) async fn sign_in_here(
    profiles: &Profiles,
    profile: &str,
    browser: bool,
) -> anyhow::Result<()> {
    use crate::aws_files::profiles::Base;
    use crate::signin::loopback::Redirect;

    let plan = profiles.plan(profile)?;
    if let Base::Saml { provider, .. } = &plan.base {
        return sign_in_saml_here(profiles, profile, provider).await;
    }
    let Base::SignIn { provider, .. } = &plan.base else {
        anyhow::bail!("profile {profile} needs a sign-in, but does not name an identity provider");
    };
    let sign_ins = profiles.sign_ins().clone();
    let metadata = sign_ins.metadata(&provider.issuer).await?;
    let browser =
        browser && profiles.environment().has_display && metadata.authorization_endpoint.is_some();
    if !browser && metadata.offers_device_flow() {
        let (prompt, poll) = sign_ins.begin_device(provider).await?;
        eprintln!(
            "needroleshere: profile {profile} signs in to {}: open {} and enter the code {}",
            provider.issuer, prompt.verification_uri, prompt.user_code
        );
        if let Some(complete) = &prompt.verification_uri_complete {
            eprintln!("needroleshere: (or open {complete})");
        }
        poll.run(&sign_ins)
            .await
            .with_context(|| format!("profile {profile}: the device sign-in did not finish"))?;
    } else {
        let redirect = Redirect::bind(provider.redirect_uri.as_ref())
            .await
            .context("cannot listen on loopback for the sign-in's redirect")?;
        let url = sign_ins
            .start_browser(provider, redirect.uri.clone())
            .await?;
        eprintln!(
            "needroleshere: profile {profile} signs in to {}: open this address in a browser:\n  {url}",
            provider.issuer
        );
        if browser {
            open_browser(url.as_str());
        }
        redirect
            .finish(sign_ins, None, std::time::Duration::from_secs(600))
            .await
            .with_context(|| format!("profile {profile}: the browser sign-in did not finish"))?;
    }
    eprintln!("needroleshere: signed in");
    Ok(())
}

/// Signs in to a SAML provider from this terminal: the username (unless the profile
/// names it) and password are asked on the terminal, the password without echo, then the
/// one-time code if the provider wants one. Three tries each, each typed anew.
async fn sign_in_saml_here(
    profiles: &Profiles,
    profile: &str,
    provider: &crate::aws_files::profiles::SamlSettings,
) -> anyhow::Result<()> {
    use crate::signin::saml_session::SamlSignInError;
    let saml = profiles.saml().clone();
    let url = provider.auth_url.as_str();
    let no_terminal = || {
        format!(
            "profile {profile} signs in to {url} and there is no terminal to ask for the password: set SAML_PASSWORD, or use serve ecs|ec2 and its page"
        )
    };
    let username = match &provider.username {
        Some(username) => username.clone(),
        None => {
            ask(&format!("Username for {url} (profile {profile}): ")).with_context(no_terminal)?
        }
    };
    let mut tries = 0;
    let mut result = loop {
        tries += 1;
        let password = rpassword::prompt_password(format!("Password of {username} at {url}: "))
            .with_context(no_terminal)?;
        match saml
            .sign_in(provider, &username, crate::secret::Secret::new(password))
            .await
        {
            Err(error @ SamlSignInError::PasswordRefused { .. }) if tries < 3 => {
                eprintln!("needroleshere: {error}");
            }
            other => break other,
        }
    };
    let mut tries = 0;
    while let Err(SamlSignInError::NeedsCode { .. } | SamlSignInError::CodeRefused { .. }) = &result
    {
        if let Err(error @ SamlSignInError::CodeRefused { .. }) = &result {
            eprintln!("needroleshere: {error}");
        }
        tries += 1;
        if tries > 3 {
            break;
        }
        let code = ask(&format!("One-time code for {url} (profile {profile}): "))
            .with_context(no_terminal)?;
        result = saml.give_code(provider, code.trim()).await;
    }
    result.with_context(|| format!("profile {profile}: the sign-in to {url} did not finish"))?;
    eprintln!("needroleshere: signed in");
    Ok(())
}

/// Asks one line of the controlling terminal.
fn ask(question: &str) -> anyhow::Result<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let mut writer = &tty;
    write!(writer, "{question}")?;
    writer.flush()?;
    let mut line = String::new();
    std::io::BufReader::new(&tty).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// Asks the desktop to open `url` (xdg-open); failing that, the person has it on stderr.
pub(super) fn open_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("needroleshere: could not start xdg-open; open the address yourself");
    }
}

/// Asks for an MFA code on the controlling terminal.
fn prompt(profile: &str, serial: &str) -> anyhow::Result<MfaCode> {
    let line = ask(&format!("MFA code for {serial} (profile {profile}): ")).with_context(|| {
        format!("profile {profile} needs an MFA code for {serial} and there is no terminal to ask: give --mfa-code, or set mfa_totp_secret in the profile")
    })?;
    Ok(MfaCode::parse(&line)?)
}

/// Runs `command` beside a private endpoint until it ends.
async fn serve_and_wait(
    options: &ExecOptions,
    mut command: std::process::Command,
    profiles: Arc<Profiles>,
    profile: String,
) -> anyhow::Result<u8> {
    use crate::front::{desktop, imds};
    use crate::http::{self, Front};
    use crate::system::activation::{self, ListenAddr};
    use tokio::signal::unix::{SignalKind, signal};

    let listener = activation::bind(&ListenAddr::Tcp("127.0.0.1:0".parse()?)).await?;
    let addr = match &listener.listener {
        activation::Listener::Tcp(l) => l.local_addr()?,
        activation::Listener::Unix(_) => anyhow::bail!("a private endpoint must be TCP"),
    };
    let token = random_token()?;
    let desktop = Arc::new(desktop::Desktop::new(
        profiles,
        profile,
        token.clone(),
        addr,
    ));
    for variable in CREDENTIAL_VARIABLES.into_iter().chain(ENDPOINT_VARIABLES) {
        command.env_remove(variable);
    }
    let router = if options.delivery == Delivery::Ecs {
        command.env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://{addr}/credentials"),
        );
        command.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.expose());
        desktop::ecs_credentials(desktop)
    } else {
        command.env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{addr}"),
        );
        imds::desktop_router(desktop, addr, false)
            .map_err(|_| anyhow::anyhow!("no randomness for IMDS tokens"))?
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let front = Front {
        listener,
        router,
        ip_ttl: None,
        // The endpoint is for the command, which runs as this user; IMDS has no bearer
        // token, so without this any local user could take the credentials meanwhile.
        callers: http::Callers::User(nix::unistd::geteuid().as_raw()),
        hot: None,
    };
    let serving = tokio::spawn(http::serve(vec![front], http::Limits::default(), stopped));

    // The terminal sends SIGINT and SIGQUIT to the command as well; only these are ignored.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut forwarded = [
        (SignalKind::terminate(), nix::sys::signal::Signal::SIGTERM),
        (SignalKind::hangup(), nix::sys::signal::Signal::SIGHUP),
        (
            SignalKind::user_defined1(),
            nix::sys::signal::Signal::SIGUSR1,
        ),
        (
            SignalKind::user_defined2(),
            nix::sys::signal::Signal::SIGUSR2,
        ),
    ]
    .map(|(kind, number)| (signal(kind), number));
    let mut child = tokio::process::Command::from(command)
        .spawn()
        .with_context(|| format!("cannot run {}", options.program.to_string_lossy()))?;
    let pid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let status = loop {
        let [(Ok(term), _), (Ok(hup), _), (Ok(usr1), _), (Ok(usr2), _)] = &mut forwarded else {
            anyhow::bail!("cannot install signal handlers");
        };
        let sent = tokio::select! {
            status = child.wait() => break status?,
            _ = interrupt.recv() => None,
            _ = quit.recv() => None,
            _ = term.recv() => Some(nix::sys::signal::Signal::SIGTERM),
            _ = hup.recv() => Some(nix::sys::signal::Signal::SIGHUP),
            _ = usr1.recv() => Some(nix::sys::signal::Signal::SIGUSR1),
            _ = usr2.recv() => Some(nix::sys::signal::Signal::SIGUSR2),
        };
        if let (Some(signal), Some(pid)) = (sent, pid) {
            let _ = nix::sys::signal::kill(pid, signal);
        }
    };
    let _ = stop.send(true);
    let _ = serving.await;
    use std::os::unix::process::ExitStatusExt as _;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    })
}

/// After binding a privileged port as root through sudo, becomes the invoking user again
/// (and reads that user's AWS files). As root without sudo, stays root and says so.
pub(crate) fn drop_privileges(env: &mut Environment) -> anyhow::Result<()> {
    use nix::unistd::{Gid, Uid, User, setgid, setgroups, setuid};
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let (Some(uid), Some(gid)) = (env.sudo_uid, env.sudo_gid) else {
        tracing::warn!(
            "running as root without sudo: AWS files of root are used; run it with sudo from your own user instead"
        );
        return Ok(());
    };
    let user = User::from_uid(Uid::from_raw(uid)).ok().flatten();
    setgroups(&[Gid::from_raw(gid)]).context("cannot drop supplementary groups")?;
    setgid(Gid::from_raw(gid)).context("cannot change group")?;
    setuid(Uid::from_raw(uid)).context("cannot drop root privileges")?;
    if let Some(user) = user {
        env.home = Some(user.dir);
    }
    tracing::info!(uid, gid, "dropped root privileges after binding");
    Ok(())
}
