//! Call status order: Vapi's webhooks arrive out of order, and a call never moves backwards.

/// Rank of a Vapi call status; unknown statuses rank like `in-progress` (they only happen live).
pub fn rank(status: &str) -> i32 {
    match status {
        "scheduled" => 0,
        "queued" => 1,
        "ringing" => 2,
        "in-progress" => 3,
        "forwarding" => 4,
        "ended" | "not-found" | "deletion-failed" => 5,
        _ => 3,
    }
}

/// Whether a status of rank `new` may replace one of rank `current`.
pub fn advances(current: i32, new: i32) -> bool {
    new > current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_is_final() {
        assert!(advances(rank("ringing"), rank("in-progress")));
        assert!(!advances(rank("ended"), rank("in-progress")));
        assert!(!advances(rank("in-progress"), rank("in-progress")));
        assert!(!advances(rank("ended"), rank("ringing")));
    }
}
