//! AWS protocols, as pure as they can be: the AWS4-X509 signer ([`sign`]), the IAM Roles
//! Anywhere `CreateSession` client ([`rolesanywhere`]), the STS client ([`sts`]), the IAM
//! Identity Center OIDC and portal client ([`sso`]), the MFA
//! codes STS takes ([`mfa`]: RFC 6238 TOTP) and how both clients tell a refusal for a wrong
//! clock ([`clock_skew`]). They
//! know how to ask AWS; the [`crate::source`]s decide when.

pub mod clock_skew;
pub mod mfa;
pub mod rolesanywhere;
pub mod sign;
pub mod sso;
pub mod sts;
