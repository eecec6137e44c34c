//! Small validation helpers shared by the request types, so every field is checked the
//! same way and every message reads the same.

use std::borrow::Cow;

use super::error::DomainError;

/// The zone of a store that names none: Brasília time.
pub const DEFAULT_TIMEZONE: &str = "America/Sao_Paulo";

/// An IANA time zone name known to jiff's bundled tz database (`America/Manaus`, …).
pub fn time_zone(field: &'static str, zone: &str) -> Result<String, DomainError> {
    let zone = zone.trim();
    if zone.is_empty() || jiff::tz::TimeZone::get(zone).is_err() {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be an IANA time zone such as {DEFAULT_TIMEZONE} (got {zone:?})"),
        ));
    }
    Ok(zone.to_owned())
}

/// Why a text fails [`check_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    TooShort,
    /// Its length in characters.
    TooLong(usize),
    Control,
}

/// The rules of [`text`] without naming a field or allocating: the trimmed text, or why it
/// fails (for documents with thousands of texts, whose paths are only built on failure).
pub fn check_text(
    value: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<&str, TextProblem> {
    let value = value.trim();
    let (len, bad_control) = scan(value, multiline);
    if len < min {
        return Err(TextProblem::TooShort);
    }
    if len > max {
        return Err(TextProblem::TooLong(len));
    }
    if bad_control {
        return Err(TextProblem::Control);
    }
    Ok(value)
}

/// A text's length in characters and whether it holds a control character (`char::
/// is_control`: U+0000–U+001F, U+007F–U+009F), tabs and line breaks allowed in `multiline`
/// text. One pass over the bytes, which the compiler vectorizes: a 500-item menu's ~15,000
/// texts are checked on every save, and walking each as `char`s twice (count, then
/// controls) was a tenth of its CPU. A character is a byte that doesn't continue one
/// (`10xxxxxx`); U+0080–U+009F are the two bytes `C2 80`–`C2 9F`.
fn scan(value: &str, multiline: bool) -> (usize, bool) {
    let mut chars = 0;
    let mut bad = false;
    let mut previous = 0u8;
    for &byte in value.as_bytes() {
        chars += usize::from(byte & 0xC0 != 0x80);
        let line = multiline && matches!(byte, b'\n' | b'\t' | b'\r');
        bad |= (byte < 0x20 && !line) || byte == 0x7f || (previous == 0xC2 && byte < 0xA0);
        previous = byte;
    }
    (chars, bad)
}

/// The error for a text that failed [`check_text`].
pub fn text_error(
    field: impl Into<Cow<'static, str>>,
    problem: TextProblem,
    min: usize,
    max: usize,
) -> DomainError {
    let field = field.into();
    let message = match problem {
        TextProblem::TooShort if min == 1 => format!("{field} must not be empty"),
        TextProblem::TooShort => format!("{field} must have at least {min} characters"),
        TextProblem::TooLong(len) => {
            format!("{field} must have at most {max} characters (got {len})")
        }
        TextProblem::Control => format!("{field} contains control characters"),
    };
    DomainError::invalid(field, message)
}

/// Trims `value` and checks its length in characters; control characters other than
/// newlines and tabs are refused (they have no business in names and prompts).
pub fn text(
    field: impl Into<Cow<'static, str>>,
    value: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, DomainError> {
    check_text(value, min, max, multiline)
        .map(str::to_owned)
        .map_err(|problem| text_error(field, problem, min, max))
}

/// Checks an integer against an inclusive range.
pub fn range(
    field: impl Into<Cow<'static, str>>,
    value: i64,
    min: i64,
    max: i64,
    unit: &str,
) -> Result<u32, DomainError> {
    let field = field.into();
    if value < min || value > max {
        return Err(DomainError::invalid(
            field.clone(),
            format!("{field} must be between {min} and {max}{unit} (got {value})"),
        ));
    }
    Ok(value.clamp(0, u32::MAX as i64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_counts_characters_not_bytes() {
        assert_eq!(
            text("name", "  Pizzaria São João  ", 1, 80, false).unwrap(),
            "Pizzaria São João"
        );
        assert!(text("name", "   ", 1, 80, false).is_err());
        assert!(text("name", &"ç".repeat(80), 1, 80, false).is_ok());
        assert!(text("name", &"ç".repeat(81), 1, 80, false).is_err());
        assert!(text("name", "a\u{0}b", 1, 80, false).is_err());
        assert!(text("basePrompt", "a\nb", 0, 80, true).is_ok());
        assert!(text("name", "a\nb", 0, 80, false).is_err());
        // The ASCII path and the other one give the same answers.
        assert!(text("name", &"a".repeat(80), 1, 80, false).is_ok());
        assert_eq!(
            check_text(&"a".repeat(81), 1, 80, false),
            Err(TextProblem::TooLong(81))
        );
        for (ascii, other) in [
            ("a\u{7f}b", "ç\u{7f}b"),
            ("a\rb", "ç\rb"),
            ("a\u{1b}b", "ç\u{85}b"),
        ] {
            assert_eq!(check_text(ascii, 0, 80, false), Err(TextProblem::Control));
            assert_eq!(check_text(other, 0, 80, false), Err(TextProblem::Control));
        }
        assert!(text("basePrompt", "ç\r\n\tb", 0, 80, true).is_ok());
        // The one-pass scan agrees with counting and testing `char`s, on every character
        // up to U+0800 (one and two bytes) and around longer ones.
        let by_chars = |text: &str, multiline: bool| {
            let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
            (
                text.chars().count(),
                text.chars().any(|c| c.is_control() && !allowed(c)),
            )
        };
        let samples = (0u32..0x800)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}ç"))
            .chain(
                [
                    "🍕\u{85}",
                    "\u{2028}\u{fffd}",
                    "Média\u{9f}",
                    "ã\u{a0}",
                    "\u{10ffff}",
                ]
                .map(String::from),
            );
        for text in samples {
            for multiline in [false, true] {
                assert_eq!(
                    scan(&text, multiline),
                    by_chars(&text, multiline),
                    "{text:?}"
                );
            }
        }
        assert_eq!(
            check_text("ç\u{7f}", 0, 80, true),
            Err(TextProblem::Control)
        );
    }

    #[test]
    fn range_is_inclusive() {
        assert_eq!(range("messageLimit", 1, 1, 200, "").unwrap(), 1);
        assert_eq!(range("messageLimit", 200, 1, 200, "").unwrap(), 200);
        assert!(range("messageLimit", 0, 1, 200, "").is_err());
        assert!(range("messageLimit", 201, 1, 200, "").is_err());
    }
}
