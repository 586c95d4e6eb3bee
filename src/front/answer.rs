//! The one error edge: how every front answers a [`SourceError`].
//!
//! The answer depends on the error's [`Kind`] alone, never on which source failed, so the
//! same failure reads the same on every endpoint. Bodies are short and stable
//! ([`Kind::describe`]); the whole cause chain goes to the log, once, through [`log`].
//!
//! | kind | ECS / IMDS status | ECS `Code` | desktop API |
//! | --- | --- | --- | --- |
//! | certificate, key, endpoint, profile settings | 500 | `IdentityUnavailable`, `CertificateNotValid`, `BadEndpoint`, `BadProfile` | 400 |
//! | unknown profile | 404 | `UnknownProfile` | 404 |
//! | refused by AWS | 502 | `UpstreamRefused` | 502 |
//! | MFA code rejected | 502 | `MfaRejected` | 403 |
//! | refused for this machine's clock | 502 | `ClockSkew` | 502 |
//! | unavailable | 503 | `UpstreamUnavailable` | 503 |
//! | unreadable answer | 502 | `UpstreamInvalid` | 502 |
//! | timed out | 504 | `UpstreamTimeout` | 504 |
//! | needs an MFA code | 503 | `MfaRequired` | 401, `X-AwsRunas-Authentication-Type: MFA` |
//! | needs a sign-in | 503 | `SignInRequired` | 401, `X-AwsRunas-Authentication-Type: AUTH` |
//! | sign-in refused by the identity provider | 502 | `SignInRejected` | 403 |
//!
//! IMDS never answers 401 for these: SDKs take a 401 for an expired metadata token. The
//! commands (`credential-process`, `update`, `exec`) print the cause chain on stderr and
//! exit 1 for every kind, as `credential_process` callers expect; [`is_fatal_at_start`]
//! tells `update` which failures end it.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use crate::source::{Kind, SourceError};
use crate::system::repeats::summarised;

/// aws-runas's header naming the authentication a profile switch needs.
pub const AUTH_TYPE_HEADER: &str = "x-awsrunas-authentication-type";

/// The status and stable code of the credential endpoints (ECS and IMDS).
pub fn status_and_code(kind: Kind) -> (StatusCode, &'static str) {
    match kind {
        Kind::Identity => (StatusCode::INTERNAL_SERVER_ERROR, "IdentityUnavailable"),
        Kind::CertificateNotValid => (StatusCode::INTERNAL_SERVER_ERROR, "CertificateNotValid"),
        Kind::DeviceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "KeyDeviceUnavailable"),
        Kind::Endpoint => (StatusCode::INTERNAL_SERVER_ERROR, "BadEndpoint"),
        Kind::Profile => (StatusCode::INTERNAL_SERVER_ERROR, "BadProfile"),
        Kind::UnknownProfile => (StatusCode::NOT_FOUND, "UnknownProfile"),
        Kind::Refused => (StatusCode::BAD_GATEWAY, "UpstreamRefused"),
        Kind::MfaRejected => (StatusCode::BAD_GATEWAY, "MfaRejected"),
        Kind::ClockSkew => (StatusCode::BAD_GATEWAY, "ClockSkew"),
        Kind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UpstreamUnavailable"),
        Kind::InvalidAnswer => (StatusCode::BAD_GATEWAY, "UpstreamInvalid"),
        Kind::TimedOut => (StatusCode::GATEWAY_TIMEOUT, "UpstreamTimeout"),
        Kind::NeedsMfa => (StatusCode::SERVICE_UNAVAILABLE, "MfaRequired"),
        Kind::NeedsSignIn => (StatusCode::SERVICE_UNAVAILABLE, "SignInRequired"),
        Kind::SignInRejected => (StatusCode::BAD_GATEWAY, "SignInRejected"),
        Kind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
    }
}

/// The ECS endpoints' error shape, `{"Code","Message"}`.
pub fn ecs_body(status: StatusCode, code: &str, message: &str) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
    }
    crate::http::json(status, &Body { code, message })
}

/// The answer of an ECS credential endpoint.
pub fn ecs(error: &SourceError) -> Response {
    ecs_at(error, None)
}

/// The answer of an ECS credential endpoint of a server whose page is at `page`: a
/// failure that needs a person names it.
pub fn ecs_at(error: &SourceError, page: Option<&str>) -> Response {
    let (status, code) = status_and_code(error.kind());
    ecs_body(status, code, &describe_at(error.kind(), page))
}

/// The answer of an IMDS credential path: the status and the short text.
pub fn imds(error: &SourceError) -> Response {
    imds_at(error, None)
}

/// [`imds`] for a server whose page is at `page` (see [`ecs_at`]).
pub fn imds_at(error: &SourceError, page: Option<&str>) -> Response {
    let (status, _) = status_and_code(error.kind());
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/plain")],
        describe_at(error.kind(), page),
    )
        .into_response()
}

/// [`Kind::describe`], naming the page where a person can act when there is one.
fn describe_at(kind: Kind, page: Option<&str>) -> String {
    match page {
        Some(page) if kind.category() == crate::source::Category::NeedsPerson => {
            format!("{} (the page: {page})", kind.describe())
        }
        _ => kind.describe().to_owned(),
    }
}

/// The management API's error shape, `{"error": ...}`.
pub fn api_body(status: StatusCode, message: impl Into<String>) -> Response {
    #[derive(Serialize)]
    struct Body {
        error: String,
    }
    crate::http::json(
        status,
        &Body {
            error: message.into(),
        },
    )
}

/// The management API's answer (aws-runas's and aws-mock-metadata's conventions): a
/// needed code is 401 with `X-AwsRunas-Authentication-Type: MFA`, a rejected one 403.
pub fn desktop_api(error: &SourceError) -> Response {
    let kind = error.kind();
    let status = match kind {
        Kind::NeedsMfa | Kind::NeedsSignIn => StatusCode::UNAUTHORIZED,
        Kind::MfaRejected | Kind::SignInRejected => StatusCode::FORBIDDEN,
        Kind::Identity
        | Kind::CertificateNotValid
        | Kind::Endpoint
        | Kind::Profile
        | Kind::Internal => StatusCode::BAD_REQUEST,
        _ => status_and_code(kind).0,
    };
    let mut response = api_body(status, kind.describe());
    let auth_type = match kind {
        Kind::NeedsMfa => Some("MFA"),
        Kind::NeedsSignIn => Some("AUTH"),
        _ => None,
    };
    if let Some(auth_type) = auth_type {
        response
            .headers_mut()
            .insert(AUTH_TYPE_HEADER, HeaderValue::from_static(auth_type));
    }
    response
}

/// [`desktop_api`], with the cause: which setting cannot work, which role is not offered,
/// which page was not understood, what STS or the identity provider said, which service is
/// down. The management API answers only the user who runs the server, and causes are
/// written to be logged (they never hold a secret), so that user may read them. A person
/// being needed is said by the kind alone, with what to do.
pub fn desktop_api_explained(error: &SourceError) -> Response {
    let response = desktop_api(error);
    if matches!(error.kind(), Kind::NeedsMfa | Kind::NeedsSignIn) {
        return response;
    }
    api_body(
        response.status(),
        format!("{}: {}", error.kind().describe(), error.chain()),
    )
}

/// Whether a command that keeps credentials fresh (`update`) should give up when its first
/// fetch fails this way: retrying cannot fix a misconfiguration, a refusal or a missing
/// person, while an outage or a slow answer may pass.
pub fn is_fatal_at_start(error: &SourceError) -> bool {
    !error.is_transient()
}

/// Logs a failure with its whole cause chain, naming what was asked for; repeats are
/// summarised ([`crate::system::repeats`]).
pub fn log(subject: &str, error: &SourceError) {
    let chain = error.chain();
    // The cause is part of the kind: a new cause is a new line, not a count.
    let kind = format!("{subject}: {chain}");
    match error.kind() {
        Kind::NeedsMfa | Kind::NeedsSignIn => {
            summarised!(info, Some(&kind), "no credentials", subject, error = %chain)
        }
        _ => summarised!(error, Some(&kind), "no credentials", subject, error = %chain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_answers_a_kind_alike_and_never_with_the_cause() {
        let error = SourceError::message(Kind::Unavailable, "secret upstream detail");
        let ecs = ecs(&error);
        let imds = imds(&error);
        assert_eq!(ecs.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(imds.status(), StatusCode::SERVICE_UNAVAILABLE);
        let needs = SourceError::message(Kind::NeedsMfa, "x");
        assert_ne!(super::imds(&needs).status(), StatusCode::UNAUTHORIZED);
        let api = desktop_api(&needs);
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(api.headers()[AUTH_TYPE_HEADER], "MFA");
        let sign_in = SourceError::message(Kind::NeedsSignIn, "x");
        assert_eq!(desktop_api(&sign_in).status(), StatusCode::UNAUTHORIZED);
        assert_eq!(desktop_api(&sign_in).headers()[AUTH_TYPE_HEADER], "AUTH");
        assert_eq!(
            super::ecs(&sign_in).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            super::imds(&sign_in).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
