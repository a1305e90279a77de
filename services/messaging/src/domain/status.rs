//! Message statuses: Twilio's lifecycle ranked so callbacks only move a message forward
//! (they arrive out of order and twice), our own pre-Twilio states, and Twilio's error codes
//! mapped to coarse handling classes with a readable reason (the raw code is kept too).

/// Our states before Twilio has the message: `pending` (stored, waiting for its time or a
/// retry), `dispatching` (a request is or was in flight: a crash here is resolved by lookup),
/// `unknown` (the request's outcome is unknown: resolved by lookup, never by sending again).
pub const PENDING: &str = "pending";
pub const DISPATCHING: &str = "dispatching";
pub const UNKNOWN: &str = "unknown";
/// No Twilio credentials: stored and listed, never sent.
pub const SIMULATED: &str = "simulated";
pub const FAILED: &str = "failed";
pub const CANCELED: &str = "canceled";
pub const RECEIVED: &str = "received";

/// Twilio's rank of a status (docs: §3 of the spec); `None` for values we keep raw but never
/// rank (`partially_delivered`, new ones).
pub fn rank(status: &str) -> Option<i32> {
    Some(match status {
        PENDING | DISPATCHING | UNKNOWN => -1,
        "accepted" | "scheduled" => 0,
        "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" | "undelivered" | "failed" | "canceled" => 4,
        "read" => 5,
        _ => return None,
    })
}

/// The rank of a status Twilio reports (ours are not Twilio's to report).
pub fn twilio_rank(status: &str) -> Option<i32> {
    match status {
        PENDING | DISPATCHING | UNKNOWN => None,
        s => rank(s),
    }
}

/// Whether a callback saying `new` (rank `new_rank`) may replace `current` (rank `current_rank`).
/// Equal ranks never replace: a late `delivered` does not overwrite `failed` (a multi-segment
/// message keeps its earlier error), and a duplicate changes nothing.
pub fn moves_forward(current_rank: i32, new_rank: i32) -> bool {
    new_rank > current_rank
}

/// A status after which nothing is sent any more.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "delivered" | "undelivered" | "failed" | "canceled" | "read" | SIMULATED | RECEIVED
    )
}

/// What to do with a Twilio error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with backoff.
    Retry,
    /// The recipient opted out (21610): final, and the number goes on the opt-out list.
    OptedOut,
    /// The org's credentials or account are wrong: final for this message.
    Account,
    /// Final: fix the number, the content or the configuration.
    Permanent,
}

pub fn classify(code: i64) -> ErrorClass {
    match code {
        20429 | 21611 | 30001 | 30003 | 30008 => ErrorClass::Retry,
        21610 => ErrorClass::OptedOut,
        20003 | 30002 => ErrorClass::Account,
        _ => ErrorClass::Permanent,
    }
}

/// A readable reason for the clinic; unknown codes keep Twilio's message.
pub fn reason(code: i64, twilio_message: &str) -> String {
    let known = match code {
        20003 => "Twilio rejected the account's credentials",
        20429 => "Twilio is rate limiting the account",
        21211 => "the recipient's number is not a valid phone number",
        21212 => "the sender number is not valid",
        21408 => "sending to this region is not enabled on the Twilio account",
        21606 => "the sender number cannot send to this destination",
        21608 => "a trial Twilio account can only send to verified numbers",
        21610 => "the recipient has unsubscribed (replied STOP)",
        21611 => "the sender's queue is full",
        21612 => "this sender cannot reach the recipient",
        21614 => "the recipient's number cannot receive SMS",
        21617 => "the message is longer than 1,600 characters",
        21635 => "the recipient's number is a landline",
        30002 => "the Twilio account is suspended",
        30003 => "the recipient's phone is unreachable",
        30004 => "the message was blocked by the recipient or the carrier",
        30005 => "the recipient's number is unknown to the carrier",
        30006 => "the recipient's number is a landline or its carrier is unreachable",
        30007 => "the carrier filtered the message (content or A2P registration)",
        30008 => "the carrier reported an unknown error",
        63016 => "outside the WhatsApp 24-hour window: only an approved template may be sent",
        _ => "",
    };
    if known.is_empty() {
        let m = twilio_message.trim();
        if m.is_empty() {
            format!("Twilio error {code}")
        } else {
            m.chars().take(300).collect()
        }
    } else {
        known.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_only_move_forward() {
        let r = |s| twilio_rank(s).unwrap();
        assert!(moves_forward(r("queued"), r("sent")));
        assert!(moves_forward(r("sent"), r("delivered")));
        assert!(!moves_forward(r("delivered"), r("sent")));
        assert!(!moves_forward(r("failed"), r("delivered")));
        assert!(!moves_forward(r("delivered"), r("delivered")));
        assert!(moves_forward(r("delivered"), r("read")));
        assert_eq!(twilio_rank("partially_delivered"), None);
        assert!(moves_forward(rank(DISPATCHING).unwrap(), r("queued")));
        assert_eq!(twilio_rank(DISPATCHING), None);
    }

    #[test]
    fn error_classes() {
        assert_eq!(classify(20429), ErrorClass::Retry);
        assert_eq!(classify(21610), ErrorClass::OptedOut);
        for c in [21211, 21614, 63016, 21617] {
            assert_eq!(classify(c), ErrorClass::Permanent, "{c}");
        }
        assert!(reason(21211, "x").contains("not a valid"));
        assert_eq!(reason(99999, "Something odd"), "Something odd");
    }
}
