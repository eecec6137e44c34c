//! The one set of environment helpers every builder uses: a variable that must be set, one
//! that may be, and one parsed into a value with a default. A blank value counts as unset;
//! errors name the variable and what it should hold.

use std::str::FromStr;

use super::ConfigError;

/// `name`'s value; [`ConfigError::Missing`] when it is unset or blank.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// `name`'s value, or `None` when it is unset or blank.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `name` parsed as a `T`, `default` when unset; `what` says what it should be in the
/// error (e.g. "milliseconds": "X must be milliseconds, got \"abc\"").
pub fn parse<T: FromStr>(name: &'static str, default: T, what: &str) -> Result<T, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("{name} must be {what}, got {v:?}"))),
    }
}

/// Is `name` set to `1`?
pub fn flag(name: &str) -> bool {
    optional(name).as_deref() == Some("1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_unset_and_errors_name_the_variable() {
        // Names no other test sets.
        std::env::set_var("PLATEFULL_TEST_ENV_BLANK", "  ");
        std::env::set_var("PLATEFULL_TEST_ENV_NUMBER", "250");
        std::env::set_var("PLATEFULL_TEST_ENV_WORD", "soon");
        assert_eq!(optional("PLATEFULL_TEST_ENV_BLANK"), None);
        assert_eq!(
            required("PLATEFULL_TEST_ENV_BLANK")
                .unwrap_err()
                .to_string(),
            "environment variable PLATEFULL_TEST_ENV_BLANK is required"
        );
        assert_eq!(parse("PLATEFULL_TEST_ENV_NUMBER", 3u64, "ms").unwrap(), 250);
        assert_eq!(parse("PLATEFULL_TEST_ENV_BLANK", 3u64, "ms").unwrap(), 3);
        assert_eq!(
            parse("PLATEFULL_TEST_ENV_WORD", 3u64, "milliseconds")
                .unwrap_err()
                .to_string(),
            "PLATEFULL_TEST_ENV_WORD must be milliseconds, got \"soon\""
        );
        assert!(!flag("PLATEFULL_TEST_ENV_NUMBER"));
    }
}
