//! The AWS shared files, `~/.aws/config` and `~/.aws/credentials`: reading profiles into
//! plans ([`profiles`]) and rewriting one profile's keys in the credentials file
//! ([`credentials_file`]), both through one line lexer (`ini`) and one idea of where the
//! files are ([`config_path`], [`credentials_path`]).

pub mod credentials_file;
pub(crate) mod ini;
pub mod profiles;

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
