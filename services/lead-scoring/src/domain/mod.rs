//! Pure lead-scoring rules, no I/O: the fold of a contact's events into its history
//! (`history`), the feature vector (`features`), the versioned scoring model (`model`), the
//! pipeline stages and the manual-vs-automatic rule (`stage`).

pub mod csv;
pub mod features;
pub mod history;
pub mod model;
pub mod stage;

/// Whether `s` is an E.164 number (`+` and 7–15 digits, no leading zero).
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    #[test]
    fn e164() {
        assert!(super::is_e164("+15550100123"));
        for bad in [
            "15550100123",
            "+0555010012",
            "+1555",
            "+1555010012345678",
            "+1 555 0100",
        ] {
            assert!(!super::is_e164(bad), "{bad}");
        }
    }
}
