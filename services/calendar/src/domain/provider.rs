//! Providers: the people or rooms a clinic books (issue 15, ADR 0021). A provider works its own
//! weekly hours or the clinic's, with its own date overrides on top of the clinic's, and
//! provides every service or a chosen few. Validation of what an admin sends, how a provider's
//! schedule is resolved, and the least-loaded rule that assigns one to a booking.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::availability::{MinuteRange, Schedule};
use super::invalid::InvalidField;
use super::settings::{ClinicSettings, DateOverride, TimeRange, parse_overrides, parse_weekly};

pub const MAX_NAME_CHARS: usize = 120;
pub const MAX_SERVICES: usize = 200;
/// The name of the provider every org starts with (today's "the clinic").
pub const DEFAULT_NAME: &str = "Clinic";

/// A provider's own hours: `weekly = None` follows the clinic's weekly hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderHours {
    pub weekly: Option<[Vec<MinuteRange>; 7]>,
    pub overrides: BTreeMap<NaiveDate, Vec<MinuteRange>>,
}

impl ProviderHours {
    /// When the provider works, in the clinic's zone. For each local date: the provider's own
    /// override, else the clinic's override (a clinic holiday closes everyone), else the
    /// provider's weekly hours, else the clinic's.
    pub fn schedule(&self, clinic: &ClinicSettings) -> Schedule {
        let mut overrides = clinic.overrides.clone();
        overrides.extend(self.overrides.iter().map(|(d, r)| (*d, r.clone())));
        Schedule {
            tz: clinic.timezone,
            weekly: self.weekly.clone().unwrap_or_else(|| clinic.weekly.clone()),
            overrides,
        }
    }
}

/// A validated provider, as created or fully described.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    pub name: String,
    pub active: bool,
    pub hours: ProviderHours,
    /// `None`: every service of the clinic.
    pub service_ids: Option<Vec<Uuid>>,
    pub google_calendar_id: Option<String>,
}

/// The fields a change sets; `None` leaves a field as it is (`Some(None)` clears a nullable
/// one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub weekly: Option<Option<[Vec<MinuteRange>; 7]>>,
    pub overrides: Option<BTreeMap<NaiveDate, Vec<MinuteRange>>>,
    pub service_ids: Option<Option<Vec<Uuid>>>,
    pub google_calendar_id: Option<Option<String>>,
}

impl ProviderPatch {
    pub fn is_empty(&self) -> bool {
        *self == ProviderPatch::default()
    }
}

pub fn validate_name(raw: &str) -> Result<String, InvalidField> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidField::new(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_string())
}

pub fn validate_weekly(
    raw: Option<&BTreeMap<String, Vec<TimeRange>>>,
) -> Result<Option<[Vec<MinuteRange>; 7]>, InvalidField> {
    raw.map(parse_weekly).transpose()
}

pub fn validate_overrides(
    raw: &[DateOverride],
) -> Result<BTreeMap<NaiveDate, Vec<MinuteRange>>, InvalidField> {
    parse_overrides(raw)
}

/// At most 200 distinct ids, at least one (an empty list would make a provider nobody can
/// book: deactivate it instead). Whether each is a service of the org is checked by the use
/// case, in the same transaction as the write.
pub fn validate_service_ids(raw: Option<Vec<Uuid>>) -> Result<Option<Vec<Uuid>>, InvalidField> {
    let Some(mut ids) = raw else {
        return Ok(None);
    };
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_SERVICES {
        return Err(InvalidField::new(
            "service_ids",
            format!(
                "service_ids must list 1 to {MAX_SERVICES} services, or be null for every service"
            ),
        ));
    }
    Ok(Some(ids))
}

/// Google calendar ids are e-mail-like (`primary`, `abc@group.calendar.google.com`).
pub fn validate_google_calendar_id(raw: Option<&str>) -> Result<Option<String>, InvalidField> {
    let Some(id) = raw.map(str::trim) else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > 255 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(InvalidField::new(
            "google_calendar_id",
            "google_calendar_id must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(id.to_string()))
}

/// A provider that could take a booking, with what the least-loaded rule compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    /// Appointments (and live holds) it has starting on the booking's local date.
    pub load: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The least-loaded rule: fewest appointments on that local date, then the provider added
/// first, then the smaller id (deterministic, so concurrent requests agree on the order).
pub fn least_loaded(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by_key(|a| (a.load, a.created_at, a.id));
    candidates
}

/// A name as people say it: lowercase letters and digits, titles dropped ("Dr. Anika Patel" →
/// ["anika", "patel"]).
pub fn name_words(raw: &str) -> Vec<String> {
    const TITLES: [&str; 8] = ["dr", "doctor", "mr", "mrs", "ms", "miss", "prof", "nurse"];
    raw.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !TITLES.contains(&w.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn m(start: u16, end: u16) -> MinuteRange {
        MinuteRange { start, end }
    }

    #[test]
    fn a_provider_falls_back_to_the_clinic_and_its_own_override_wins() {
        let mut clinic = ClinicSettings::defaults(chrono_tz::America::New_York);
        let holiday = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        let short = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        clinic.overrides.insert(holiday, vec![]);
        clinic.overrides.insert(short, vec![m(540, 720)]);
        let follows = ProviderHours::default().schedule(&clinic);
        assert_eq!(follows.weekly, clinic.weekly);
        assert_eq!(follows.overrides, clinic.overrides);

        let mut own = ProviderHours {
            weekly: Some(std::array::from_fn(|_| vec![m(600, 900)])),
            overrides: BTreeMap::new(),
        };
        own.overrides.insert(short, vec![m(480, 600)]);
        let s = own.schedule(&clinic);
        assert_eq!(s.weekly[6], vec![m(600, 900)]);
        assert_eq!(
            s.overrides[&short],
            vec![m(480, 600)],
            "its own override wins"
        );
        assert_eq!(
            s.overrides[&holiday],
            vec![],
            "the clinic's holiday still closes it"
        );
    }

    #[test]
    fn least_loaded_then_oldest_then_smallest_id() {
        let t = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let c = Uuid::from_u128(3);
        let order = least_loaded(vec![
            Candidate {
                id: c,
                load: 1,
                created_at: t(1),
            },
            Candidate {
                id: b,
                load: 0,
                created_at: t(2),
            },
            Candidate {
                id: a,
                load: 0,
                created_at: t(2),
            },
        ]);
        let ids: Vec<_> = order.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![a, b, c]);
    }

    #[test]
    fn names_are_compared_without_titles_or_punctuation() {
        assert_eq!(name_words("Dr. Anika Patel"), vec!["anika", "patel"]);
        assert_eq!(name_words("  PATEL "), vec!["patel"]);
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"x".repeat(121)).is_err());
        assert_eq!(
            validate_service_ids(Some(vec![])).unwrap_err().field,
            "service_ids"
        );
        assert!(validate_google_calendar_id(Some("a b")).is_err());
    }
}
