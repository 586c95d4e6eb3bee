//! AWS protocols, as pure as they can be: the AWS4-X509 signer ([`sign`]), the IAM Roles
//! Anywhere `CreateSession` client ([`rolesanywhere`]) and the STS client ([`sts`]). They
//! know how to ask AWS; the [`crate::source`]s decide when.

pub mod rolesanywhere;
pub mod sign;
pub mod sts;
