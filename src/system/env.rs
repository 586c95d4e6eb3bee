//! The process environment, read once.
//!
//! Every environment variable the program honours is a field here, so the rest of the code
//! is a pure function of flags and this snapshot, and tests build one from a list of pairs.

use std::path::PathBuf;

/// The environment variables needroleshere reads. Empty values count as unset. `Debug`
/// hides proxy credentials and the key password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL_ROLESANYWHERE`.
    pub endpoint_url_rolesanywhere: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// `AWS_USE_FIPS_ENDPOINT=true`.
    pub use_fips_endpoint: bool,
    /// `AWS_CA_BUNDLE`: extra trust roots for HTTPS.
    pub ca_bundle: Option<PathBuf>,
    /// `HTTPS_PROXY` / `https_proxy`.
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY` / `http_proxy`.
    pub http_proxy: Option<String>,
    /// `NO_PROXY` / `no_proxy`.
    pub no_proxy: Option<String>,
    /// `RUNTIME_DIRECTORY` (systemd `RuntimeDirectory=`): the default configuration directory.
    pub runtime_directory: Option<PathBuf>,
    /// `LISTEN_FDNAMES`: `:`-separated names of socket-activated descriptors.
    pub listen_fdnames: Option<String>,
    /// `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or this process.
    pub watchdog_usec: Option<u64>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`: the user's private runtime directory (the desktop ECS token).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`: the user's configuration directory, else `~/.config`.
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_CACHE_HOME`: the user's cache directory, else `~/.cache`.
    pub xdg_cache_home: Option<PathBuf>,
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    pub shared_credentials_file: Option<PathBuf>,
    /// `JOURNAL_STREAM` (`DEVICE:INODE` of journald's socket when stderr goes there).
    pub journal_stream: Option<String>,
    /// `NEEDROLESHERE_PKCS8_PASSWORD`: the password of an encrypted PKCS#8 key.
    pub pkcs8_password: Option<crate::secret::Secret>,
    /// `NEEDROLESHERE_PKCS11_PIN`: the user PIN of a PKCS#11 token.
    pub pkcs11_pin: Option<crate::secret::Secret>,
    /// `NEEDROLESHERE_TPM_KEY_PASSWORD`: the password of a TPM key.
    pub tpm_key_password: Option<crate::secret::Secret>,
    /// `CREDENTIALS_DIRECTORY`: where systemd puts a unit's credentials.
    pub credentials_directory: Option<PathBuf>,
    /// `TPM2TOOLS_TCTI`, else `TCTI`, else `TSS2_TCTI`: how to reach the TPM, as tpm2-tools
    /// reads it.
    pub tpm_tcti: Option<String>,
    /// `AWS_CONFIG_FILE`.
    pub config_file: Option<PathBuf>,
    /// `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `AWS_ENDPOINT_URL_STS`.
    pub endpoint_url_sts: Option<String>,
    /// `AWS_ENDPOINT_URL_SSO`: the IAM Identity Center portal.
    pub endpoint_url_sso: Option<String>,
    /// `AWS_ENDPOINT_URL_SSO_OIDC`: the IAM Identity Center OIDC service.
    pub endpoint_url_sso_oidc: Option<String>,
    /// `SESSION_TOKEN_DURATION`: default lifetime of MFA session tokens (`12h`, `1h30m`).
    pub session_token_duration: Option<String>,
    /// `CREDENTIALS_DURATION`: default lifetime of role credentials.
    pub credentials_duration: Option<String>,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: keys for profiles
    /// with `credential_source = Environment`.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<crate::secret::Secret>,
    pub session_token: Option<crate::secret::Secret>,
    /// aws-runas's sign-in variables, defaults for the profile keys of the same names in
    /// lower case: `WEB_IDENTITY_AUTH_URL`, `WEB_IDENTITY_CLIENT_ID`,
    /// `WEB_IDENTITY_REDIRECT_URI`, `WEB_IDENTITY_USERNAME`, `WEB_IDENTITY_PROVIDER`,
    /// `JUMP_ROLE_ARN`, `SAML_AUTH_URL`, `SAML_USERNAME`, `SAML_PROVIDER`.
    pub web_identity: WebIdentityEnv,
    /// `WEB_IDENTITY_PASSWORD`: signs in with the password grant without asking a person.
    pub web_identity_password: Option<crate::secret::Secret>,
    /// `SAML_PASSWORD`: signs in to a SAML provider without asking a person.
    pub saml_password: Option<crate::secret::Secret>,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set: a browser can be opened for a sign-in.
    pub has_display: bool,
    /// `SUDO_UID` / `SUDO_GID`: whom to become after binding a privileged port.
    pub sudo_uid: Option<u32>,
    pub sudo_gid: Option<u32>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |p: &Option<String>| p.as_deref().map(redact_userinfo);
        f.debug_struct("Environment")
            .field("region", &self.region)
            .field(
                "endpoint_url_rolesanywhere",
                &self.endpoint_url_rolesanywhere,
            )
            .field("endpoint_url", &self.endpoint_url)
            .field("use_fips_endpoint", &self.use_fips_endpoint)
            .field("ca_bundle", &self.ca_bundle)
            .field("https_proxy", &redact(&self.https_proxy))
            .field("http_proxy", &redact(&self.http_proxy))
            .field("no_proxy", &self.no_proxy)
            .field("runtime_directory", &self.runtime_directory)
            .field("pkcs8_password", &self.pkcs8_password)
            .field("pkcs11_pin", &self.pkcs11_pin)
            .field("tpm_key_password", &self.tpm_key_password)
            .field("credentials_directory", &self.credentials_directory)
            .field("tpm_tcti", &self.tpm_tcti)
            .field("web_identity", &self.web_identity)
            .field("web_identity_password", &self.web_identity_password)
            .field("saml_password", &self.saml_password)
            .finish_non_exhaustive()
    }
}

/// aws-runas's sign-in variables (none secret); see [`Environment::web_identity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebIdentityEnv {
    pub auth_url: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub username: Option<String>,
    pub provider: Option<String>,
    pub jump_role_arn: Option<String>,
    pub saml_auth_url: Option<String>,
    pub saml_username: Option<String>,
    pub saml_provider: Option<String>,
}

impl WebIdentityEnv {
    /// The variable standing in for profile key `key`, if it is one of these.
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "web_identity_auth_url" => self.auth_url.as_deref(),
            "web_identity_client_id" => self.client_id.as_deref(),
            "web_identity_redirect_uri" => self.redirect_uri.as_deref(),
            "web_identity_username" => self.username.as_deref(),
            "web_identity_provider" => self.provider.as_deref(),
            "jump_role_arn" => self.jump_role_arn.as_deref(),
            "saml_auth_url" => self.saml_auth_url.as_deref(),
            "saml_username" => self.saml_username.as_deref(),
            "saml_provider" => self.saml_provider.as_deref(),
            _ => None,
        }
    }
}

impl Environment {
    /// Reads the real process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Builds the snapshot from `(name, value)` pairs; later pairs win.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let get = |names: &[&str]| names.iter().find_map(|n| vars.get(*n).cloned());
        Self {
            region: get(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            endpoint_url_rolesanywhere: get(&["AWS_ENDPOINT_URL_ROLESANYWHERE"]),
            endpoint_url: get(&["AWS_ENDPOINT_URL"]),
            use_fips_endpoint: get(&["AWS_USE_FIPS_ENDPOINT"])
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ca_bundle: get(&["AWS_CA_BUNDLE"]).map(PathBuf::from),
            https_proxy: get(&["HTTPS_PROXY", "https_proxy"]),
            http_proxy: get(&["HTTP_PROXY", "http_proxy"]),
            no_proxy: get(&["NO_PROXY", "no_proxy"]),
            runtime_directory: get(&["RUNTIME_DIRECTORY"])
                // systemd joins several RuntimeDirectory= entries with ':'; the first is ours.
                .and_then(|v| v.split(':').next().map(PathBuf::from)),
            listen_fdnames: get(&["LISTEN_FDNAMES"]),
            watchdog_usec: get(&["WATCHDOG_USEC"])
                .filter(|_| {
                    get(&["WATCHDOG_PID"]).is_none_or(|pid| pid == std::process::id().to_string())
                })
                .and_then(|v| v.parse().ok()),
            home: get(&["HOME"]).map(PathBuf::from),
            xdg_runtime_dir: get(&["XDG_RUNTIME_DIR"]).map(PathBuf::from),
            xdg_config_home: get(&["XDG_CONFIG_HOME"]).map(PathBuf::from),
            xdg_cache_home: get(&["XDG_CACHE_HOME"]).map(PathBuf::from),
            shared_credentials_file: get(&["AWS_SHARED_CREDENTIALS_FILE"]).map(PathBuf::from),
            journal_stream: get(&["JOURNAL_STREAM"]),
            pkcs8_password: get(&["NEEDROLESHERE_PKCS8_PASSWORD"]).map(crate::secret::Secret::new),
            pkcs11_pin: get(&["NEEDROLESHERE_PKCS11_PIN"]).map(crate::secret::Secret::new),
            tpm_key_password: get(&["NEEDROLESHERE_TPM_KEY_PASSWORD"])
                .map(crate::secret::Secret::new),
            credentials_directory: get(&["CREDENTIALS_DIRECTORY"]).map(PathBuf::from),
            tpm_tcti: get(&["TPM2TOOLS_TCTI", "TCTI", "TSS2_TCTI"]),
            config_file: get(&["AWS_CONFIG_FILE"]).map(PathBuf::from),
            profile: get(&["AWS_PROFILE"]),
            endpoint_url_sts: get(&["AWS_ENDPOINT_URL_STS"]),
            endpoint_url_sso: get(&["AWS_ENDPOINT_URL_SSO"]),
            endpoint_url_sso_oidc: get(&["AWS_ENDPOINT_URL_SSO_OIDC"]),
            session_token_duration: get(&["SESSION_TOKEN_DURATION"]),
            credentials_duration: get(&["CREDENTIALS_DURATION"]),
            access_key_id: get(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: get(&["AWS_SECRET_ACCESS_KEY"]).map(crate::secret::Secret::new),
            session_token: get(&["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"])
                .map(crate::secret::Secret::new),
            web_identity: WebIdentityEnv {
                auth_url: get(&["WEB_IDENTITY_AUTH_URL"]),
                client_id: get(&["WEB_IDENTITY_CLIENT_ID"]),
                redirect_uri: get(&["WEB_IDENTITY_REDIRECT_URI"]),
                username: get(&["WEB_IDENTITY_USERNAME"]),
                provider: get(&["WEB_IDENTITY_PROVIDER"]),
                jump_role_arn: get(&["JUMP_ROLE_ARN"]),
                saml_auth_url: get(&["SAML_AUTH_URL"]),
                saml_username: get(&["SAML_USERNAME"]),
                saml_provider: get(&["SAML_PROVIDER"]),
            },
            web_identity_password: get(&["WEB_IDENTITY_PASSWORD"]).map(crate::secret::Secret::new),
            saml_password: get(&["SAML_PASSWORD"]).map(crate::secret::Secret::new),
            has_display: get(&["DISPLAY", "WAYLAND_DISPLAY"]).is_some(),
            sudo_uid: get(&["SUDO_UID"]).and_then(|v| v.parse().ok()),
            sudo_gid: get(&["SUDO_GID"]).and_then(|v| v.parse().ok()),
        }
    }

    /// The profile a desktop command (`exec`, `serve ec2|ecs`) uses: `AWS_PROFILE`, else
    /// `argument`, else "default".
    pub fn chosen_profile(&self, argument: Option<&str>) -> String {
        self.profile
            .clone()
            .or_else(|| argument.map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned())
    }
}

/// `url` with any `user:password@` replaced by `***@`, for logs and errors.
pub fn redact_userinfo(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_passwords_are_redacted() {
        assert_eq!(
            redact_userinfo("http://user:pa55@proxy:3128/x"),
            "http://***@proxy:3128/x"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_userinfo("user:pw@proxy"), "***@proxy");
        assert_eq!(redact_userinfo("http://proxy/a@b"), "http://proxy/a@b");
    }

    #[test]
    fn precedence_and_empty_values() {
        let env = Environment::from_pairs([
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_REGION", ""),
            ("https_proxy", "http://lower:3128"),
            ("HTTPS_PROXY", "http://upper:3128"),
            ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
        ]);
        assert_eq!(env.region.as_deref(), Some("eu-west-1"));
        assert_eq!(env.https_proxy.as_deref(), Some("http://upper:3128"));
        assert!(env.use_fips_endpoint);
        assert_eq!(env.ca_bundle, None);
        let shown = format!(
            "{:?}",
            Environment::from_pairs([
                ("HTTPS_PROXY", "http://me:s3cret@proxy:3128"),
                ("NEEDROLESHERE_PKCS8_PASSWORD", "hunter2"),
            ])
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn aws_profile_wins_over_the_argument() {
        let env = Environment::from_pairs([("AWS_PROFILE", "from-env")]);
        assert_eq!(env.chosen_profile(Some("arg")), "from-env");
        let env = Environment::default();
        assert_eq!(env.chosen_profile(Some("arg")), "arg");
        assert_eq!(env.chosen_profile(None), "default");
    }
}
