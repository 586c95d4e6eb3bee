//! `needroleshere check`: checks a binding or an identity locally, and with `--remote`
//! against IAM Roles Anywhere, printing a [`crate::check::Report`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::args::{ConfigDirArgs, EndpointArgs, IdentityArgs, parse_binding_name};
use crate::aws::rolesanywhere;
use crate::binding::BindingName;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport;

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The binding to check (in the configuration directory); or give the identity flags.
    #[arg(value_name = "NAME", value_parser = parse_binding_name, conflicts_with = "identity")]
    pub name: Option<BindingName>,

    #[command(flatten)]
    pub identity: IdentityArgs,

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

/// Prints the report; fails when it holds a problem.
pub(crate) async fn run(
    args: &CheckArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    use crate::check::{Report, Severity};
    let now = clock.now();
    let (mut report, files, session, region, endpoint) = match &args.name {
        Some(name) => {
            let dir = args.dir.resolve(env)?;
            let path = dir.binding_path(name);
            let mut report = Report::new(format!("binding {name} ({})", path.display()));
            let binding = match crate::binding::Store::new(dir).load(name) {
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
            let region = binding
                .region
                .clone()
                .or_else(|| args.endpoint.region.clone())
                .unwrap_or_else(|| binding.session.trust_anchor_arn.region());
            let endpoint = binding
                .endpoint
                .clone()
                .or_else(|| args.endpoint.endpoint.clone());
            (
                report,
                binding.files.clone(),
                binding.session.clone(),
                region,
                endpoint,
            )
        }
        None => {
            let source = args.identity.resolve(&args.endpoint, env).context(
                "give a binding NAME, or --certificate, --private-key and the three ARNs",
            )?;
            let title = format!(
                "identity from {} and {}",
                source
                    .files
                    .certificates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                source.files.private_key.display()
            );
            let endpoint = Some(source.endpoint.to_string());
            (
                Report::new(title),
                source.files,
                source.session,
                source.region,
                endpoint,
            )
        }
    };
    let identity = crate::check::check_identity(&mut report, &files, now);
    if args.remote {
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
