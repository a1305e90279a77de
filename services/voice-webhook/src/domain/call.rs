//! A call's direction and status as Rust values. Vapi's webhooks arrive out of order, and a
//! call never moves backwards: statuses have a rank, and only a higher rank replaces a lower.

use serde::{Serialize, Serializer};

/// Who called whom (`calls.direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDirection {
    Inbound,
    Outbound,
    Web,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
            CallDirection::Web => "web",
        }
    }

    /// A stored or requested direction; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(CallDirection::Inbound),
            "outbound" => Some(CallDirection::Outbound),
            "web" => Some(CallDirection::Web),
            _ => None,
        }
    }
}

/// The store's text, read tolerantly: only `outbound` and `web` are special.
impl From<String> for CallDirection {
    fn from(s: String) -> Self {
        CallDirection::parse(&s).unwrap_or(CallDirection::Inbound)
    }
}

impl Serialize for CallDirection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A Vapi call status (`calls.status`); statuses Vapi adds later are kept as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Scheduled,
    Queued,
    Ringing,
    InProgress,
    Forwarding,
    Ended,
    NotFound,
    DeletionFailed,
    Other(String),
}

impl CallStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "scheduled" => CallStatus::Scheduled,
            "queued" => CallStatus::Queued,
            "ringing" => CallStatus::Ringing,
            "in-progress" => CallStatus::InProgress,
            "forwarding" => CallStatus::Forwarding,
            "ended" => CallStatus::Ended,
            "not-found" => CallStatus::NotFound,
            "deletion-failed" => CallStatus::DeletionFailed,
            other => CallStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CallStatus::Scheduled => "scheduled",
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Forwarding => "forwarding",
            CallStatus::Ended => "ended",
            CallStatus::NotFound => "not-found",
            CallStatus::DeletionFailed => "deletion-failed",
            CallStatus::Other(s) => s,
        }
    }

    /// Rank of the status; unknown statuses rank like `in-progress` (they only happen live).
    pub fn rank(&self) -> i32 {
        match self {
            CallStatus::Scheduled => 0,
            CallStatus::Queued => 1,
            CallStatus::Ringing => 2,
            CallStatus::InProgress | CallStatus::Other(_) => 3,
            CallStatus::Forwarding => 4,
            CallStatus::Ended | CallStatus::NotFound | CallStatus::DeletionFailed => 5,
        }
    }

    /// Whether the call is over at this status.
    pub fn is_final(&self) -> bool {
        self.rank() >= CallStatus::Ended.rank()
    }
}

impl From<String> for CallStatus {
    fn from(s: String) -> Self {
        CallStatus::parse(&s)
    }
}

impl Serialize for CallStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Rank of a Vapi call status given as text.
pub fn rank(status: &str) -> i32 {
    CallStatus::parse(status).rank()
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
        assert_eq!(
            CallStatus::parse("something-new").rank(),
            rank("in-progress")
        );
        assert_eq!(CallStatus::parse("in-progress").as_str(), "in-progress");
        assert_eq!(
            CallDirection::from("outbound".to_string()),
            CallDirection::Outbound
        );
    }
}
