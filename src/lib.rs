//! needroleshere: short-lived AWS credentials from IAM Roles Anywhere.
#![forbid(unsafe_code)]

pub mod clock;
pub mod secret;

#[cfg(feature = "test-util")]
pub mod testutil;
