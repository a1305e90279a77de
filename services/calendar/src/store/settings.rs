//! Clinic settings, weekly hours and date overrides: read as one `ClinicSettings`, replaced as
//! one (PUT semantics), seeded once per org.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{clinic_settings, date_overrides, weekly_hours};
use crate::domain::availability::MinuteRange;
use crate::domain::settings::ClinicSettings;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clinic_settings)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct SettingsRow {
    timezone: String,
    slot_interval_minutes: Option<i32>,
    min_notice_minutes: i32,
    booking_window_days: i32,
    default_buffer_before_minutes: i32,
    default_buffer_after_minutes: i32,
    hold_minutes: i32,
}

/// The org's settings, or `None` when it has none stored yet. The three reads are pipelined.
pub async fn find_settings(
    conn: &AsyncPgConnection,
    org: OrgId,
) -> QueryResult<Option<ClinicSettings>> {
    let (mut c1, mut c2, mut c3) = (conn, conn, conn);
    let row = clinic_settings::table
        .filter(clinic_settings::org_id.eq(org.as_uuid()))
        .select(SettingsRow::as_select())
        .limit(1)
        .load::<SettingsRow>(&mut c1);
    let hours = weekly_hours::table
        .filter(weekly_hours::org_id.eq(org.as_uuid()))
        .select((
            weekly_hours::weekday,
            weekly_hours::start_minute,
            weekly_hours::end_minute,
        ))
        .order((weekly_hours::weekday, weekly_hours::start_minute))
        .load::<(i16, i32, i32)>(&mut c2);
    let overrides = date_overrides::table
        .filter(date_overrides::org_id.eq(org.as_uuid()))
        .select((
            date_overrides::day,
            date_overrides::start_minute,
            date_overrides::end_minute,
        ))
        .order((date_overrides::day, date_overrides::start_minute))
        .load::<(NaiveDate, i32, i32)>(&mut c3);
    let (mut rows, hours, overrides) = futures_util::try_join!(row, hours, overrides)?;
    let Some(row) = rows.pop() else {
        return Ok(None);
    };
    let timezone = row.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut s = ClinicSettings {
        timezone,
        slot_interval_minutes: row.slot_interval_minutes,
        min_notice_minutes: row.min_notice_minutes,
        booking_window_days: row.booking_window_days,
        default_buffer_before_minutes: row.default_buffer_before_minutes,
        default_buffer_after_minutes: row.default_buffer_after_minutes,
        hold_minutes: row.hold_minutes,
        weekly: Default::default(),
        overrides: BTreeMap::new(),
    };
    // The table's CHECKs keep weekdays in 1..=7 and minutes in 0..=1440; a row outside them
    // could not be a range of the day and is skipped.
    for (day, start, end) in hours {
        let slot = usize::try_from(day).ok().and_then(|d| d.checked_sub(1));
        if let (Some(v), Some(r)) = (slot.and_then(|i| s.weekly.get_mut(i)), minutes(start, end)) {
            v.push(r);
        }
    }
    for (day, start, end) in overrides {
        let v: &mut Vec<MinuteRange> = s.overrides.entry(day).or_default();
        if let Some(r) = minutes(start, end).filter(|r| r.end > r.start) {
            v.push(r);
        }
    }
    Ok(Some(s))
}

fn minutes(start: i32, end: i32) -> Option<MinuteRange> {
    Some(MinuteRange {
        start: u16::try_from(start).ok()?,
        end: u16::try_from(end).ok()?,
    })
}

/// Replaces the org's settings, hours and overrides.
pub async fn replace_settings(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    s: &ClinicSettings,
) -> QueryResult<()> {
    let o = org.as_uuid();
    let values = (
        clinic_settings::org_id.eq(o),
        clinic_settings::timezone.eq(s.timezone.name()),
        clinic_settings::slot_interval_minutes.eq(s.slot_interval_minutes),
        clinic_settings::min_notice_minutes.eq(s.min_notice_minutes),
        clinic_settings::booking_window_days.eq(s.booking_window_days),
        clinic_settings::default_buffer_before_minutes.eq(s.default_buffer_before_minutes),
        clinic_settings::default_buffer_after_minutes.eq(s.default_buffer_after_minutes),
        clinic_settings::hold_minutes.eq(s.hold_minutes),
    );
    diesel::insert_into(clinic_settings::table)
        .values(values)
        .on_conflict(clinic_settings::org_id)
        .do_update()
        .set((
            clinic_settings::timezone.eq(s.timezone.name()),
            clinic_settings::slot_interval_minutes.eq(s.slot_interval_minutes),
            clinic_settings::min_notice_minutes.eq(s.min_notice_minutes),
            clinic_settings::booking_window_days.eq(s.booking_window_days),
            clinic_settings::default_buffer_before_minutes.eq(s.default_buffer_before_minutes),
            clinic_settings::default_buffer_after_minutes.eq(s.default_buffer_after_minutes),
            clinic_settings::hold_minutes.eq(s.hold_minutes),
            clinic_settings::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    write_hours(conn, o, s).await
}

async fn write_hours(conn: &mut AsyncPgConnection, o: Uuid, s: &ClinicSettings) -> QueryResult<()> {
    diesel::delete(weekly_hours::table.filter(weekly_hours::org_id.eq(o)))
        .execute(conn)
        .await?;
    diesel::delete(date_overrides::table.filter(date_overrides::org_id.eq(o)))
        .execute(conn)
        .await?;
    // Monday is weekday 1.
    let hours: Vec<_> = (1i16..)
        .zip(s.weekly.iter())
        .flat_map(|(weekday, v)| {
            v.iter().map(move |r| {
                (
                    weekly_hours::org_id.eq(o),
                    weekly_hours::weekday.eq(weekday),
                    weekly_hours::start_minute.eq(i32::from(r.start)),
                    weekly_hours::end_minute.eq(i32::from(r.end)),
                )
            })
        })
        .collect();
    if !hours.is_empty() {
        diesel::insert_into(weekly_hours::table)
            .values(hours)
            .execute(conn)
            .await?;
    }
    let overrides: Vec<_> = s
        .overrides
        .iter()
        .flat_map(|(day, v)| {
            // A closed day is one zero-length row.
            let ranges = if v.is_empty() {
                vec![(0, 0)]
            } else {
                v.iter()
                    .map(|r| (i32::from(r.start), i32::from(r.end)))
                    .collect()
            };
            ranges.into_iter().map(move |(start, end)| {
                (
                    date_overrides::org_id.eq(o),
                    date_overrides::day.eq(*day),
                    date_overrides::start_minute.eq(start),
                    date_overrides::end_minute.eq(end),
                )
            })
        })
        .collect();
    if !overrides.is_empty() {
        diesel::insert_into(date_overrides::table)
            .values(overrides)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Stores `s` only when the org has no settings yet; returns whether it did (a second
/// `org.created.v1` for the same org finds the row and changes nothing).
pub async fn insert_settings_once(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    s: &ClinicSettings,
) -> QueryResult<bool> {
    let o = org.as_uuid();
    let n = diesel::insert_into(clinic_settings::table)
        .values((
            clinic_settings::org_id.eq(o),
            clinic_settings::timezone.eq(s.timezone.name()),
            clinic_settings::slot_interval_minutes.eq(s.slot_interval_minutes),
            clinic_settings::min_notice_minutes.eq(s.min_notice_minutes),
            clinic_settings::booking_window_days.eq(s.booking_window_days),
            clinic_settings::default_buffer_before_minutes.eq(s.default_buffer_before_minutes),
            clinic_settings::default_buffer_after_minutes.eq(s.default_buffer_after_minutes),
            clinic_settings::hold_minutes.eq(s.hold_minutes),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if n == 0 {
        return Ok(false);
    }
    write_hours(conn, o, s).await?;
    Ok(true)
}
