//! Text of a menu parsed from a request body without copying it: [`Borrowed`] points into
//! the body where the JSON string has no escapes (nearly all of a menu) and owns its text
//! only where it had to unescape. A 500-item menu has about 15,000 strings; parsing them
//! borrowed instead of into `String`s takes a third off the parse of a `PUT /menu` body and
//! leaves almost nothing to free afterwards.
//!
//! [`MenuText`] is what the menu's checks and its encoding need of a text, so the very same
//! [`crate::domain::menu::Menu::validate`] and `knowledge::encode_menu` run on a menu of
//! `String`s (kept, read, edited) and on one of [`Borrowed`] (a body being saved).

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A menu's text: `String`, or [`Borrowed`] from a request body.
pub trait MenuText: AsRef<str> + Serialize {
    /// Drops leading and trailing whitespace (a borrowed text narrows, without copying).
    fn trim(&mut self);
}

impl MenuText for String {
    fn trim(&mut self) {
        let trimmed = str::trim(self);
        if trimmed.len() != self.len() {
            *self = trimmed.to_owned();
        }
    }
}

/// A string of a request body: borrowed from it when it had no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Borrowed<'a>(Cow<'a, str>);

impl AsRef<str> for Borrowed<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl MenuText for Borrowed<'_> {
    fn trim(&mut self) {
        match &mut self.0 {
            Cow::Borrowed(text) => *text = str::trim(text),
            Cow::Owned(text) => MenuText::trim(text),
        }
    }
}

impl Serialize for Borrowed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Borrowed<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                // What serde says of a `String`, so errors read the same either way.
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Borrowed(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_owns_unescaped_ones() {
        let body = r#"["  Média  ", "Pizza \"da casa\"", "a\u00e9"]"#;
        let mut texts: Vec<Borrowed> = serde_json::from_str(body).unwrap();
        assert!(matches!(texts[0].0, Cow::Borrowed(_)));
        assert!(matches!(texts[1].0, Cow::Owned(_)));
        assert_eq!(texts[1].as_ref(), "Pizza \"da casa\"");
        assert_eq!(texts[2].as_ref(), "aé");
        for text in &mut texts {
            text.trim();
        }
        assert_eq!(texts[0].as_ref(), "Média");
        assert!(matches!(texts[0].0, Cow::Borrowed(_)));
        assert_eq!(
            serde_json::to_string(&texts).unwrap(),
            r#"["Média","Pizza \"da casa\"","aé"]"#
        );
        // Not a string: refused as a `String` is.
        let err = serde_json::from_str::<Borrowed>("12")
            .unwrap_err()
            .to_string();
        let same = serde_json::from_str::<String>("12")
            .unwrap_err()
            .to_string();
        assert_eq!(err, same);
    }
}
