//! The tools an agent can use on a call, and what a tool call's stored answer was.

use serde::{Serialize, Serializer};

/// One voice tool (Vapi function name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    CheckAvailability,
    BookAppointment,
    RescheduleAppointment,
    CancelAppointment,
    FindMyAppointments,
    TakeMessage,
}

impl Tool {
    /// Every tool, in the order agents list them.
    pub const ALL: [Tool; 6] = [
        Tool::CheckAvailability,
        Tool::BookAppointment,
        Tool::RescheduleAppointment,
        Tool::CancelAppointment,
        Tool::FindMyAppointments,
        Tool::TakeMessage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::CheckAvailability => "check_availability",
            Tool::BookAppointment => "book_appointment",
            Tool::RescheduleAppointment => "reschedule_appointment",
            Tool::CancelAppointment => "cancel_appointment",
            Tool::FindMyAppointments => "find_my_appointments",
            Tool::TakeMessage => "take_message",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Every tool's name (an agent with all tools on).
    pub fn all_names() -> Vec<String> {
        Tool::ALL.iter().map(|t| t.name().to_string()).collect()
    }
}

/// A stored tool answer (`tool_invocations.outcome`): `ok` is final and replayed for a retried
/// `toolCallId`; `error` is replaced by the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolOutcome {
    Ok,
    Error,
}

impl ToolOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Ok => "ok",
            ToolOutcome::Error => "error",
        }
    }
}

/// The store's text: anything but `ok` is not final.
impl From<String> for ToolOutcome {
    fn from(s: String) -> Self {
        if s == "ok" {
            ToolOutcome::Ok
        } else {
            ToolOutcome::Error
        }
    }
}

impl Serialize for ToolOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
