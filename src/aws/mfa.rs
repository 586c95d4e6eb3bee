//! MFA one-time codes: RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits, leading zeros
//! kept) from a base32 (RFC 4648) secret, as virtual MFA devices and authenticator apps use.
//! With the secret in the profile (`mfa_totp_secret` or `mfa_totp_secret_file`) codes are
//! generated here and no person is asked.

use std::fmt;

use crate::secret::Secret;

const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;

/// Why a TOTP secret or code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    #[error("the MFA secret is not base32 (letters A-Z and digits 2-7)")]
    BadSecret,
    #[error("an MFA code is 6 digits, not {0:?}")]
    BadCode(String),
}

/// A TOTP secret, decoded.
#[derive(Clone)]
pub struct TotpSecret(zeroize::Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// Decodes base32 text: case-insensitive, spaces and `=` padding ignored (authenticator
    /// apps show secrets in groups of four).
    pub fn from_base32(text: &Secret) -> Result<Self, MfaError> {
        let mut bits: u64 = 0;
        let mut count = 0u32;
        let mut out = Vec::new();
        for c in text
            .expose()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
        {
            let value = match c.to_ascii_uppercase() {
                c @ 'A'..='Z' => c as u64 - 'A' as u64,
                c @ '2'..='7' => c as u64 - '2' as u64 + 26,
                _ => return Err(MfaError::BadSecret),
            };
            bits = (bits << 5) | value;
            count += 5;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        if out.is_empty() {
            return Err(MfaError::BadSecret);
        }
        Ok(Self(zeroize::Zeroizing::new(out)))
    }

    /// The code for the 30-second step containing `unix_time`.
    pub fn code_at(&self, unix_time: i64) -> MfaCode {
        MfaCode(format!(
            "{:0width$}",
            hotp(&self.0, unix_time.div_euclid(STEP_SECONDS) as u64, DIGITS),
            width = DIGITS as usize
        ))
    }
}

/// RFC 4226 HOTP value of `counter`, `digits` long.
fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = ring::hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    value % 10u32.pow(digits)
}

/// A six-digit MFA code as typed or generated.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaCode(String);

impl MfaCode {
    /// Checks the format: exactly six ASCII digits (surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self, MfaError> {
        let text = text.trim();
        if text.len() == DIGITS as usize && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(MfaError::BadCode(text.chars().take(20).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the secret is ASCII "12345678901234567890".
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_vectors() {
        let secret = TotpSecret::from_base32(&Secret::new(RFC_SECRET)).unwrap();
        assert_eq!(&*secret.0, b"12345678901234567890");
        for (time, eight_digits) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            let counter = (time / 30) as u64;
            assert_eq!(
                format!("{:08}", hotp(&secret.0, counter, 8)),
                eight_digits,
                "t={time}"
            );
            assert_eq!(
                secret.code_at(time).as_str(),
                &eight_digits[2..],
                "t={time}"
            );
        }
    }

    #[test]
    fn leading_zeros_are_kept() {
        let secret = TotpSecret::from_base32(&Secret::new(RFC_SECRET)).unwrap();
        // At t=1111111109 the 8-digit code is 07081804; its last six are 081804.
        assert_eq!(secret.code_at(1111111109).as_str(), "081804");
        // Find a six-digit code starting with 0 and check its width.
        let zero = (0..200_000i64)
            .map(|step| secret.code_at(step * 30))
            .find(|c| c.as_str().starts_with('0'))
            .unwrap();
        assert_eq!(zero.as_str().len(), 6);
    }

    #[test]
    fn base32_is_lenient_about_case_spaces_and_padding() {
        let a = TotpSecret::from_base32(&Secret::new("gezd gnbv gy3t qojq")).unwrap();
        let b = TotpSecret::from_base32(&Secret::new("GEZDGNBVGY3TQOJQ====")).unwrap();
        assert_eq!(&*a.0, &*b.0);
        assert_eq!(
            TotpSecret::from_base32(&Secret::new("not base32!")).unwrap_err(),
            MfaError::BadSecret
        );
        assert!(TotpSecret::from_base32(&Secret::new("")).is_err());
        assert!(!format!("{a:?}").contains("12345"));
    }

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(MfaCode::parse(" 012345 ").unwrap().as_str(), "012345");
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６"] {
            assert!(MfaCode::parse(bad).is_err(), "{bad}");
        }
    }
}
