//! How a domain rule refuses a value a client sent: the field, and why. The HTTP edge answers it
//! as 422 `invalid_field` naming that field.

/// A value that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct InvalidField {
    pub field: String,
    pub detail: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
