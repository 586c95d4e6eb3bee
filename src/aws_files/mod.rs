//! The AWS shared files, `~/.aws/config` and `~/.aws/credentials`: reading profiles into
//! plans ([`profiles`]) and rewriting one profile's keys in the credentials file
//! ([`credentials_file`]).

pub mod credentials_file;
pub mod profiles;
