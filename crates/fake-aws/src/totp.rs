//! Time-based one-time passwords as virtual MFA devices make them, for the fake STS and for
//! tests that must type the right code.
//!
//! Contract:
//! * [`hotp`] is RFC 4226 HOTP: HMAC-SHA1 of the 8-byte big-endian counter, dynamic
//!   truncation, the low `digits` decimal digits with leading zeros kept.
//! * [`totp`] is RFC 6238 TOTP with the parameters of AWS virtual MFA devices: the counter is
//!   `floor(unix_time / 30)`, HMAC-SHA1, 6 digits, of a secret given in RFC 4648 base32.
//! * [`base32_decode`] accepts the RFC 4648 alphabet in either case, with or without `=`
//!   padding; anything else is refused (`None`). [`base32_encode`] writes uppercase with
//!   padding.
//!
//! Written apart from the product's `needroleshere::aws::mfa` on purpose, as the fakes verify
//! signatures with their own code: the fake STS checks codes with this one, so a bug in the
//! client's TOTP fails a test instead of agreeing with itself.

use ring::hmac;

/// The TOTP time step of AWS virtual MFA devices, in seconds.
pub const STEP_SECONDS: i64 = 30;
/// The number of digits of an AWS MFA code.
pub const DIGITS: u32 = 6;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The RFC 6238 code (HMAC-SHA1, 30 s steps, 6 digits) of a base32 secret at a unix time.
///
/// An invalid base32 secret or a time before 1970 yields an empty string, which no check
/// accepts; use [`totp_step`] and [`base32_decode`] to tell these cases apart.
pub fn totp(base32_secret: &str, unix_time: i64) -> String {
    match (base32_decode(base32_secret), step_of(unix_time)) {
        (Some(key), Some(step)) => hotp(&key, step, DIGITS),
        _ => String::new(),
    }
}

/// The code of time step `step` (= `unix_time / 30`), or `None` for an invalid secret.
pub fn totp_step(base32_secret: &str, step: u64) -> Option<String> {
    base32_decode(base32_secret).map(|key| hotp(&key, step, DIGITS))
}

/// The time step a unix time falls in, `None` before 1970.
pub fn step_of(unix_time: i64) -> Option<u64> {
    u64::try_from(unix_time.div_euclid(STEP_SECONDS)).ok()
}

/// RFC 4226 HOTP: `digits` (at most 9) decimal digits, leading zeros kept.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // SHA-1 tags are 20 bytes, so the offset (at most 15) plus 4 stays inside the tag.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let digits = digits.min(9);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// RFC 4648 base32 decoding (either case, optional `=` padding).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for byte in text.bytes() {
        let upper = byte.to_ascii_uppercase();
        let value = ALPHABET.iter().position(|&c| c == upper)?;
        // `position` in a 32-entry table is below 32.
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding, and a lone 1, 3 or 6 characters cannot end a group.
    if buffer != 0 || matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    Some(out)
}

/// RFC 4648 base32 encoding, uppercase, `=`-padded to a multiple of 8 characters.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize],
        ));
    }
    while !out.len().is_multiple_of(8) {
        out.push('=');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B, the SHA-1 rows (8 digits).
    const RFC_6238_SHA1: &[(i64, &str)] = &[
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ];

    #[test]
    fn rfc_6238_sha1_vectors() {
        let secret = base32_encode(RFC_SEED);
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for &(time, expected) in RFC_6238_SHA1 {
            let step = step_of(time).unwrap();
            assert_eq!(hotp(RFC_SEED, step, 8), expected, "t={time}");
            assert_eq!(totp(&secret, time), expected[2..], "t={time}");
            assert_eq!(totp_step(&secret, step).unwrap(), expected[2..]);
        }
        // Leading zeros are kept.
        assert_eq!(totp(&secret, 1111111109), "081804");
        assert_eq!(totp(&secret.to_lowercase(), 59), "287082");
        assert_eq!(totp(secret.trim_end_matches('='), 59), "287082");
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SEED, counter as u64, 6), *code);
        }
    }

    #[test]
    fn steps_are_thirty_seconds() {
        let secret = base32_encode(RFC_SEED);
        assert_eq!(totp(&secret, 60), totp(&secret, 89));
        assert_ne!(totp(&secret, 89), totp(&secret, 90));
        assert_eq!(step_of(-1), None);
        assert_eq!(totp(&secret, -1), "");
        assert_eq!(totp("not base32!", 59), "");
    }

    #[test]
    fn base32_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("MZXW1"), None);
        assert_eq!(base32_decode("M"), None);
        assert_eq!(base32_decode("MZ"), None, "non-zero leftover bits");
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded = base32_encode(&bytes);
            prop_assert_eq!(base32_decode(&encoded).unwrap(), bytes.clone());
            prop_assert_eq!(base32_decode(&encoded.to_lowercase()).unwrap(), bytes);
        }
    }
}
