//! Field rules shared by the dashboard API's inputs: bounded text and E.164 numbers. A broken
//! rule names the field; `routes::problem` turns it into a 422 `invalid_field`.

/// A field that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct InvalidField {
    pub field: &'static str,
    pub detail: String,
}

impl InvalidField {
    pub fn new(field: &'static str, detail: impl Into<String>) -> Self {
        InvalidField {
            field,
            detail: detail.into(),
        }
    }
}

/// A text field within bounds (trimmed).
pub fn text(
    field: &'static str,
    v: Option<String>,
    max: usize,
    required: bool,
) -> Result<String, InvalidField> {
    let v = v.map(|s| s.trim().to_string()).unwrap_or_default();
    if required && v.is_empty() {
        return Err(InvalidField::new(field, format!("{field} is required")));
    }
    if v.chars().count() > max {
        return Err(InvalidField::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(v)
}

/// An E.164 number (`+` and 7–15 digits).
pub fn e164(field: &'static str, v: &str) -> Result<String, InvalidField> {
    let v = v.trim();
    let digits = v.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(v.to_string())
    } else {
        Err(InvalidField::new(
            field,
            format!("{field} must be an E.164 number like +15550123400"),
        ))
    }
}
