//! The AWS shared files, `~/.aws/config` and `~/.aws/credentials`: reading profiles into
//! plans ([`profiles`]) and rewriting one profile's keys in the credentials file
//! ([`credentials_file`]), both through one line lexer (`ini`) and one idea of where the
//! files are ([`config_path`], [`credentials_path`]); and the IAM Identity Center token cache
//! the AWS CLI v2 keeps in `~/.aws/sso/cache/` ([`sso_cache`]).

pub mod credentials_file;
pub(crate) mod ini;
pub mod mock_metadata;
pub mod profiles;
pub mod sso_cache;

use std::path::PathBuf;

use crate::system::env::Environment;

/// The config file: `$AWS_CONFIG_FILE`, else `~/.aws/config`; `None` without either.
pub fn config_path(env: &Environment) -> Option<PathBuf> {
    env.config_file
        .clone()
        .or_else(|| Some(env.home.as_ref()?.join(".aws").join("config")))
}

/// The shared credentials file: `$AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`;
/// `None` without either.
pub fn credentials_path(env: &Environment) -> Option<PathBuf> {
    env.shared_credentials_file
        .clone()
        .or_else(|| Some(env.home.as_ref()?.join(".aws").join("credentials")))
}

/// Which files a user's profiles are read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProfileFiles {
    /// `~/.aws/config` and `~/.aws/credentials` ([`config_path`], [`credentials_path`]).
    #[default]
    Aws,
    /// An aws-mock-metadata configuration file ([`mock_metadata`]).
    MockMetadata(PathBuf),
}

impl ProfileFiles {
    /// Reads the files as they are now.
    pub fn load(&self, env: &Environment) -> Result<Catalog, profiles::ProfileError> {
        match self {
            Self::Aws => {
                let (config, credentials) = profiles::ConfigFiles::paths(env)?;
                Ok(Catalog::Aws(profiles::ConfigFiles::load(
                    &config,
                    &credentials,
                )?))
            }
            Self::MockMetadata(path) => Ok(Catalog::MockMetadata(
                mock_metadata::MockMetadataConfig::load(path)?,
            )),
        }
    }
}

/// A user's profiles, from either kind of file, each resolved into the same
/// [`profiles::Plan`].
#[derive(Debug, Clone)]
pub enum Catalog {
    Aws(profiles::ConfigFiles),
    MockMetadata(mock_metadata::MockMetadataConfig),
}

impl Catalog {
    /// Profile names, sorted.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Aws(files) => files.names(),
            Self::MockMetadata(config) => config.names(),
        }
    }

    /// Whether `name` assumes a role.
    pub fn is_role(&self, name: &str) -> bool {
        match self {
            Self::Aws(files) => files.is_role(name),
            Self::MockMetadata(config) => config.is_role(name),
        }
    }

    /// Resolves `profile` into a plan.
    pub fn plan(
        &self,
        profile: &str,
        env: &Environment,
    ) -> Result<profiles::Plan, profiles::ProfileError> {
        match self {
            Self::Aws(files) => files.plan(profile, env),
            Self::MockMetadata(config) => config.plan(profile, env),
        }
    }
}
