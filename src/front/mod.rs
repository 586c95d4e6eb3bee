//! Fronts: how programs get credentials. Every front asks the [`crate::cache`] (through
//! [`vend`] for bindings, [`crate::front::profiles::Profiles`] for profiles), never a source,
//! and answers failures through [`answer`], the one error edge.
//!
//! * [`ecs`]: the ECS container credentials endpoint for bindings;
//! * [`imds`]: EC2 instance metadata (IMDSv1/v2) emulation, for a binding, one identity or a
//!   desktop profile;
//! * [`desktop`] and `page`: the desktop servers' management API, ECS endpoint and browser
//!   page;
//! * `exec`: a command run with a profile's credentials;
//! * `update`: the shared credentials file kept fresh;
//! * [`metrics`] and [`status`]: `serve`'s metrics endpoint and status socket, each on a
//!   listener of its own;
//! * `credential_process` output is [`crate::credentials::Credentials::to_credential_process_json`].

pub mod answer;
pub mod desktop;
pub mod ecs;
pub(crate) mod exec;
pub mod imds;
pub(crate) mod login;
pub(crate) mod memo;
pub mod metrics;
pub(crate) mod page;
pub mod profiles;
pub(crate) mod rendered;
pub(crate) mod roles;
pub(crate) mod signin;
pub mod status;
pub mod token_file;
pub(crate) mod update;
pub mod vend;
