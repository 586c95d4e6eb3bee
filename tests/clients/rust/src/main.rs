//! `rust-client chain|imds`: resolves AWS credentials the way a Rust program using the AWS
//! SDK does, and prints one JSON line on stdout:
//! `{"sdk":"aws-config","provider":MODE,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}`.
//! The secret key and session token are printed only as SHA-256 hex digests, so a test can
//! compare them with what it expects without any secret reaching a log.
//!
//! * `chain`: `aws_config::load_defaults(BehaviorVersion::latest())` and its credentials
//!   provider: the default chain (environment, profile files, web identity, ECS, IMDS).
//! * `imds`: the IMDS credentials provider alone (IMDSv2; honours
//!   `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
//!
//! Nothing but credential resolution happens: no AWS service is called. Errors go to stderr
//! with exit status 1 (2 for a bad command line).

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials as _;
use sha2::{Digest as _, Sha256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let result = match mode.as_str() {
        "chain" => chain().await,
        "imds" => {
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .build()
                .provide_credentials()
                .await
        }
        _ => {
            eprintln!("usage: rust-client chain|imds");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(credentials) => {
            println!("{}", describe(&mode, &credentials));
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
