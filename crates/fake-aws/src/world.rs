//! The strict fakes as one AWS: the fake IAM Roles Anywhere, the fake STS and the fake IAM
//! Identity Center (OIDC and portal) sharing one [`Registry`], served on one listener.
//!
//! Contract:
//! * [`World::example`] is the world the demo binary, the compatibility matrix and the
//!   end-to-end tests use: Roles Anywhere configured from a PKI directory
//!   ([`Config::from_pki_dir`]), STS with [`StsConfig::example`] (users `alice` and `bob`,
//!   roles `developer`, `admin`, …), both for one region, one registry between them, so
//!   credentials either fake issues can call STS.
//! * [`World::router`] routes as the one listener of `needroleshere-fake-aws` does: `/`
//!   (any method) is STS; the paths of [`crate::sso::PATHS`] are the fake IAM Identity
//!   Center (its OIDC service and portal: their AWS paths do not collide); every other path
//!   goes to Roles Anywhere, which answers
//!   `POST {prefix}/sessions` and refuses the rest (recorded as a refusal).
//! * [`World::spawn`] serves plain HTTP/1.1, [`World::spawn_tls`] HTTPS, on an address
//!   (port 0 picks one); the listener stops when the returned [`Running`] drops.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use axum::Router;

use crate::registry::Registry;
use crate::rolesanywhere::{Config, FakeRolesAnywhere, Running};
use crate::sso::{FakeSso, SsoConfig};
use crate::sts::{FakeSts, StsConfig};

/// The fake Roles Anywhere and the fake STS, sharing a registry. Clones share everything.
#[derive(Debug, Clone)]
pub struct World {
    /// The fake IAM Roles Anywhere (`CreateSession`).
    pub rolesanywhere: FakeRolesAnywhere,
    /// The fake STS.
    pub sts: FakeSts,
    /// The fake IAM Identity Center (OIDC service and portal).
    pub sso: FakeSso,
}

impl World {
    /// The example world for the PKI in `pki_dir` (it must hold `root-ca.pem`), with both
    /// services in `region` and `CreateSession` at `{path_prefix}/sessions` (`""` for
    /// `/sessions`).
    pub fn example(pki_dir: &Path, region: &str, path_prefix: &str) -> io::Result<World> {
        Self::example_with_roles(pki_dir, region, path_prefix, Vec::new())
    }

    /// [`World::example`] whose STS also knows `roles` (for example roles trusting an OpenID
    /// Connect provider, [`crate::sts::Role::trusting_web_identity`]).
    pub fn example_with_roles(
        pki_dir: &Path,
        region: &str,
        path_prefix: &str,
        roles: Vec<crate::sts::Role>,
    ) -> io::Result<World> {
        Self::example_with_federation(pki_dir, region, path_prefix, roles, Vec::new())
    }

    /// [`World::example_with_roles`] whose STS also has the IAM SAML providers
    /// `saml_providers` (for `AssumeRoleWithSAML`; roles trust one with
    /// [`crate::sts::Role::trusting_saml`]).
    pub fn example_with_federation(
        pki_dir: &Path,
        region: &str,
        path_prefix: &str,
        roles: Vec<crate::sts::Role>,
        saml_providers: Vec<crate::saml::SamlProvider>,
    ) -> io::Result<World> {
        let registry = Registry::new();
        let mut config = Config::from_pki_dir(pki_dir)?.with_registry(registry.clone());
        config.region = region.to_owned();
        let mut sts_config = StsConfig::example(registry);
        sts_config.region = region.to_owned();
        sts_config.roles.extend(roles);
        sts_config.saml_providers.extend(saml_providers);
        Ok(World::new(
            FakeRolesAnywhere::with_path_prefix(config, path_prefix),
            FakeSts::new(sts_config),
        ))
    }

    /// A world of two fakes configured by the caller (give both the same [`Registry`] if
    /// credentials of one must call the other), and the example IAM Identity Center
    /// ([`SsoConfig::example`]) on STS's registry, region and clock.
    pub fn new(rolesanywhere: FakeRolesAnywhere, sts: FakeSts) -> World {
        let config = sts.config();
        let sso = FakeSso::new(
            SsoConfig::example(config.registry.clone(), &config.region)
                .with_clock(config.clock.clone()),
        );
        World {
            rolesanywhere,
            sts,
            sso,
        }
    }

    /// The same world with another fake IAM Identity Center.
    pub fn with_sso(mut self, sso: FakeSso) -> World {
        self.sso = sso;
        self
    }

    /// The registry STS reads (the one Roles Anywhere writes to in [`World::example`]).
    pub fn registry(&self) -> &Registry {
        self.sts.registry()
    }

    /// `/` is STS, every other path Roles Anywhere. (The STS router routes only `/` and has
    /// no fallback; the Roles Anywhere router's fallback takes the rest.)
    pub fn router(&self) -> Router {
        self.rolesanywhere
            .router()
            .merge(self.sts.router())
            .merge(self.sso.router())
    }

    /// Serves both over plain HTTP/1.1 on `addr` in a tokio task.
    pub async fn spawn(&self, addr: SocketAddr) -> io::Result<Running> {
        Running::serve_http(self.router(), addr).await
    }

    /// Serves both over HTTPS on `addr` with the PEM certificate chain and key.
    pub async fn spawn_tls(
        &self,
        addr: SocketAddr,
        cert_chain_pem: &Path,
        key_pem: &Path,
    ) -> io::Result<Running> {
        Running::serve_https(self.router(), addr, cert_chain_pem, key_pem).await
    }

    /// Whether any fake issued `access_key_id`.
    pub fn issued(&self, access_key_id: &str) -> bool {
        self.sso
            .issued()
            .iter()
            .any(|issued| issued.access_key_id == access_key_id)
            || self
                .rolesanywhere
                .sessions()
                .iter()
                .any(|session| session.access_key_id == access_key_id)
            || self.sts.issued().iter().any(|(id, _)| id == access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rolesanywhere::REGION;

    /// A minimal PKI directory: `Config::from_pki_dir` only needs `root-ca.pem`.
    fn pki_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::generate_pki(dir.path()).unwrap();
        dir
    }

    async fn status_of(url: &str, request: &str) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let addr = url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn one_listener_routes_slash_to_sts_and_the_rest_to_rolesanywhere() {
        let pki = pki_dir();
        let world = World::example(pki.path(), REGION, "/ra").unwrap();
        let running = world.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = running.url();
        // Unsigned requests: each fake refuses, and records, its own.
        let sts = status_of(
            &url,
            "GET /?Action=GetCallerIdentity&Version=2011-06-15 HTTP/1.1\r\nHost: x\r\n\
             Connection: close\r\n\r\n",
        )
        .await;
        assert!(sts.contains(" 403 "), "{sts}");
        assert_eq!(world.sts.request_count(), 1);
        assert_eq!(world.rolesanywhere.request_count(), 0);
        let ra = status_of(
            &url,
            "POST /ra/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
        )
        .await;
        assert!(ra.contains(" 400 "), "{ra}");
        assert_eq!(world.rolesanywhere.request_count(), 1);
        assert_eq!(world.sts.request_count(), 1);
        assert!(!world.issued("ASIANOTISSUED"));
        // The IAM Identity Center paths reach the SSO fake, which refuses a bad bearer.
        let portal = status_of(
            &url,
            "GET /assignment/accounts HTTP/1.1\r\nHost: x\r\n\
             x-amz-sso_bearer_token: aoanotissued\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(portal.contains(" 401 "), "{portal}");
        assert_eq!(world.sso.calls("ListAccounts"), 1);
        assert_eq!(world.rolesanywhere.request_count(), 1);
    }
}
