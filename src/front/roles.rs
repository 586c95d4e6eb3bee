//! The management API's role choice, for profiles that may act as several roles (an IAM
//! Identity Center sign-in reaches every account and role the person is assigned):
//!
//! * `GET /manage/profiles/NAME/roles`: `{"profile", "roles": [{accountId, accountName?,
//!   roleName, roleArn?, active}]}`, read from the provider now (IAM Identity Center:
//!   ListAccounts and ListAccountRoles, every page, with the cached sign-in); an empty list
//!   for a profile whose files name its one role. Without a sign-in: 401 with
//!   `X-AwsRunas-Authentication-Type: AUTH`, like every call that needs one.
//! * `POST /manage/profiles/NAME/role` (form or JSON: `accountId` and `roleName`, or
//!   `roleArn`): makes that role the profile's and the profile the active one, once its
//!   credentials are had; every front then serves it. A role not in the list is refused (400,
//!   naming it); a role the provider then refuses leaves everything as it was and says why.
//! * `DELETE /manage/profiles/NAME/role`: back to the profile's own role (its
//!   `sso_account_id` and `sso_role_name`), which is the default.
//!
//! A SAML profile lists the role ARNs its last assertion offered (401 `AUTH` before a
//! sign-in), each with its account and name, and a choice replaces the role assumed with
//! the assertion (`role_arn`, or none).
//!
//! The choice lives as long as the server ([`crate::source::choice`]); `~/.aws/config` is
//! never edited. The management API's guard (Host, Origin, `X-Requested-By`) covers these.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::answer::{self, AUTH_TYPE_HEADER};
use super::desktop::{Desktop, Fetch, switch};
use crate::aws_files::profiles::{Base, Plan, ProfileError};
use crate::source::SourceError;
use crate::source::choice::{RoleChoices, RoleOption, WantedRole};
use crate::source::sso::{SsoStep, assignments};

/// The role routes (merged into the management API, behind its guard).
pub(crate) fn routes() -> axum::Router<Arc<Desktop>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/manage/profiles/{name}/roles", get(get_roles))
        .route(
            "/manage/profiles/{name}/role",
            post(post_role).delete(delete_role),
        )
}

/// `profile`'s plan (with the role chosen now) and the roles it may act as.
async fn offered(desktop: &Desktop, profile: &str) -> Result<(Plan, Vec<RoleOption>), Response> {
    let profiles = desktop.profiles();
    let plan = profiles.plan(profile).map_err(|e| match e {
        ProfileError::Unknown(_) => answer::api_body(StatusCode::NOT_FOUND, e.to_string()),
        other => answer::api_body(StatusCode::BAD_REQUEST, other.to_string()),
    })?;
    let found = match &plan.base {
        Base::Sso(sso) => {
            let step = SsoStep {
                profile,
                sso,
                endpoint_url: plan.endpoint_url.as_deref(),
            };
            assignments(
                profiles.http(),
                profiles.environment(),
                profiles.clock(),
                &step,
            )
            .await
            .map_err(|error| SourceError::new(error.kind(), error))
        }
        // The roles the last assertion offered (none before a sign-in).
        Base::Saml { provider, .. } => {
            let offered = profiles.saml().offered(provider);
            if offered.is_empty() {
                let mut response = answer::api_body(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "profile {profile} needs a sign-in to {} before its roles are known",
                        provider.auth_url
                    ),
                );
                response.headers_mut().insert(
                    AUTH_TYPE_HEADER,
                    axum::http::HeaderValue::from_static("AUTH"),
                );
                return Err(response);
            }
            // In ARN order: a provider may list them in another order in each assertion.
            let mut options: Vec<RoleOption> = offered
                .into_iter()
                .map(|pair| {
                    let arn = pair.role_arn.as_str();
                    RoleOption {
                        account_id: pair.role_arn.account().to_owned(),
                        account_name: None,
                        role_name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                        role_arn: Some(arn.to_owned()),
                    }
                })
                .collect();
            options.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
            options.dedup();
            return Ok((plan, options));
        }
        // Its files name its one role.
        _ => return Ok((plan, Vec::new())),
    };
    match found {
        Ok(found) => {
            let options = found
                .into_iter()
                .map(|a| RoleOption {
                    account_id: a.account_id,
                    account_name: a.account_name,
                    role_name: a.role_name,
                    role_arn: None,
                })
                .collect();
            Ok((plan, options))
        }
        Err(error) => {
            answer::log(&format!("profile {profile}: the roles"), &error);
            Err(answer::desktop_api(&error))
        }
    }
}

async fn get_roles(State(desktop): State<Arc<Desktop>>, Path(name): Path<String>) -> Response {
    let (plan, options) = match offered(&desktop, &name).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // A SAML profile that names no role and was offered one acts as that one.
    let only = options.len() == 1 && matches!(plan.base, Base::Saml { role: None, .. });
    let roles: Vec<serde_json::Value> = options
        .iter()
        .map(|option| {
            let mut value = serde_json::to_value(option).unwrap_or_default();
            value["active"] =
                serde_json::Value::Bool(only || RoleChoices::is_active(&plan, option));
            value
        })
        .collect();
    axum::Json(serde_json::json!({ "profile": name, "roles": roles })).into_response()
}

async fn post_role(
    State(desktop): State<Arc<Desktop>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let wanted = match WantedRole::parse(&body, json) {
        Ok(wanted) => wanted,
        Err(message) => return answer::api_body(StatusCode::BAD_REQUEST, message),
    };
    let options = match offered(&desktop, &name).await {
        Ok((_, options)) => options,
        Err(response) => return response,
    };
    if options.is_empty() {
        return answer::api_body(
            StatusCode::BAD_REQUEST,
            format!(
                "profile {name} has no roles to choose from (only IAM Identity Center and SAML profiles do), so not {wanted}"
            ),
        );
    }
    let Some(option) = options.into_iter().find(|o| o.matches(&wanted)) else {
        return answer::api_body(
            StatusCode::BAD_REQUEST,
            format!("{wanted} is not among the roles profile {name} may choose"),
        );
    };
    choose(&desktop, &name, Some(option), &wanted.to_string()).await
}

async fn delete_role(State(desktop): State<Arc<Desktop>>, Path(name): Path<String>) -> Response {
    if let Err(e) = desktop.profiles().plan(&name) {
        let status = match e {
            ProfileError::Unknown(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        return answer::api_body(status, e.to_string());
    }
    choose(&desktop, &name, None, "the profile's own role").await
}

/// Makes `role` (or, `None`, the profile's own) `profile`'s, and switches to it once new
/// credentials are had; when they cannot be, the previous choice stays.
async fn choose(
    desktop: &Desktop,
    profile: &str,
    role: Option<RoleOption>,
    what: &str,
) -> Response {
    let choices = desktop.profiles().choices();
    let previous = choices.set(profile, role);
    match desktop.profiles().refresh(profile).await {
        Ok(_) => {
            tracing::info!(profile, role = what, "chose a role");
            switch(desktop, profile, Fetch::Cached).await
        }
        Err(error) => {
            choices.set(profile, previous);
            answer::log(&format!("profile {profile} as {what}"), &error);
            let shown = answer::desktop_api(&error);
            let mut response = answer::api_body(
                shown.status(),
                format!(
                    "profile {profile} cannot act as {what}: {} ({})",
                    error.kind().describe(),
                    error.chain()
                ),
            );
            if let Some(auth) = shown.headers().get(AUTH_TYPE_HEADER) {
                response
                    .headers_mut()
                    .insert(AUTH_TYPE_HEADER, auth.clone());
            }
            response
        }
    }
}
