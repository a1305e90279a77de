//! What the bus's events cause, inside the consumer's transaction (the inbox makes each event
//! apply once; dedupe keys make each text exist once even across different event ids):
//! `appointment.booked.v1` → a confirmation now and reminders before the visit;
//! `.rescheduled.v1` → a reschedule text, pending reminders cancelled and set again for the new
//! time; `.cancelled.v1` → a cancellation text, pending reminders cancelled; `org.created.v1` →
//! the org's default templates and settings. Events older than what was applied are skipped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use events::{AppointmentDetails, OrgCreatedV1};
use servicekit::crypto::KeyRing;
use tenancy::OrgId;

use super::CoreError;
use super::outbound::{self, Enqueued, Outbound, kind};
use crate::domain::phone::{Channel, is_e164};
use crate::domain::quiet::Window;
use crate::domain::template;
use crate::store::settings::SettingsRow;
use crate::store::{appointments, messages, settings, templates};

/// Seeds the org's defaults once (a second event for the same org changes nothing).
pub async fn org_created(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    e: &OrgCreatedV1,
) -> Result<(), CoreError> {
    let mut s = SettingsRow::defaults(org);
    s.clinic_name = e.name.chars().take(100).collect();
    s.timezone = if e.timezone.parse::<Tz>().is_ok() {
        e.timezone.clone()
    } else {
        "UTC".into()
    };
    settings::insert_once(tx, &s).await?;
    for (key, body) in template::DEFAULTS {
        templates::insert_missing(tx, org, key, "sms", body).await?;
    }
    Ok(())
}

async fn text_for(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, CoreError> {
    let body = match templates::find(tx, org, key, "sms").await? {
        Some(t) => t.body,
        None => template::default_body(key).unwrap_or("").to_string(),
    };
    Ok(template::render(&body, values)?)
}

fn values(a: &AppointmentDetails, s: &SettingsRow, tz: Tz) -> BTreeMap<String, String> {
    let local = a.starts_at.with_timezone(&tz);
    let name = a.contact_name.clone().unwrap_or_default();
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or("there")
        .to_string();
    BTreeMap::from([
        ("patient_first_name".to_string(), first),
        ("patient_name".to_string(), name),
        (
            "clinic_name".to_string(),
            if s.clinic_name.is_empty() {
                "the clinic".into()
            } else {
                s.clinic_name.clone()
            },
        ),
        (
            "appointment_local_time".to_string(),
            local.format("%-I:%M %p").to_string(),
        ),
        (
            "appointment_local_date".to_string(),
            local.format("%a %b %-d").to_string(),
        ),
        ("service".to_string(), a.service_name.clone()),
    ])
}

/// Stores one appointment text; an opted-out patient gets none (counted as a refusal).
#[allow(clippy::too_many_arguments)] // one call shape for the four appointment texts
async fn store_text(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    k: &'static str,
    a: &AppointmentDetails,
    phone: &str,
    body: String,
    send_at: DateTime<Utc>,
    dedupe: String,
) -> Result<(), CoreError> {
    let mut o = Outbound::new(k, Channel::Sms, phone, body);
    o.template_key = Some(k.to_string());
    o.appointment_id = Some(a.appointment_id);
    o.send_at = send_at;
    o.dedupe_key = Some(dedupe);
    match outbound::enqueue(tx, keys, org, o).await {
        Ok(Enqueued::Stored(_) | Enqueued::Duplicate) => Ok(()),
        Err(CoreError::OptedOut) => Ok(()),
        Err(e) => Err(e),
    }
}

fn phone_of(a: &AppointmentDetails) -> Option<String> {
    a.contact_phone.clone().filter(|p| is_e164(p))
}

async fn context(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    a: &AppointmentDetails,
) -> Result<(SettingsRow, Tz), CoreError> {
    let tz: Tz = a.timezone.parse().unwrap_or(chrono_tz::UTC);
    if a.timezone.parse::<Tz>().is_ok() {
        settings::set_timezone(tx, org, &a.timezone).await?;
    }
    let mut s = settings::find(tx, org).await?;
    s.timezone = tz.name().to_string();
    Ok((s, tz))
}

/// The reminders of `a` from `now` on: each offset before the start, moved out of quiet hours,
/// dropped when that would put it in the past or at/after the start.
pub fn reminder_times(
    starts_at: DateTime<Utc>,
    offsets_minutes: &[i32],
    window: Window,
    tz: Tz,
    now: DateTime<Utc>,
) -> Vec<(i32, DateTime<Utc>)> {
    let mut out = Vec::new();
    for &m in offsets_minutes {
        if m <= 0 {
            continue;
        }
        let due = starts_at - chrono::Duration::minutes(i64::from(m));
        if due <= now {
            continue;
        }
        let at = window.next_allowed(due, tz);
        if at < starts_at {
            out.push((m, at));
        }
    }
    out
}

async fn schedule_reminders(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    a: &AppointmentDetails,
    s: &SettingsRow,
    tz: Tz,
    phone: &str,
) -> Result<(), CoreError> {
    let offsets: Vec<i32> = s
        .reminder_offsets_minutes
        .iter()
        .flatten()
        .copied()
        .collect();
    let window = Window {
        opens: s.quiet_end,
        closes: s.quiet_start,
    };
    let vals = values(a, s, tz);
    for (m, at) in reminder_times(a.starts_at, &offsets, window, tz, Utc::now()) {
        let body = text_for(tx, org, kind::REMINDER, &vals).await?;
        let dedupe = format!("appt:{}:v{}:reminder:{m}", a.appointment_id, a.version);
        store_text(tx, keys, org, kind::REMINDER, a, phone, body, at, dedupe).await?;
    }
    Ok(())
}

/// Records version `a.version` of the appointment at `state`; false when it is older than (or
/// the same as) what was already applied, and nothing more must happen.
async fn advance(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    a: &AppointmentDetails,
    state: &str,
) -> Result<bool, CoreError> {
    Ok(appointments::advance(
        tx,
        org,
        a.appointment_id,
        a.version,
        state,
        a.starts_at,
        phone_of(a).as_deref(),
    )
    .await?)
}

/// Cancels the appointment's pending texts whose kind starts with `kinds` (their jobs too),
/// each recorded as canceled for `why`.
async fn cancel_pending(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    a: &AppointmentDetails,
    kinds: &str,
    why: &str,
) -> Result<(), CoreError> {
    let cancelled =
        messages::cancel_pending_for_appointment(tx, org, a.appointment_id, kinds).await?;
    for id in &cancelled {
        messages::add_event(
            tx,
            org,
            *id,
            crate::domain::status::CANCELED,
            why,
            None,
            true,
        )
        .await?;
        crate::store::jobs::delete(tx, *id).await?;
    }
    Ok(())
}

/// Texts the patient now with template `kind` (once per `dedupe`), then, with `reminders`,
/// schedules the appointment's reminders.
#[allow(clippy::too_many_arguments)]
async fn text_now(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    a: &AppointmentDetails,
    phone: &str,
    kind: &'static str,
    dedupe: String,
    reminders: bool,
) -> Result<(), CoreError> {
    let (s, tz) = context(tx, org, a).await?;
    let body = text_for(tx, org, kind, &values(a, &s, tz)).await?;
    store_text(tx, keys, org, kind, a, phone, body, Utc::now(), dedupe).await?;
    if reminders {
        schedule_reminders(tx, keys, org, a, &s, tz, phone).await?;
    }
    Ok(())
}

pub async fn booked(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    a: &AppointmentDetails,
) -> Result<(), CoreError> {
    if !advance(tx, org, a, "booked").await? {
        return Ok(()); // an older or repeated version
    }
    let Some(phone) = phone_of(a) else {
        return Ok(());
    };
    let dedupe = format!("appt:{}:confirmation", a.appointment_id);
    text_now(tx, keys, org, a, &phone, kind::CONFIRMATION, dedupe, true).await
}

pub async fn rescheduled(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    a: &AppointmentDetails,
) -> Result<(), CoreError> {
    if !advance(tx, org, a, "booked").await? {
        return Ok(());
    }
    cancel_pending(tx, org, a, kind::REMINDER, "rescheduled").await?;
    let Some(phone) = phone_of(a) else {
        return Ok(());
    };
    let dedupe = format!("appt:{}:v{}:rescheduled", a.appointment_id, a.version);
    text_now(tx, keys, org, a, &phone, kind::RESCHEDULED, dedupe, true).await
}

pub async fn cancelled(
    tx: &mut AsyncPgConnection,
    keys: &KeyRing,
    org: OrgId,
    a: &AppointmentDetails,
) -> Result<(), CoreError> {
    if !advance(tx, org, a, "cancelled").await? {
        return Ok(());
    }
    cancel_pending(tx, org, a, "appointment_", "cancelled").await?;
    let Some(phone) = phone_of(a) else {
        return Ok(());
    };
    if a.starts_at <= Utc::now() {
        return Ok(());
    }
    let dedupe = format!("appt:{}:cancelled", a.appointment_id);
    text_now(tx, keys, org, a, &phone, kind::CANCELLED, dedupe, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn reminders_across_the_dst_start_in_new_york() {
        // 09:00 EDT on 2027-03-14, the day clocks jump forward. 24 h before is 08:00 EST on the
        // 13th (13:00Z, inside the window); 2 h before is 07:00 EDT (11:00Z), quiet: it waits
        // for 08:00 EDT = 12:00Z.
        let start = utc("2027-03-14T13:00:00Z");
        let got = reminder_times(
            start,
            &[1440, 120],
            Window::default_hours(),
            chrono_tz::America::New_York,
            utc("2027-03-01T00:00:00Z"),
        );
        assert_eq!(
            got,
            vec![
                (1440, utc("2027-03-13T13:00:00Z")),
                (120, utc("2027-03-14T12:00:00Z"))
            ]
        );
    }

    #[test]
    fn past_and_too_late_reminders_are_dropped() {
        let start = utc("2026-12-10T13:30:00Z"); // 08:30 EST
        // 2 h before is 06:30 EST: the window opens at 08:00, too close to 08:30? No: 08:00 < 08:30.
        let got = reminder_times(
            start,
            &[1440, 120],
            Window::default_hours(),
            chrono_tz::America::New_York,
            utc("2026-12-09T20:00:00Z"),
        );
        assert_eq!(got, vec![(120, utc("2026-12-10T13:00:00Z"))]);
        // A 07:30 appointment: its 2 h reminder would wait past the start, so there is none.
        let start = utc("2026-12-10T12:30:00Z");
        let got = reminder_times(
            start,
            &[120],
            Window::default_hours(),
            chrono_tz::America::New_York,
            utc("2026-12-09T20:00:00Z"),
        );
        assert!(got.is_empty());
    }
}
