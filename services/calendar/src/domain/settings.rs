//! The clinic's booking settings: zone, weekly hours (several ranges a day), date overrides, slot
//! interval, minimum notice, booking window, default buffers, hold length. Validation of what
//! an admin sends, and the defaults an org starts with.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::availability::{MinuteRange, Schedule};
use super::invalid::InvalidField;
use super::service::NewService;

pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Validated settings of one clinic.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicSettings {
    pub timezone: Tz,
    /// `None`: each service steps by its own duration.
    pub slot_interval_minutes: Option<i32>,
    pub min_notice_minutes: i32,
    pub booking_window_days: i32,
    pub default_buffer_before_minutes: i32,
    pub default_buffer_after_minutes: i32,
    pub hold_minutes: i32,
    /// Index 0 = Monday.
    pub weekly: [Vec<MinuteRange>; 7],
    /// An empty list closes the date.
    pub overrides: BTreeMap<NaiveDate, Vec<MinuteRange>>,
}

impl ClinicSettings {
    /// What an org starts with: Monday to Friday 09:00–17:00, two hours' notice, 60 days ahead.
    pub fn defaults(timezone: Tz) -> Self {
        let weekday = vec![MinuteRange {
            start: 9 * 60,
            end: 17 * 60,
        }];
        ClinicSettings {
            timezone,
            slot_interval_minutes: None,
            min_notice_minutes: 120,
            booking_window_days: 60,
            default_buffer_before_minutes: 0,
            default_buffer_after_minutes: 0,
            hold_minutes: 5,
            weekly: std::array::from_fn(|i| if i < 5 { weekday.clone() } else { vec![] }),
            overrides: BTreeMap::new(),
        }
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            tz: self.timezone,
            weekly: self.weekly.clone(),
            overrides: self.overrides.clone(),
        }
    }
}

/// The seven services a new org starts with.
pub fn default_services() -> Vec<NewService> {
    [
        (
            "Consultation",
            "First visit: exam and treatment plan.",
            30,
            7500,
        ),
        ("Follow-up", "A short visit after a treatment.", 20, 5000),
        ("Cleaning", "Professional cleaning and polish.", 45, 12000),
        ("Check-up", "Routine examination.", 30, 9000),
        ("Filling", "One filling.", 60, 18000),
        ("Whitening", "In-office whitening session.", 60, 25000),
        (
            "Emergency visit",
            "Same-day care for pain or injury.",
            30,
            15000,
        ),
    ]
    .into_iter()
    .map(|(name, description, duration, price)| NewService {
        name: name.into(),
        description: description.into(),
        duration_minutes: duration,
        price_cents: price,
        currency: "USD".into(),
        buffer_before_minutes: None,
        buffer_after_minutes: None,
        active: true,
    })
    .collect()
}

/// `{"start": "09:00", "end": "12:30"}`; `end` may be `24:00` (or `23:59`) for midnight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DateOverride {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// The day's hours; empty = closed all day.
    #[serde(default)]
    pub hours: Vec<TimeRange>,
}

/// The settings as the API shows and takes them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingsDoc {
    /// IANA zone, e.g. `America/New_York`.
    pub timezone: String,
    /// Minutes between slot starts; null = each service's duration.
    pub slot_interval_minutes: Option<i32>,
    pub min_notice_minutes: i32,
    /// Slots may start today and on the next `booking_window_days - 1` local dates.
    pub booking_window_days: i32,
    pub default_buffer_before_minutes: i32,
    pub default_buffer_after_minutes: i32,
    pub hold_minutes: i32,
    /// `monday` … `sunday` → ranges; a missing or empty day is closed.
    pub weekly_hours: BTreeMap<String, Vec<TimeRange>>,
    #[serde(default)]
    pub date_overrides: Vec<DateOverride>,
}

pub(crate) fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn parse_hhmm(s: &str, is_end: bool) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if is_end && h == 24 && m == 0 {
        return Some(1440);
    }
    if h > 23 || m > 59 {
        return None;
    }
    // "23:59" as an end means midnight (scheduling.md §3).
    if is_end && h == 23 && m == 59 {
        return Some(1440);
    }
    Some(h * 60 + m)
}

pub(crate) fn ranges(field: &str, raw: &[TimeRange]) -> Result<Vec<MinuteRange>, InvalidField> {
    let bad = |d: String| InvalidField::new(field, d);
    if raw.len() > 12 {
        return Err(bad(format!("{field}: at most 12 ranges a day")));
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let start = parse_hhmm(&r.start, false)
            .ok_or_else(|| bad(format!("{field}: start {:?} is not HH:MM", r.start)))?;
        let end = parse_hhmm(&r.end, true)
            .ok_or_else(|| bad(format!("{field}: end {:?} is not HH:MM", r.end)))?;
        if end <= start {
            return Err(bad(format!("{field}: each range must end after it starts")));
        }
        out.push(MinuteRange { start, end });
    }
    out.sort();
    if out.windows(2).any(|w| w[1].start < w[0].end) {
        return Err(bad(format!("{field}: ranges overlap")));
    }
    Ok(out)
}

fn in_range(field: &str, v: i32, lo: i32, hi: i32) -> Result<i32, InvalidField> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(InvalidField::new(
            field,
            format!("{field} must be between {lo} and {hi}"),
        ))
    }
}

pub fn parse_timezone(field: &str, raw: &str) -> Result<Tz, InvalidField> {
    raw.parse::<Tz>().map_err(|_| {
        InvalidField::new(
            field,
            format!("{field} must be an IANA time zone such as America/New_York"),
        )
    })
}

/// `monday` … `sunday` → ranges (a missing day is closed), validated.
pub fn parse_weekly(
    raw: &BTreeMap<String, Vec<TimeRange>>,
) -> Result<[Vec<MinuteRange>; 7], InvalidField> {
    let mut weekly: [Vec<MinuteRange>; 7] = Default::default();
    for (day, r) in raw {
        let i = WEEKDAYS.iter().position(|d| d == day).ok_or_else(|| {
            InvalidField::new(
                "weekly_hours",
                format!("weekly_hours: {day:?} is not a weekday name (monday … sunday)"),
            )
        })?;
        if let Some(slot) = weekly.get_mut(i) {
            *slot = ranges(&format!("weekly_hours.{day}"), r)?;
        }
    }
    Ok(weekly)
}

/// Date overrides (at most 400, each date once), validated.
pub fn parse_overrides(
    raw: &[DateOverride],
) -> Result<BTreeMap<NaiveDate, Vec<MinuteRange>>, InvalidField> {
    if raw.len() > 400 {
        return Err(InvalidField::new(
            "date_overrides",
            "at most 400 date overrides",
        ));
    }
    let mut overrides = BTreeMap::new();
    for o in raw {
        let date = NaiveDate::parse_from_str(&o.date, "%Y-%m-%d").map_err(|_| {
            InvalidField::new(
                "date_overrides",
                format!("date_overrides: {:?} is not a YYYY-MM-DD date", o.date),
            )
        })?;
        let r = ranges("date_overrides", &o.hours)?;
        if overrides.insert(date, r).is_some() {
            return Err(InvalidField::new(
                "date_overrides",
                format!("date_overrides: {} appears twice", o.date),
            ));
        }
    }
    Ok(overrides)
}

/// Ranges as the API shows them.
pub fn doc_ranges(v: &[MinuteRange]) -> Vec<TimeRange> {
    v.iter()
        .map(|r| TimeRange {
            start: hhmm(r.start),
            end: hhmm(r.end),
        })
        .collect()
}

/// Weekly hours as the API shows them (every weekday, closed ones empty).
pub fn doc_weekly(weekly: &[Vec<MinuteRange>; 7]) -> BTreeMap<String, Vec<TimeRange>> {
    WEEKDAYS
        .iter()
        .zip(weekly.iter())
        .map(|(d, v)| (d.to_string(), doc_ranges(v)))
        .collect()
}

/// Date overrides as the API shows them.
pub fn doc_overrides(o: &BTreeMap<NaiveDate, Vec<MinuteRange>>) -> Vec<DateOverride> {
    o.iter()
        .map(|(d, r)| DateOverride {
            date: d.format("%Y-%m-%d").to_string(),
            hours: doc_ranges(r),
        })
        .collect()
}

impl SettingsDoc {
    pub fn validate(&self) -> Result<ClinicSettings, InvalidField> {
        let timezone = parse_timezone("timezone", &self.timezone)?;
        let slot_interval_minutes = self
            .slot_interval_minutes
            .map(|v| in_range("slot_interval_minutes", v, 5, 1440))
            .transpose()?;
        let weekly = parse_weekly(&self.weekly_hours)?;
        let overrides = parse_overrides(&self.date_overrides)?;
        Ok(ClinicSettings {
            timezone,
            slot_interval_minutes,
            min_notice_minutes: in_range(
                "min_notice_minutes",
                self.min_notice_minutes,
                0,
                525_600,
            )?,
            booking_window_days: in_range("booking_window_days", self.booking_window_days, 1, 730)?,
            default_buffer_before_minutes: in_range(
                "default_buffer_before_minutes",
                self.default_buffer_before_minutes,
                0,
                240,
            )?,
            default_buffer_after_minutes: in_range(
                "default_buffer_after_minutes",
                self.default_buffer_after_minutes,
                0,
                240,
            )?,
            hold_minutes: in_range("hold_minutes", self.hold_minutes, 1, 60)?,
            weekly,
            overrides,
        })
    }
}

impl From<&ClinicSettings> for SettingsDoc {
    fn from(s: &ClinicSettings) -> Self {
        let doc_ranges = |v: &[MinuteRange]| {
            v.iter()
                .map(|r| TimeRange {
                    start: hhmm(r.start),
                    end: hhmm(r.end),
                })
                .collect::<Vec<_>>()
        };
        SettingsDoc {
            timezone: s.timezone.name().to_string(),
            slot_interval_minutes: s.slot_interval_minutes,
            min_notice_minutes: s.min_notice_minutes,
            booking_window_days: s.booking_window_days,
            default_buffer_before_minutes: s.default_buffer_before_minutes,
            default_buffer_after_minutes: s.default_buffer_after_minutes,
            hold_minutes: s.hold_minutes,
            weekly_hours: WEEKDAYS
                .iter()
                .enumerate()
                .map(|(i, d)| (d.to_string(), doc_ranges(&s.weekly[i])))
                .collect(),
            date_overrides: s
                .overrides
                .iter()
                .map(|(d, r)| DateOverride {
                    date: d.format("%Y-%m-%d").to_string(),
                    hours: doc_ranges(r),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_round_trips_and_midnight_ends_are_accepted() {
        let mut s = ClinicSettings::defaults(chrono_tz::America::New_York);
        s.weekly[5] = vec![MinuteRange {
            start: 600,
            end: 1440,
        }];
        let doc = SettingsDoc::from(&s);
        assert_eq!(doc.weekly_hours["saturday"][0].end, "24:00");
        assert_eq!(doc.validate().unwrap(), s);
        assert_eq!(parse_hhmm("23:59", true), Some(1440));
        assert_eq!(parse_hhmm("23:59", false), Some(1439));
        assert_eq!(parse_hhmm("24:00", false), None);
        assert_eq!(parse_hhmm("9:00", false), None);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let base = SettingsDoc::from(&ClinicSettings::defaults(chrono_tz::UTC));
        let field = |d: SettingsDoc| d.validate().unwrap_err().field;
        let mut d = base.clone();
        d.timezone = "Mars/Olympus".into();
        assert_eq!(field(d), "timezone");
        let mut d = base.clone();
        d.weekly_hours.insert(
            "monday".into(),
            vec![
                TimeRange {
                    start: "09:00".into(),
                    end: "12:00".into(),
                },
                TimeRange {
                    start: "11:00".into(),
                    end: "13:00".into(),
                },
            ],
        );
        assert_eq!(field(d), "weekly_hours.monday");
        let mut d = base.clone();
        d.weekly_hours.insert("funday".into(), vec![]);
        assert_eq!(field(d), "weekly_hours");
        let mut d = base.clone();
        d.booking_window_days = 0;
        assert_eq!(field(d), "booking_window_days");
        let mut d = base;
        d.date_overrides = vec![DateOverride {
            date: "2026-13-01".into(),
            hours: vec![],
        }];
        assert_eq!(field(d), "date_overrides");
    }

    #[test]
    fn seven_default_services_with_distinct_names() {
        let s = default_services();
        assert_eq!(s.len(), 7);
        let mut names: Vec<_> = s.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 7);
    }
}
