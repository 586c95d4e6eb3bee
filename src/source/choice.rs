//! Roles chosen at run time for profiles that offer several: an IAM Identity Center sign-in
//! reaches every account and role the person is assigned (ListAccounts, ListAccountRoles),
//! and a SAML assertion may carry several role ARNs. A choice replaces the profile's own
//! (`sso_account_id`/`sso_role_name`, or the SAML profile's `role_arn`, or none) for as long
//! as the process runs, without editing `~/.aws/config`; clearing it returns to the
//! profile's own.
//!
//! A choice is kept by profile name and applied when that profile's plan is read
//! ([`RoleChoices::apply`]), so every front of the process (ECS, IMDS, the page, the
//! management API) serves the chosen role, and the plan's version changes with it, which
//! makes the cache fetch anew.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::arn::RoleArn;
use crate::aws_files::profiles::{Base, Plan, RoleStep};

/// One role a profile may act as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleOption {
    /// The account's id.
    pub account_id: String,
    /// The account's display name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// The role's name (an IAM Identity Center permission set's name, or the last part of
    /// the role ARN).
    pub role_name: String,
    /// The role's ARN, when known (IAM Identity Center does not name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl RoleOption {
    /// Whether `wanted` names this role: by ARN when it gives one, else by account and
    /// role name.
    pub fn matches(&self, wanted: &WantedRole) -> bool {
        match wanted {
            WantedRole::Arn(arn) => self.role_arn.as_deref() == Some(arn.as_str()),
            WantedRole::Name {
                account_id,
                role_name,
            } => self.account_id == *account_id && self.role_name == *role_name,
        }
    }
}

/// A role a person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantedRole {
    /// By its ARN.
    Arn(String),
    /// By account and role name.
    Name {
        account_id: String,
        role_name: String,
    },
}

impl WantedRole {
    /// The role a request asks for: `accountId` and `roleName`, or `roleArn` alone, as a
    /// form (`application/x-www-form-urlencoded`) or, when `json`, a JSON object.
    pub fn parse(body: &str, json: bool) -> Result<WantedRole, String> {
        #[derive(Default, serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fields {
            account_id: Option<String>,
            role_name: Option<String>,
            role_arn: Option<String>,
        }
        let fields: Fields = if json {
            serde_json::from_str(body).map_err(|e| format!("unreadable body: {e}"))?
        } else {
            let mut fields = Fields::default();
            for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
                let slot = match key.as_ref() {
                    "accountId" => &mut fields.account_id,
                    "roleName" => &mut fields.role_name,
                    "roleArn" => &mut fields.role_arn,
                    _ => continue,
                };
                if slot.is_some() {
                    return Err(format!("{key} is given twice"));
                }
                *slot = Some(value.into_owned());
            }
            fields
        };
        let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        match (
            given(fields.role_arn),
            given(fields.account_id),
            given(fields.role_name),
        ) {
            (Some(arn), None, None) => Ok(WantedRole::Arn(arn)),
            (None, Some(account_id), Some(role_name)) => Ok(WantedRole::Name {
                account_id,
                role_name,
            }),
            _ => Err("expected accountId and roleName, or roleArn alone".to_owned()),
        }
    }
}

impl std::fmt::Display for WantedRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Arn(arn) => write!(f, "role {arn}"),
            Self::Name {
                account_id,
                role_name,
            } => write!(f, "role {role_name} in account {account_id}"),
        }
    }
}

/// The roles chosen, by profile.
#[derive(Debug, Default)]
pub struct RoleChoices {
    chosen: Mutex<HashMap<String, RoleOption>>,
}

impl RoleChoices {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoleOption>> {
        // A plain map; still consistent after a panic elsewhere.
        self.chosen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The role chosen for `profile`, if any.
    pub fn get(&self, profile: &str) -> Option<RoleOption> {
        self.map().get(profile).cloned()
    }

    /// Chooses `role` for `profile`, or (`None`) returns it to its own; the previous
    /// choice is returned.
    pub fn set(&self, profile: &str, role: Option<RoleOption>) -> Option<RoleOption> {
        let mut map = self.map();
        match role {
            Some(role) => map.insert(profile.to_owned(), role),
            None => map.remove(profile),
        }
    }

    /// Applies the choice made for `plan.profile` to its first step: the IAM Identity
    /// Center account and role, or the role AssumeRoleWithSAML assumes with the assertion.
    /// A choice of a kind the profile no longer has (its files changed) is ignored.
    pub fn apply(&self, plan: &mut Plan) {
        let Some(choice) = self.get(&plan.profile) else {
            return;
        };
        match &mut plan.base {
            Base::Sso(sso) => {
                sso.account_id = choice.account_id;
                sso.role_name = choice.role_name;
            }
            Base::Saml { role, .. } => {
                let Some(role_arn) = choice.role_arn.and_then(|arn| arn.parse::<RoleArn>().ok())
                else {
                    return;
                };
                match role {
                    Some(step) => step.role_arn = role_arn,
                    None => {
                        *role = Some(RoleStep {
                            profile: plan.base_profile.clone(),
                            role_arn,
                            external_id: None,
                            session_name: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether `plan`'s first step is `option` (the role it acts as now).
    pub fn is_active(plan: &Plan, option: &RoleOption) -> bool {
        match &plan.base {
            Base::Sso(sso) => {
                sso.account_id == option.account_id && sso.role_name == option.role_name
            }
            Base::Saml {
                role: Some(step), ..
            } => option.role_arn.as_deref() == Some(step.role_arn.as_str()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;
    use crate::aws_files::profiles::{SamlSettings, SsoProfile};

    fn plan(profile: &str) -> Plan {
        Plan {
            profile: profile.to_owned(),
            base_profile: profile.to_owned(),
            base: Base::Sso(SsoProfile {
                session: Some("corp".into()),
                start_url: "https://corp.awsapps.com/start".into(),
                region: "eu-west-1".parse().unwrap(),
                account_id: "111122223333".into(),
                role_name: "Developer".into(),
                registration_scopes: None,
            }),
            mfa: None,
            roles: vec![],
            region: None,
            endpoint_url: None,
            session_token_seconds: 3600,
            credentials_seconds: 3600,
        }
    }

    fn option(account_id: &str, role_name: &str) -> RoleOption {
        RoleOption {
            account_id: account_id.into(),
            account_name: None,
            role_name: role_name.into(),
            role_arn: None,
        }
    }

    #[test]
    fn a_choice_replaces_the_profiles_own_role_until_cleared() {
        let choices = RoleChoices::default();
        let mut dev = plan("dev");
        choices.apply(&mut dev);
        assert_eq!(dev, plan("dev"), "no choice: the profile's own");
        assert!(RoleChoices::is_active(
            &dev,
            &option("111122223333", "Developer")
        ));

        let other = option("444455556666", "ReadOnly");
        assert_eq!(choices.set("dev", Some(other.clone())), None);
        let mut dev = plan("dev");
        choices.apply(&mut dev);
        assert!(RoleChoices::is_active(&dev, &other));
        assert!(!RoleChoices::is_active(
            &dev,
            &option("111122223333", "Developer")
        ));
        // Only the profile it was made for.
        let mut ops = plan("ops");
        choices.apply(&mut ops);
        assert_eq!(ops, plan("ops"));

        assert_eq!(choices.set("dev", None), Some(other));
        let mut dev = plan("dev");
        choices.apply(&mut dev);
        assert_eq!(dev, plan("dev"));
    }

    #[test]
    fn a_saml_choice_sets_the_role_assumed_with_the_assertion() {
        let settings: SamlSettings = SamlSettings {
            auth_url: "https://idp.example.com/saml".parse().unwrap(),
            username: None,
            provider: None,
        };
        let saml = |role: Option<&str>| Plan {
            base: Base::Saml {
                provider: Box::new(settings.clone()),
                role: role.map(|arn| RoleStep {
                    profile: "corp".into(),
                    role_arn: arn.parse().unwrap(),
                    external_id: Some("ext".into()),
                    session_name: None,
                }),
            },
            ..plan("corp")
        };
        let admin = RoleOption {
            account_id: "111122223333".into(),
            account_name: None,
            role_name: "Admin".into(),
            role_arn: Some("arn:aws:iam::111122223333:role/Admin".into()),
        };
        let choices = RoleChoices::default();
        choices.set("corp", Some(admin.clone()));
        // A profile that names no role gets the chosen one.
        let mut none = saml(None);
        choices.apply(&mut none);
        assert!(RoleChoices::is_active(&none, &admin));
        // One that names a role gets the chosen ARN, keeping its other settings.
        let mut named = saml(Some("arn:aws:iam::111122223333:role/ReadOnly"));
        choices.apply(&mut named);
        assert!(RoleChoices::is_active(&named, &admin));
        let Base::Saml {
            role: Some(step), ..
        } = &named.base
        else {
            panic!("{named:?}")
        };
        assert_eq!(step.external_id.as_deref(), Some("ext"));
        // A choice without an ARN changes nothing.
        choices.set("corp", Some(option("111122223333", "Admin")));
        let mut unchanged = saml(None);
        choices.apply(&mut unchanged);
        assert_eq!(unchanged, saml(None));
    }

    #[test]
    fn a_wanted_role_is_read_from_a_form_or_json() {
        let name = WantedRole::Name {
            account_id: "111122223333".into(),
            role_name: "Admin".into(),
        };
        assert_eq!(
            WantedRole::parse("accountId=111122223333&roleName=Admin&x=1", false),
            Ok(name.clone())
        );
        assert_eq!(
            WantedRole::parse(r#"{"accountId":"111122223333","roleName":"Admin"}"#, true),
            Ok(name)
        );
        assert_eq!(
            WantedRole::parse("roleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2FA", false),
            Ok(WantedRole::Arn("arn:aws:iam::1:role/A".into()))
        );
        for bad in [
            "",
            "roleName=Admin",
            "accountId=1&roleName=",
            "roleArn=x&accountId=1&roleName=A",
            "roleName=A&roleName=B&accountId=1",
        ] {
            assert!(WantedRole::parse(bad, false).is_err(), "{bad}");
        }
        assert!(WantedRole::parse(r#"{"roleArn":7}"#, true).is_err());
        assert!(WantedRole::parse("accountId=1&roleName=A", true).is_err());
    }

    #[test]
    fn a_wanted_role_matches_by_arn_or_by_account_and_name() {
        let mut with_arn = option("111122223333", "Admin");
        with_arn.role_arn = Some("arn:aws:iam::111122223333:role/Admin".into());
        assert!(with_arn.matches(&WantedRole::Arn(
            "arn:aws:iam::111122223333:role/Admin".into()
        )));
        assert!(!with_arn.matches(&WantedRole::Arn(
            "arn:aws:iam::111122223333:role/Other".into()
        )));
        let by_name = WantedRole::Name {
            account_id: "111122223333".into(),
            role_name: "Admin".into(),
        };
        assert!(with_arn.matches(&by_name));
        assert!(!option("111122223333", "Admin").matches(&WantedRole::Arn(
            "arn:aws:iam::111122223333:role/Admin".into()
        )));
        assert_eq!(by_name.to_string(), "role Admin in account 111122223333");
    }
}
