//! Small validation helpers shared by the request types, so every field is checked the
//! same way and every message reads the same.

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

/// Trims `value` and checks its length in characters; control characters other than
/// newlines and tabs are refused (they have no business in names and prompts).
pub fn text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, DomainError> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min {
        return Err(DomainError::invalid(
            field,
            if min == 1 {
                format!("{field} must not be empty")
            } else {
                format!("{field} must have at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must have at most {max} characters (got {len})"),
        ));
    }
    let bad_control = value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')));
    if bad_control {
        return Err(DomainError::invalid(
            field,
            format!("{field} contains control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Checks an integer against an inclusive range.
pub fn range(
    field: &'static str,
    value: i64,
    min: i64,
    max: i64,
    unit: &str,
) -> Result<u32, DomainError> {
    if value < min || value > max {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be between {min} and {max}{unit} (got {value})"),
        ));
    }
    Ok(value as u32)
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
    }

    #[test]
    fn range_is_inclusive() {
        assert_eq!(range("messageLimit", 1, 1, 200, "").unwrap(), 1);
        assert_eq!(range("messageLimit", 200, 1, 200, "").unwrap(), 200);
        assert!(range("messageLimit", 0, 1, 200, "").is_err());
        assert!(range("messageLimit", 201, 1, 200, "").is_err());
    }
}
