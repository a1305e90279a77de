//! Which ended calls deserve a missed-call text-back: inbound, no booking, a caller number, and
//! either very short (the caller hung up before being helped) or ended by a failure or silence.

/// Calls shorter than this without a booking count as abandoned.
pub const ABANDONED_BELOW_SECONDS: u32 = 30;

/// Vapi `endedReason`s that mean the caller was not helped.
const UNHELPED: &[&str] = &[
    "silence-timed-out",
    "customer-did-not-answer",
    "customer-busy",
    "assistant-error",
    "pipeline-error",
    "phone-call-provider-closed-websocket",
    "voicemail",
];

pub fn is_missed(inbound: bool, booked: bool, duration_seconds: u32, ended_reason: &str) -> bool {
    inbound
        && !booked
        && (duration_seconds < ABANDONED_BELOW_SECONDS
            || UNHELPED.iter().any(|r| ended_reason.starts_with(r))
            || ended_reason.contains("error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_calls() {
        assert!(is_missed(true, false, 8, "customer-ended-call"));
        assert!(is_missed(true, false, 120, "silence-timed-out"));
        assert!(is_missed(
            true,
            false,
            90,
            "pipeline-error-openai-llm-failed"
        ));
        assert!(!is_missed(true, false, 240, "customer-ended-call"));
        assert!(!is_missed(true, true, 8, "customer-ended-call"));
        assert!(!is_missed(false, false, 8, "customer-ended-call"));
    }
}
