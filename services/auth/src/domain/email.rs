//! Email addresses: a light syntax check and the normalized form used for uniqueness.

/// Trims and validates an address; returns `(as given, normalized)` or why it is refused.
pub fn parse(raw: &str) -> Result<(String, String), &'static str> {
    let email = raw.trim();
    if email.len() < 3 || email.len() > 254 {
        return Err("email must be 3 to 254 characters");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("email must contain @");
    };
    if local.is_empty() || local.len() > 64 {
        return Err("email has an invalid local part");
    }
    if domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err("email has an invalid domain");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("email must not contain spaces");
    }
    Ok((email.to_string(), email.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use crate::domain::email::parse;

    #[test]
    fn normalizes_and_refuses() {
        assert_eq!(
            parse("  Lee@Cedar.Example ").unwrap(),
            ("Lee@Cedar.Example".into(), "lee@cedar.example".into())
        );
        for bad in [
            "",
            "a@b",
            "no-at.example",
            "@x.example",
            "a@.example",
            "a b@x.example",
            "a@x..example",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
