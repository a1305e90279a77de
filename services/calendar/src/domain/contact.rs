//! The patient's contact fields as a booking carries them: trimmed, bounded, the phone in E.164;
//! and the reason given for a cancellation.

use super::invalid::InvalidField;

/// Contact fields, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
}

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `+` and 7–15 digits, no leading zero.
pub fn is_e164(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

impl Contact {
    /// Trims every field (blank is absent) and checks each against its rule.
    pub fn validate(
        name: Option<String>,
        phone: Option<String>,
        email: Option<String>,
        notes: Option<String>,
    ) -> Result<Contact, InvalidField> {
        let (name, phone, email, notes) = (
            trimmed(name),
            trimmed(phone),
            trimmed(email),
            trimmed(notes),
        );
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(InvalidField::new(
                "contact_name",
                "contact_name must be at most 200 characters",
            ));
        }
        if phone.as_deref().is_some_and(|p| !is_e164(p)) {
            return Err(InvalidField::new(
                "contact_phone",
                "contact_phone must be E.164, e.g. +15550100123",
            ));
        }
        if email.as_deref().is_some_and(|e| {
            e.len() > 320 || !e.contains('@') || e.starts_with('@') || e.ends_with('@')
        }) {
            return Err(InvalidField::new(
                "contact_email",
                "contact_email is not an email address",
            ));
        }
        if notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(InvalidField::new(
                "notes",
                "notes must be at most 2000 characters",
            ));
        }
        Ok(Contact {
            name,
            phone,
            email,
            notes,
        })
    }
}

/// The reason of a cancellation: trimmed (blank is absent), at most 500 characters.
pub fn cancel_reason(reason: Option<String>) -> Result<Option<String>, InvalidField> {
    let reason = trimmed(reason);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(InvalidField::new(
            "reason",
            "reason must be at most 500 characters",
        ));
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_e164() {
        assert!(is_e164("+15550100123"));
        assert!(!is_e164("15550100123"));
        assert!(!is_e164("+05550100123"));
        assert!(!is_e164("+1555"));
    }

    #[test]
    fn blank_fields_are_absent_and_bad_ones_name_their_field() {
        let c = Contact::validate(Some("  ".into()), None, None, Some(" hi ".into())).unwrap();
        assert_eq!(c.name, None);
        assert_eq!(c.notes.as_deref(), Some("hi"));
        let e = Contact::validate(None, Some("555".into()), None, None).unwrap_err();
        assert_eq!(e.field, "contact_phone");
        let e = Contact::validate(None, None, Some("@x".into()), None).unwrap_err();
        assert_eq!(e.field, "contact_email");
        assert_eq!(
            cancel_reason(Some("x".repeat(501))).unwrap_err().field,
            "reason"
        );
    }
}
