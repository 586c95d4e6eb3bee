//! Clock skew: AWS refuses a signed request whose `X-Amz-Date` is more than 5 minutes from
//! its own clock, and says so only in its error message. This module recognises such a
//! refusal and measures how far this machine's clock is off, so the error can tell the
//! person to fix the clock rather than to look at keys or policies.
//!
//! Contract:
//! * [`is_skew_refusal`]: the wordings AWS uses for a request time out of its window, in
//!   every service's error shape: `Signature expired: T is now earlier than …` and
//!   `Signature not yet current: T is still later than …` (STS `SignatureDoesNotMatch`,
//!   JSON services `InvalidSignatureException`, IAM Roles Anywhere
//!   `AccessDeniedException`), the codes `RequestExpired` and `RequestTimeTooSkewed`.
//!   Not `ExpiredToken`: expired credentials are not a clock problem.
//! * [`ClockSkew::measure`]: the offset of this machine's clock from the answer's `Date`
//!   header (RFC 9110 IMF-fixdate, whole seconds), when there is one.
//! * [`ClockSkew`]'s `Display` is the advice, one line: "this machine's clock is N minutes
//!   behind AWS; fix the clock (NTP)", or "check the clock" when the offset is unknown.
//!
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html>.

use std::fmt;

use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Whether an AWS refusal (`code` as the service gave it, its `message`) says the request's
/// time was outside the service's window; see the module docs.
pub fn is_skew_refusal(code: Option<&str>, message: &str) -> bool {
    if matches!(code, Some("RequestExpired" | "RequestTimeTooSkewed")) {
        return true;
    }
    let message = message.trim_start().to_ascii_lowercase();
    message.starts_with("signature expired") || message.starts_with("signature not yet current")
}

/// How far this machine's clock is from AWS's, as far as an answer shows; see the module
/// docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew {
    /// This machine's clock minus AWS's (negative: behind), when the answer had a `Date`.
    pub offset: Option<Duration>,
}

impl ClockSkew {
    /// The skew shown by an answer's `Date` header (`date`), read at `now` on this machine's
    /// clock. An unreadable or missing header leaves the offset unknown.
    pub fn measure(date: Option<&str>, now: OffsetDateTime) -> Self {
        Self {
            offset: date.and_then(parse_http_date).map(|aws| now - aws),
        }
    }
}

/// Offsets under this are within what a `Date` header's whole seconds and the time on the
/// wire can show: the answer does not say which clock is wrong.
const MEASURABLE: Duration = Duration::MINUTE;

impl fmt::Display for ClockSkew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) if offset.abs() >= MEASURABLE => {
                let minutes = (offset.abs().whole_seconds() + 30) / 60;
                let unit = if minutes == 1 { "minute" } else { "minutes" };
                let direction = if offset.is_negative() {
                    "behind"
                } else {
                    "ahead of"
                };
                write!(
                    f,
                    "this machine's clock is {minutes} {unit} {direction} AWS; fix the clock \
                     (NTP)"
                )
            }
            _ => f.write_str(
                "AWS refused the request's time as more than 5 minutes off its own; check the \
                 clock of this machine (NTP)",
            ),
        }
    }
}

/// Parses an HTTP date in the IMF-fixdate form every AWS service sends:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// AWS's clock as an answer shows it (its `Date` header), and ours when it arrived.
#[derive(Debug, Clone)]
pub struct AnswerTime {
    date: Option<String>,
    at: OffsetDateTime,
}

impl AnswerTime {
    /// Read as soon as the answer arrives (`now`), before its body.
    pub fn of(response: &reqwest::Response, now: OffsetDateTime) -> Self {
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self { date, at: now }
    }

    /// How far this machine's clock is off, as far as the answer tells.
    pub fn skew(&self) -> ClockSkew {
        ClockSkew::measure(self.date.as_deref(), self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn recognises_the_skew_wordings_of_each_service() {
        for (code, message) in [
            (
                Some("SignatureDoesNotMatch"),
                "Signature expired: 20160609T184512Z is now earlier than 20160610T013008Z \
                 (20160610T014508Z - 15 min.)",
            ),
            (
                Some("SignatureDoesNotMatch"),
                "Signature not yet current: 20260102T031005Z is still later than \
                 20260102T030905Z (20260102T030405Z + 5 min.)",
            ),
            (
                Some("AccessDeniedException"),
                "Signature expired: 20260102T025405Z is now earlier than 20260102T025905Z",
            ),
            (Some("RequestExpired"), "Request has expired."),
            (Some("RequestTimeTooSkewed"), "The difference is too large."),
        ] {
            assert!(is_skew_refusal(code, message), "{code:?} {message}");
        }
        for (code, message) in [
            (
                Some("ExpiredToken"),
                "The security token included in the request is expired",
            ),
            (
                Some("AccessDeniedException"),
                "Untrusted signing certificate",
            ),
            (
                Some("SignatureDoesNotMatch"),
                "The request signature we calculated does not match",
            ),
        ] {
            assert!(!is_skew_refusal(code, message), "{code:?} {message}");
        }
    }

    #[test]
    fn measures_the_offset_from_the_date_header() {
        let aws = "Fri, 02 Jan 2026 03:04:05 GMT";
        let behind = ClockSkew::measure(Some(aws), datetime!(2026-01-02 02:54:04 UTC));
        assert_eq!(behind.offset, Some(-Duration::seconds(601)));
        assert_eq!(
            behind.to_string(),
            "this machine's clock is 10 minutes behind AWS; fix the clock (NTP)"
        );
        let ahead = ClockSkew::measure(Some(aws), datetime!(2026-01-02 03:05:10 UTC));
        assert_eq!(
            ahead.to_string(),
            "this machine's clock is 1 minute ahead of AWS; fix the clock (NTP)"
        );
        // Within a minute the answer cannot tell; nor without (or with a bad) Date header.
        for unknown in [
            ClockSkew::measure(Some(aws), datetime!(2026-01-02 03:04:10 UTC)),
            ClockSkew::measure(None, datetime!(2026-01-02 03:04:10 UTC)),
            ClockSkew::measure(Some("yesterday"), datetime!(2026-01-02 03:04:10 UTC)),
        ] {
            assert!(unknown.to_string().contains("check the clock"), "{unknown}");
        }
    }
}
