//! An appointment's status and the moves between statuses, the `Idempotency-Key` a booking may
//! carry, the Google event id derived from an appointment id, and the request fingerprint that
//! tells an idempotent replay from a reused key.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a row of the appointments table stands. A hold is a row too (`held`, then `booked` or
/// `expired`), but only the other five are ever shown as appointments. `confirmed` is a booked
/// appointment the patient confirmed (a reply `C` to a text); it changes like `booked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Held,
    Booked,
    Confirmed,
    Cancelled,
    Completed,
    NoShow,
    Expired,
}

/// Rows in these statuses hold their time (the DB constraint's predicate says the same).
pub const BLOCKING: [AppointmentStatus; 5] = [
    AppointmentStatus::Held,
    AppointmentStatus::Booked,
    AppointmentStatus::Confirmed,
    AppointmentStatus::Completed,
    AppointmentStatus::NoShow,
];
/// Statuses an appointment (not a hold) is shown with.
pub const VISIBLE: [AppointmentStatus; 5] = [
    AppointmentStatus::Booked,
    AppointmentStatus::Confirmed,
    AppointmentStatus::Cancelled,
    AppointmentStatus::Completed,
    AppointmentStatus::NoShow,
];

impl AppointmentStatus {
    /// The text stored in the `status` column and shown in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Held => "held",
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::NoShow => "no_show",
            AppointmentStatus::Expired => "expired",
        }
    }

    /// Whether the row is shown as an appointment (holds are not appointments).
    pub fn is_visible(self) -> bool {
        VISIBLE.contains(&self)
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown appointment status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for AppointmentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            BLOCKING.as_slice(),
            VISIBLE.as_slice(),
            &[AppointmentStatus::Expired],
        ]
        .concat()
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

impl From<AppointmentStatus> for String {
    fn from(s: AppointmentStatus) -> String {
        s.as_str().to_string()
    }
}

impl TryFrom<String> for AppointmentStatus {
    type Error = UnknownStatus;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// What staff or the voice agent do to an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Reschedule,
    Cancel,
    Complete,
    NoShow,
}

impl fmt::Display for Transition {
    /// As in "an appointment that is cancelled cannot be *rescheduled*".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transition::Reschedule => "rescheduled",
            Transition::Cancel => "cancelled",
            Transition::Complete => "completed",
            Transition::NoShow => "marked no-show",
        })
    }
}

/// What a transition does from a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The appointment is already there: answer it unchanged.
    AlreadyDone,
    /// Apply the change.
    Change,
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A hold (live or expired) is not an appointment: as if it did not exist.
    #[error("not an appointment")]
    NotAnAppointment,
    #[error("an appointment that is {from} cannot be {to}")]
    Invalid {
        from: AppointmentStatus,
        to: Transition,
    },
}

impl Transition {
    /// The status the transition leaves behind (a reschedule stays `booked`).
    pub fn target(self) -> AppointmentStatus {
        match self {
            Transition::Reschedule => AppointmentStatus::Booked,
            Transition::Cancel => AppointmentStatus::Cancelled,
            Transition::Complete => AppointmentStatus::Completed,
            Transition::NoShow => AppointmentStatus::NoShow,
        }
    }

    /// The state machine: only a booked appointment changes; cancelling, completing or marking
    /// a no-show twice changes nothing; a reschedule needs `booked` whatever the row is.
    pub fn from_status(self, from: AppointmentStatus) -> Result<Step, Refusal> {
        use AppointmentStatus as S;
        match (self, from) {
            (_, S::Booked | S::Confirmed) => Ok(Step::Change),
            (Transition::Reschedule, _) => Err(Refusal::Invalid { from, to: self }),
            (_, s) if s == self.target() => Ok(Step::AlreadyDone),
            (_, S::Held | S::Expired) => Err(Refusal::NotAnAppointment),
            (_, _) => Err(Refusal::Invalid { from, to: self }),
        }
    }
}

/// The `Idempotency-Key` of a booking: 1–255 visible ASCII characters (surrounding blanks
/// trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct BadIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, BadIdempotencyKey> {
        let s = std::str::from_utf8(raw)
            .map_err(|_| BadIdempotencyKey)?
            .trim();
        if s.is_empty() || s.len() > 255 || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(BadIdempotencyKey);
        }
        Ok(IdempotencyKey(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Google event ids allow base32hex characters (a–v, 0–9), 5–1024 long: the appointment's UUID
/// bytes in lowercase base32hex without padding, 26 characters (google-calendar.md §2).
pub fn google_event_id(appointment: Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let bytes = appointment.as_bytes();
    let mut out = String::with_capacity(26);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32hex(ALPHABET, acc >> bits));
        }
    }
    if bits > 0 {
        out.push(base32hex(ALPHABET, acc << (5 - bits)));
    }
    out
}

/// The character of the low five bits of `v`.
fn base32hex(alphabet: &[u8; 32], v: u32) -> char {
    let i = usize::try_from(v & 31).unwrap_or(0);
    alphabet.get(i).copied().map(char::from).unwrap_or('0')
}

/// SHA-256 (hex) of a canonical serialisation of a request body.
pub fn fingerprint(canonical: &[u8]) -> String {
    digest::digest(&digest::SHA256, canonical)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_id_matches_the_published_vector() {
        let id: Uuid = "6b1e9c3a-2f4d-4e8a-9c11-0d2e5f7a8b90".parse().unwrap();
        assert_eq!(google_event_id(id), "dcf9oehf9l78l70h1kn5uukbi0");
        assert_eq!(google_event_id(Uuid::new_v4()).len(), 26);
    }

    #[test]
    fn only_a_booked_appointment_changes_and_repeats_change_nothing() {
        use AppointmentStatus as S;
        for t in [Transition::Cancel, Transition::Complete, Transition::NoShow] {
            assert_eq!(t.from_status(S::Booked), Ok(Step::Change));
            assert_eq!(t.from_status(t.target()), Ok(Step::AlreadyDone));
            assert_eq!(t.from_status(S::Held), Err(Refusal::NotAnAppointment));
            assert_eq!(t.from_status(S::Expired), Err(Refusal::NotAnAppointment));
        }
        assert_eq!(
            Transition::Complete
                .from_status(S::Cancelled)
                .unwrap_err()
                .to_string(),
            "an appointment that is cancelled cannot be completed"
        );
        assert_eq!(
            Transition::Reschedule
                .from_status(S::Held)
                .unwrap_err()
                .to_string(),
            "an appointment that is held cannot be rescheduled"
        );
        assert_eq!(
            Transition::NoShow
                .from_status(S::Completed)
                .unwrap_err()
                .to_string(),
            "an appointment that is completed cannot be marked no-show"
        );
    }

    #[test]
    fn statuses_round_trip_through_their_text() {
        for s in [BLOCKING.as_slice(), VISIBLE.as_slice()].concat() {
            assert_eq!(s.as_str().parse::<AppointmentStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("expired".parse(), Ok(AppointmentStatus::Expired));
        assert!("pending".parse::<AppointmentStatus>().is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert_eq!(IdempotencyKey::parse(b" k-1 ").unwrap().as_str(), "k-1");
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"a b").is_err());
        assert!(IdempotencyKey::parse("é".as_bytes()).is_err());
        assert!(IdempotencyKey::parse(&[b'k'; 256]).is_err());
    }

    #[test]
    fn fingerprints_differ_with_the_body() {
        assert_eq!(fingerprint(b"a"), fingerprint(b"a"));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(fingerprint(b"").len(), 64);
    }
}
