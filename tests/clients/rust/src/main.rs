//! `rust-client chain|imds [prove]`: resolves AWS credentials the way a Rust program using the
//! AWS SDK does, and prints one JSON line on stdout:
//! `{"sdk":"aws-config","provider":MODE,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}`.
//! The secret key and session token are printed only as SHA-256 hex digests, so a test can
//! compare them with what it expects without any secret reaching a log.
//!
//! * `chain`: `aws_config::load_defaults(BehaviorVersion::latest())` and its credentials
//!   provider: the default chain (environment, profile files, web identity, ECS, IMDS).
//! * `imds`: the IMDS credentials provider alone (IMDSv2; honours
//!   `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
//!
//! Without `prove`, nothing but credential resolution happens: no AWS service is called. With
//! `prove`, the credentials just resolved sign STS `GetCallerIdentity` (`aws-sdk-sts`) at the
//! endpoint `AWS_ENDPOINT_URL_STS` names, which must be a loopback http(s) URL (this program
//! never calls real AWS), in `AWS_REGION` (default `us-east-1`), and the JSON gains
//! `"caller":{"arn":…,"account":…,"user_id":…}`.
//!
//! Errors go to stderr with exit status 1 (2 for a bad command line).

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use sha2::{Digest as _, Sha256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let extra: Vec<String> = std::env::args().skip(2).collect();
    let proving = match extra.as_slice() {
        [] => false,
        [word] if word == "prove" => true,
        _ => {
            eprintln!("usage: rust-client chain|imds [prove]");
            return ExitCode::from(2);
        }
    };
    let result = match mode.as_str() {
        "chain" => chain().await,
        "imds" => {
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .build()
                .provide_credentials()
                .await
        }
        _ => {
            eprintln!("usage: rust-client chain|imds [prove]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(credentials) => {
            let mut line = describe(&mode, &credentials);
            if proving {
                match prove(credentials).await {
                    Ok(caller) => {
                        // `describe` ends with `}`: add the caller before it.
                        line.pop();
                        line.push_str(&format!(",\"caller\":{caller}}}"));
                    }
                    Err(error) => {
                        eprintln!("rust-client {mode}: GetCallerIdentity failed: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rust-client {mode}: no credentials: {}", chain_of(&error));
            ExitCode::FAILURE
        }
    }
}

async fn chain() -> aws_credential_types::provider::Result {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let Some(provider) = config.credentials_provider() else {
        return Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "the default configuration has no credentials provider",
            ),
        );
    };
    provider.provide_credentials().await
}

/// `AWS_ENDPOINT_URL_STS`, which must point at this machine's loopback.
fn sts_endpoint() -> Result<String, String> {
    let url = std::env::var("AWS_ENDPOINT_URL_STS").unwrap_or_default();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host == "localhost" || host.starts_with("127.") || host == "::1" {
        Ok(url)
    } else {
        Err(format!(
            "AWS_ENDPOINT_URL_STS must be a loopback URL, not {}",
            quote(&url)
        ))
    }
}

/// GetCallerIdentity signed with `credentials`; the caller as a JSON object.
async fn prove(credentials: Credentials) -> Result<String, String> {
    let endpoint = sts_endpoint()?;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(region))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .build();
    let answer = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| chain_of(&e))?;
    Ok(format!(
        "{{\"arn\":{},\"account\":{},\"user_id\":{}}}",
        quote(answer.arn().unwrap_or_default()),
        quote(answer.account().unwrap_or_default()),
        quote(answer.user_id().unwrap_or_default()),
    ))
}

fn describe(mode: &str, credentials: &Credentials) -> String {
    let hash = |text: &str| hex(&Sha256::digest(text.as_bytes()));
    let expiration = credentials
        .expiry()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs().to_string())
        .unwrap_or_else(|| "null".to_owned());
    format!(
        "{{\"sdk\":\"aws-config\",\"provider\":{},\"access_key_id\":{},\"secret_sha256\":\"{}\",\"token_sha256\":{},\"expiration\":{}}}",
        quote(mode),
        quote(credentials.access_key_id()),
        hash(credentials.secret_access_key()),
        credentials
            .session_token()
            .map(|t| format!("\"{}\"", hash(t)))
            .unwrap_or_else(|| "null".to_owned()),
        expiration,
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON string of `text` (access key ids and modes are plain ASCII; escape the rest).
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn chain_of(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}
