//! `needroleshere check`: checks a binding or an identity locally, and with `--remote`
//! against IAM Roles Anywhere, printing a [`crate::check::Report`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::args::{ConfigDirArgs, DeviceArgs, EndpointArgs, IdentityArgs, parse_binding_name};
use crate::aws::rolesanywhere;
use crate::binding::BindingName;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport;

#[derive(Debug, Clone, Args)]
// A local check needs only the certificate and key: the ARNs are for --remote, which asks
// for them itself (clap keeps every requirement `IdentityArgs` declares, so the group is
// declared anew here, with its members).
#[command(mut_group("identity", |_| clap::ArgGroup::new("identity")
    .multiple(true)
    .args(IDENTITY_FLAGS)
    .requires_all(["certificate", "private_key"])))]
pub struct CheckArgs {
    /// The binding to check (in the configuration directory); or give the identity flags.
    #[arg(value_name = "NAME", value_parser = parse_binding_name, conflicts_with = "identity")]
    pub name: Option<BindingName>,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub device: DeviceArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    #[command(flatten)]
    pub dir: ConfigDirArgs,

    /// Also call CreateSession, to check the trust anchor, profile and role.
    #[arg(long)]
    pub remote: bool,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// The members of [`IdentityArgs`]' group.
const IDENTITY_FLAGS: [&str; 9] = [
    "certificate",
    "intermediates",
    "private_key",
    "pkcs8_password",
    "trust_anchor_arn",
    "profile_arn",
    "role_arn",
    "session_duration",
    "role_session_name",
];

/// Prints the report; fails when it holds a problem.
pub(crate) async fn run(
    args: &CheckArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    use crate::check::{Report, Severity};
    let now = clock.now();
    // What --remote needs: the session to ask for, the region and the endpoint.
    let (mut report, files, remote) = match &args.name {
        Some(name) => {
            let dir = args.dir.resolve(env)?;
            let path = dir.binding_path(name);
            let mut report = Report::new(format!("binding {name} ({})", path.display()));
            let binding = match crate::binding::Store::new(dir.clone()).load(name) {
                Ok(binding) => binding,
                Err(error) => {
                    report.add(Severity::Problem, "binding", format!("{error:#}"));
                    print!("{report}");
                    anyhow::bail!("check found a problem");
                }
            };
            report.add(
                Severity::Ok,
                "binding",
                format!(
                    "mode {}, role {} through profile {}",
                    binding.mode, binding.session.role_arn, binding.session.profile_arn
                ),
            );
            report_delivery(&mut report, &dir, &binding);
            let region = binding
                .region
                .clone()
                .or_else(|| args.endpoint.region.clone())
                .unwrap_or_else(|| binding.session.trust_anchor_arn.region());
            let endpoint = binding
                .endpoint
                .clone()
                .or_else(|| args.endpoint.endpoint.clone());
            let mut files = crate::identity::IdentityFiles::clone(&binding.files);
            files.device.credentials_directory = env.credentials_directory.clone();
            (
                report,
                files,
                Some((
                    rolesanywhere::SessionRequest::clone(&binding.session),
                    region,
                    endpoint,
                )),
            )
        }
        None => {
            let files = args
                .identity
                .files(&args.device, env)
                .context("give a binding NAME, or --certificate and --private-key")?;
            let remote = if args.remote {
                let source = args.identity.resolve(&args.endpoint, &args.device, env).context(
                    "--remote calls CreateSession: give --trust-anchor-arn, --profile-arn and --role-arn",
                )?;
                Some((
                    source.session,
                    source.region,
                    Some(source.endpoint.to_string()),
                ))
            } else {
                None
            };
            let title = format!(
                "identity from {} and {}",
                files
                    .certificates
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                files.private_key
            );
            (Report::new(title), files, remote)
        }
    };
    let identity = crate::check::check_identity(&mut report, &files, now);
    if let Some((session, region, endpoint)) = remote.filter(|_| args.remote) {
        match identity {
            None => report.add(
                Severity::Warning,
                "remote",
                "not tried: the identity cannot be used",
            ),
            Some(identity) => {
                let url = rolesanywhere::resolve_endpoint(endpoint.as_deref(), env, &region)?;
                let http = transport::build_client(&args.endpoint.tls.settings(env))?;
                let client = rolesanywhere::Client::new(http, url.clone(), region, clock);
                match client.create_session(&identity, &session).await {
                    Ok(credentials) => report.add(
                        Severity::Ok,
                        "remote",
                        format!(
                            "CreateSession at {url} succeeded for {}; credentials expire {}",
                            session.role_arn,
                            credentials
                                .expiration
                                .map(crate::credentials::format_rfc3339)
                                .unwrap_or_else(|| "never".into())
                        ),
                    ),
                    Err(error) => report.add(Severity::Problem, "remote", error.to_string()),
                }
            }
        }
    }
    print!("{report}");
    let problems = report.count(Severity::Problem);
    if problems > 0 {
        anyhow::bail!(
            "check found {problems} problem{}",
            if problems == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// How the token of `binding` reaches its consumer, and whom the binding serves.
fn report_delivery(
    report: &mut crate::check::Report,
    dir: &crate::binding::ConfigDir,
    binding: &crate::binding::Binding,
) {
    use crate::check::Severity;
    let name = &binding.name;
    let (env, token) = (dir.env_path(name), dir.token_path(name));
    let delivery = if !binding.mode.uses_token() {
        (
            Severity::Ok,
            "none: an imds binding is served on a listener of its own, without a token".to_owned(),
        )
    } else if binding.mode.token_in_query() {
        (
            Severity::Ok,
            format!(
                "in the URI's query string, in {} (EnvironmentFile=; it is in the consumer's \
                 environment and in every URL it logs)",
                env.display()
            ),
        )
    } else if token.is_file() {
        (
            Severity::Ok,
            format!(
                "in token file {} (LoadCredential=aws-token:{} and \
                 Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%d/aws-token); {} holds \
                 only the URI",
                token.display(),
                token.display(),
                env.display()
            ),
        )
    } else if env.is_file() {
        (
            Severity::Ok,
            format!(
                "in {} as AWS_CONTAINER_AUTHORIZATION_TOKEN (EnvironmentFile=; it is in the \
                 consumer's environment: bind --token-file and LoadCredential= keep it out)",
                env.display()
            ),
        )
    } else {
        (
            Severity::Warning,
            format!(
                "neither {} nor {} exists: no consumer can have the token (bind again)",
                env.display(),
                token.display()
            ),
        )
    };
    report.add(delivery.0, "token", delivery.1);
    let users = if binding.is_pinned() {
        format!(
            "served only to connections of {}",
            super::bind::describe_uids(&binding.allowed_uids)
        )
    } else if binding.mode.uses_token() {
        "not pinned: any local process holding the token (bind --allow-uid pins it to users)"
            .to_owned()
    } else {
        "whoever can reach its IMDS listener".to_owned()
    };
    report.add(Severity::Ok, "users", users);
}
