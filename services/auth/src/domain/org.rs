//! An organization's own rules: its name, its time zone, and the bounds of its security policy.

/// Why an org field is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrgFieldError {
    #[error("must be 1 to 200 characters")]
    Name,
    #[error("must be an IANA time zone such as America/New_York")]
    Timezone,
}

/// The trimmed name, 1 to 200 characters.
pub fn check_name(name: &str) -> Result<String, OrgFieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(OrgFieldError::Name);
    }
    Ok(name.to_string())
}

/// A plausible IANA zone name (`UTC` or `Area/Location`, no odd characters).
pub fn check_timezone(tz: &str) -> Result<(), OrgFieldError> {
    let ok = (tz == "UTC" || tz.contains('/'))
        && tz.len() <= 64
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(OrgFieldError::Timezone)
    }
}

/// The longest session lifetime or inactivity timeout an org may set.
pub const MAX_POLICY_SECS: i32 = 365 * 86400;
/// The shortest session lifetime an org may set.
pub const MIN_SESSION_LIFETIME_SECS: i32 = 300;

/// A display name as stored: trimmed, at most 200 characters.
pub fn display_name(raw: &str) -> String {
    raw.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_zones() {
        assert_eq!(check_name("  Cedar Clinic "), Ok("Cedar Clinic".into()));
        assert_eq!(check_name("   "), Err(OrgFieldError::Name));
        assert_eq!(check_name(&"x".repeat(201)), Err(OrgFieldError::Name));
        assert!(check_timezone("America/New_York").is_ok());
        assert!(check_timezone("UTC").is_ok());
        assert_eq!(check_timezone("Mars"), Err(OrgFieldError::Timezone));
        assert_eq!(
            check_timezone("Europe/Paris;"),
            Err(OrgFieldError::Timezone)
        );
    }
}
