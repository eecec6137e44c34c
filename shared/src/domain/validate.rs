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
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    // Most texts are ASCII: one byte per character, and its only control characters are
    // the C0 ones and DEL (a 500-item menu's texts are checked in every save).
    let (len, bad_control) = if value.is_ascii() {
        let bad = value
            .bytes()
            .any(|b| (b < 0x20 || b == 0x7f) && !allowed(b as char));
        (value.len(), bad)
    } else {
        let bad = value.chars().any(|c| c.is_control() && !allowed(c));
        (value.chars().count(), bad)
    };
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
