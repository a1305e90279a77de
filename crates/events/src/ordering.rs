//! Applying `appointment.*` events in the right order. The bus delivers at least once and in no
//! guaranteed order (retries, several consumers, the DLQ replay), so two reschedules of one
//! appointment can arrive newest first. Every appointment event carries the appointment's
//! `version` (1 when booked, +1 on each change, stored on calendar's row): a consumer keeps the
//! version it applied last and applies an event only when the event's version is higher.
//!
//! In a consumer's own table, do the comparison in the same statement as the write, so two
//! handlers racing on one appointment cannot both win (see [`UPSERT_IF_NEWER_SQL`]).

/// Whether an event with version `incoming` should be applied over what a consumer stored
/// (`None`: nothing stored for this appointment yet). Equal versions are a redelivery: skip.
pub fn should_apply(stored: Option<i64>, incoming: i64) -> bool {
    match stored {
        None => true,
        Some(v) => incoming > v,
    }
}

/// The same rule as one SQL statement for a projection keyed by appointment: an insert for a
/// new appointment, an update only when the incoming version is newer, nothing otherwise (0 rows
/// affected = a stale or repeated event, acknowledge it). Adapt the table and columns:
pub const UPSERT_IF_NEWER_SQL: &str = "\
INSERT INTO appointment_projection (appointment_id, starts_at, ends_at, status, version)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (appointment_id) DO UPDATE
   SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
       status = EXCLUDED.status, version = EXCLUDED.version
 WHERE appointment_projection.version < EXCLUDED.version";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_version_is_applied() {
        assert!(should_apply(None, 1));
        assert!(should_apply(Some(2), 3));
        assert!(
            !should_apply(Some(3), 2),
            "an older reschedule arriving late"
        );
        assert!(!should_apply(Some(3), 3), "a redelivery");
        // An event from before versions existed (0) never overwrites a versioned state.
        assert!(!should_apply(Some(1), 0));
    }
}
