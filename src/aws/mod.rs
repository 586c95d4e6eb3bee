//! AWS protocols, as pure as they can be: the AWS4-X509 signer ([`sign`]), the IAM Roles
//! Anywhere `CreateSession` client ([`rolesanywhere`]), the STS client ([`sts`]) and the MFA
//! codes STS takes ([`mfa`]: RFC 6238 TOTP). They
//! know how to ask AWS; the [`crate::source`]s decide when.

pub mod mfa;
pub mod rolesanywhere;
pub mod sign;
pub mod sts;
