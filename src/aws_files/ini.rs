//! The ini dialect of the AWS shared files
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>), one line at a time,
//! for both readers of those files: the profile reader ([`super::profiles`]) and the
//! credentials-file editor ([`super::credentials_file`]), so the two never disagree on what a
//! line is.
//!
//! * Blank lines and lines starting with `#` or `;` are comments.
//! * An indented line continues the setting above it (nested settings such as `s3 =`).
//! * `[NAME]` starts a section; only a comment may follow it on its line. (botocore
//!   ignores any text after the `]`; both readers here refuse it rather than guess what a
//!   line like `[work] trailing words` meant, and the editor leaves such a file untouched.)
//! * `key = value` is a setting; in the value, a `#` or `;` after whitespace starts a
//!   comment.

/// What one line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// Blank or a comment.
    Blank,
    /// An indented line, continuing the setting above.
    Continuation,
    /// `[NAME]`: the name, trimmed.
    Section(&'a str),
    /// `key = value`: both trimmed, the value without its inline comment.
    Setting { key: &'a str, value: &'a str },
}

/// Reads one line (without its line terminator); the error says what is wrong with it.
pub(crate) fn lex(line: &str) -> Result<Line<'_>, &'static str> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
        return Ok(Line::Blank);
    }
    if line.starts_with([' ', '\t']) {
        return Ok(Line::Continuation);
    }
    if let Some(rest) = trimmed.strip_prefix('[') {
        let (name, after) = rest.split_once(']').ok_or("a section header without ']'")?;
        let after = after.trim_start();
        if !after.is_empty() && !after.starts_with(['#', ';']) {
            return Err("text after a section header's ']' (only a comment may follow it)");
        }
        return Ok(Line::Section(name.trim()));
    }
    let (key, value) = trimmed
        .split_once('=')
        .ok_or("expected `key = value`, a [section], a comment or a blank line")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("a setting without a name before '='");
    }
    Ok(Line::Setting {
        key,
        value: strip_inline_comment(value.trim()),
    })
}

/// `value # comment` → `value` (a `#` or `;` after whitespace starts a comment).
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_line() {
        assert_eq!(lex(""), Ok(Line::Blank));
        assert_eq!(lex("  # note"), Ok(Line::Blank));
        assert_eq!(lex("; note"), Ok(Line::Blank));
        assert_eq!(lex("  s3 ="), Ok(Line::Continuation));
        assert_eq!(lex("\tmax = 1"), Ok(Line::Continuation));
        assert_eq!(lex("[profile a]"), Ok(Line::Section("profile a")));
        assert_eq!(lex("[ ci ] # the CI role"), Ok(Line::Section("ci")));
        assert_eq!(
            lex("region = eu-west-1 # home"),
            Ok(Line::Setting {
                key: "region",
                value: "eu-west-1"
            })
        );
        assert_eq!(
            lex("token=a#b"),
            Ok(Line::Setting {
                key: "token",
                value: "a#b"
            })
        );
        assert_eq!(
            lex("empty ="),
            Ok(Line::Setting {
                key: "empty",
                value: ""
            })
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(lex("[profile a"), Err("a section header without ']'"));
        assert!(
            lex("[ci] junk")
                .unwrap_err()
                .contains("after a section header")
        );
        assert!(lex("[ci] x]").is_err());
        assert!(lex("just words").unwrap_err().contains("key = value"));
        assert_eq!(
            lex(" = value".trim_start()),
            Err("a setting without a name before '='")
        );
    }
}
