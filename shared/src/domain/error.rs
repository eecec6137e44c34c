//! What domain validation says about a request: a field that fails a rule, or a request
//! that can't be carried out as sent. Domain code knows nothing of HTTP; `crate::http` turns
//! a [`DomainError`] into its `ApiError` (a 400 with this code, message and field).
//!
//! A field is named by its JSON path: a plain name (`messageLimit`) or, inside nested
//! documents such as the menu, a path built at run time (`categories[2].items[0].priceCents`),
//! hence a `Cow`: static names cost nothing, paths are owned.

use std::borrow::Cow;

/// A request the domain rules refuse. `Display` is the message shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field that fails validation (code `validation_error`, with the field named).
    #[error("{message}")]
    Invalid {
        field: Cow<'static, str>,
        message: String,
    },
    /// A request refused as a whole, with its own code (e.g. `nothing_to_update`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field this error names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            DomainError::Invalid { field, .. } => Some(field),
            DomainError::Refused { .. } => None,
        }
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Refused {
            code,
            message: message.into(),
        }
    }
}
