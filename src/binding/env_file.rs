//! The consumer's `EnvironmentFile=`: the variables an SDK needs to reach `serve` for one
//! binding, sorted by name.
//!
//! With a token file (`bind --token-file`) the env file holds the URI alone and no secret:
//! the consumer names the token file itself, usually as a systemd credential
//! (`LoadCredential=aws-token:/run/needroleshere/token/NAME` and
//! `Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%d/aws-token`). It must not set
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` itself: systemd lets `EnvironmentFile=` override
//! `Environment=`, so a path here would win over the credential's.

use url::Url;

use super::{AccessToken, BindingError, ECS_PATH, Mode};
use crate::secret::Secret;

/// What a consumer needs, as `EnvironmentFile=` lines sorted by name; with `token_file`,
/// only the URI (the token travels in the token file).
pub fn render_env(
    mode: Mode,
    url: Option<&Url>,
    token: &AccessToken,
    token_file: bool,
) -> Result<Secret, BindingError> {
    if token_file && (mode.token_in_query() || !mode.uses_token()) {
        return Err(BindingError::TokenFileWithQueryMode(mode));
    }
    if mode == Mode::Imds {
        let url = url.ok_or(BindingError::UrlRequired { mode })?;
        if url.scheme() != "http" || url.host_str().is_none() {
            return Err(BindingError::BadUrl(url.to_string()));
        }
        let mut base = url.clone();
        base.set_path("");
        base.set_query(None);
        base.set_fragment(None);
        let endpoint = base.as_str().trim_end_matches('/');
        return Ok(Secret::new(format!(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT={endpoint}\nAWS_EC2_METADATA_V1_DISABLED=true\n"
        )));
    }
    let mut location = if mode.uses_full_uri() {
        let url = url.ok_or(BindingError::UrlRequired { mode })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(BindingError::BadUrl(url.to_string()));
        }
        // Only the origin of --url counts, as in the existing tool.
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        base.set_path(ECS_PATH);
        base.to_string()
    } else {
        ECS_PATH.to_owned()
    };
    let mut lines: Vec<(&str, String)> = Vec::new();
    if mode.token_in_query() {
        location.push_str("?access_token=");
        location.push_str(token.to_secret_string().expose());
    } else if !token_file {
        lines.push((
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            token.authorization().expose().to_owned(),
        ));
    }
    let variable = if mode.uses_full_uri() {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    } else {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    };
    lines.push((variable, location));
    lines.sort();
    let mut out = String::new();
    for (key, value) in lines {
        // systemd's EnvironmentFile= takes double quotes around values with spaces; the
        // values here never hold quotes or backslashes.
        if value.contains(' ') {
            out.push_str(&format!("{key}=\"{value}\"\n"));
        } else {
            out.push_str(&format!("{key}={value}\n"));
        }
    }
    Ok(Secret::new(out))
}
