//! Appointment statuses, the Google event id derived from an appointment id, and the request
//! fingerprint that tells an idempotent replay from a reused key.

use ring::digest;
use uuid::Uuid;

/// Rows in these statuses hold their time (the DB constraint's predicate says the same).
pub const BLOCKING: [&str; 4] = ["held", "booked", "completed", "no_show"];
/// Statuses an appointment (not a hold) is shown with.
pub const VISIBLE: [&str; 4] = ["booked", "cancelled", "completed", "no_show"];

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
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
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
    fn fingerprints_differ_with_the_body() {
        assert_eq!(fingerprint(b"a"), fingerprint(b"a"));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(fingerprint(b"").len(), 64);
    }
}
