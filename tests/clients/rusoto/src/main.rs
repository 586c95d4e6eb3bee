//! `rusoto-client chain prove`: resolves AWS credentials the way a Rust program using Rusoto
//! 0.48 does (`rusoto_credential::ChainProvider`: environment, the profile files with
//! `credential_process`, the container endpoint, instance metadata), then proves them: it signs
//! STS `GetCallerIdentity` with them (`rusoto_sts`) at the endpoint `AWS_ENDPOINT_URL_STS`
//! names, which must be a loopback http(s) URL (this program never calls real AWS), in
//! `AWS_REGION` (default `us-east-1`).
//!
//! It prints one JSON line on stdout:
//! `{"sdk":"rusoto","provider":"ChainProvider","access_key_id":…,"secret_sha256":…,"token_sha256":…,"caller":{"arn":…,"account":…,"user_id":…}}`.
//! The secret key and session token appear only as SHA-256 hex digests. Errors go to stderr
//! with exit status 1 (2 for a bad command line).
//!
//! Rusoto ignores `AWS_EC2_METADATA_DISABLED`: its chain always ends with instance metadata at
//! 169.254.169.254 (`rusoto_credential` 0.48 `src/instance_metadata.rs:12`). The matrix sets
//! that variable wherever nothing may be sent to a link-local address (every front outside a
//! network namespace of the test's own); there this program runs the chain's other providers,
//! in the chain's order (`src/lib.rs:383`, `chain_provider_credentials`), and stops before
//! instance metadata. The chain hides why a provider failed, so on failure this program also
//! prints what the container provider alone says.

use std::process::ExitCode;

use rusoto_core::{HttpClient, Region};
use rusoto_credential::{
    AwsCredentials, ChainProvider, ContainerProvider, CredentialsError, EnvironmentProvider,
    InstanceMetadataProvider, ProfileProvider, ProvideAwsCredentials, StaticProvider,
};
use rusoto_sts::{GetCallerIdentityRequest, Sts, StsClient};
use sha2::{Digest, Sha256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["chain", "prove"] {
        eprintln!("usage: rusoto-client chain prove");
        return ExitCode::from(2);
    }
    match run().await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rusoto-client chain: {error}");
            ExitCode::from(1)
        }
    }
}

async fn run() -> Result<String, String> {
    let endpoint = sts_endpoint()?;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let credentials = match resolve().await {
        Ok(credentials) => credentials,
        Err(error) => {
            let container = match ContainerProvider::new().credentials().await {
                Ok(_) => "found credentials".to_owned(),
                Err(e) => e.to_string(),
            };
            let mut message =
                format!("no credentials: {error} (the container provider alone: {container}");
            if !imds_disabled() {
                let imds = match InstanceMetadataProvider::new().credentials().await {
                    Ok(_) => "found credentials".to_owned(),
                    Err(e) => e.to_string(),
                };
                message.push_str(&format!("; the instance metadata provider alone: {imds}"));
            }
            message.push(')');
            return Err(message);
        }
    };
    let caller = prove(&credentials, region, endpoint).await?;
    Ok(format!(
        "{{\"sdk\":\"rusoto\",\"provider\":\"ChainProvider\",\"access_key_id\":{},\
         \"secret_sha256\":\"{}\",\"token_sha256\":{},\"caller\":{caller}}}",
        quote(credentials.aws_access_key_id()),
        sha256(credentials.aws_secret_access_key()),
        credentials
            .token()
            .as_deref()
            .map_or("null".to_owned(), |t| format!("\"{}\"", sha256(t))),
    ))
}

/// Whether `AWS_EC2_METADATA_DISABLED` is `true` (which Rusoto itself ignores).
fn imds_disabled() -> bool {
    std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `ChainProvider::new().credentials()`, or, where instance metadata is disabled, the same
/// chain without its last provider.
async fn resolve() -> Result<AwsCredentials, CredentialsError> {
    if !imds_disabled() {
        return ChainProvider::new().credentials().await;
    }
    if let Ok(credentials) = EnvironmentProvider::default().credentials().await {
        return Ok(credentials);
    }
    if let Ok(profile) = ProfileProvider::new() {
        if let Ok(credentials) = profile.credentials().await {
            return Ok(credentials);
        }
    }
    ContainerProvider::new().credentials().await.map_err(|_| {
        CredentialsError::new(
            "Couldn't find AWS credentials in environment, credentials file, or the container \
             endpoint (instance metadata disabled)",
        )
    })
}

async fn prove(
    credentials: &AwsCredentials,
    region: String,
    endpoint: String,
) -> Result<String, String> {
    let fixed = StaticProvider::new(
        credentials.aws_access_key_id().to_owned(),
        credentials.aws_secret_access_key().to_owned(),
        credentials.token().clone(),
        None,
    );
    let client = StsClient::new_with(
        // rusoto_core's own client (`HttpClient::new`) built with rustls speaks only https; the
        // double is plain http on loopback.
        HttpClient::from_connector(hyper::client::HttpConnector::new()),
        fixed,
        Region::Custom {
            name: region,
            endpoint,
        },
    );
    let answer = client
        .get_caller_identity(GetCallerIdentityRequest {})
        .await
        .map_err(|e| format!("GetCallerIdentity failed: {e}"))?;
    Ok(format!(
        "{{\"arn\":{},\"account\":{},\"user_id\":{}}}",
        quote(answer.arn.as_deref().unwrap_or_default()),
        quote(answer.account.as_deref().unwrap_or_default()),
        quote(answer.user_id.as_deref().unwrap_or_default()),
    ))
}

/// `AWS_ENDPOINT_URL_STS`, which must be a loopback http(s) URL.
fn sts_endpoint() -> Result<String, String> {
    let url = std::env::var("AWS_ENDPOINT_URL_STS").unwrap_or_default();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host == "localhost" || host.starts_with("127.") {
        Ok(url)
    } else {
        Err(format!(
            "AWS_ENDPOINT_URL_STS must be a loopback URL, not {url:?}"
        ))
    }
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
