//! The clinic's opening hours as calendar keeps them (weekly ranges by weekday name, date
//! overrides that replace a day's hours) and whether the clinic is open at a wall-clock time:
//! what the after-hours and transfer rules read. Calendar owns them; voice never edits them.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `{"start": "09:30", "end": "12:00"}`; an end of `24:00` (or `23:59`) is midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

/// A date whose hours replace its weekday's; no hours: closed all day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateOverride {
    /// `YYYY-MM-DD`, clinic local.
    pub date: String,
    #[serde(default)]
    pub hours: Vec<TimeRange>,
}

/// A clinic's week and its exceptions, in its own zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicHours {
    /// `monday` … `sunday` → ranges; a missing or empty day is closed.
    #[serde(default)]
    pub weekly_hours: BTreeMap<String, Vec<TimeRange>>,
    #[serde(default)]
    pub date_overrides: Vec<DateOverride>,
}

fn minutes(hhmm: &str, is_end: bool) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if is_end => Some(1440),
        (23, 59) if is_end => Some(1440),
        (h, m) if h < 24 && m < 60 => Some(h * 60 + m),
        _ => None,
    }
}

impl ClinicHours {
    /// The ranges of `date`: its override when it has one, else its weekday's.
    fn ranges_on(&self, date: NaiveDate) -> &[TimeRange] {
        let key = date.format("%Y-%m-%d").to_string();
        if let Some(o) = self.date_overrides.iter().find(|o| o.date == key) {
            return &o.hours;
        }
        let day = usize::try_from(date.weekday().num_days_from_monday())
            .ok()
            .and_then(|i| WEEKDAYS.get(i))
            .copied()
            .unwrap_or_default();
        self.weekly_hours.get(day).map_or(&[], Vec::as_slice)
    }

    /// Whether `local` (clinic wall time) falls in one of that date's ranges.
    pub fn is_open(&self, local: NaiveDateTime) -> bool {
        let now = local.hour() * 60 + local.minute();
        self.ranges_on(local.date()).iter().any(|r| {
            matches!((minutes(&r.start, false), minutes(&r.end, true)),
                     (Some(f), Some(t)) if f <= now && now < t)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: &str, end: &str) -> TimeRange {
        TimeRange {
            start: start.into(),
            end: end.into(),
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn open_within_a_range_of_that_weekday_only() {
        let hours = ClinicHours {
            weekly_hours: BTreeMap::from([
                (
                    "monday".into(),
                    vec![r("09:30", "12:15"), r("13:45", "17:00")],
                ),
                ("saturday".into(), vec![r("10:00", "24:00")]),
                ("sunday".into(), vec![r("22:00", "23:59")]),
            ]),
            date_overrides: vec![],
        };
        assert!(hours.is_open(at("2026-11-23 09:30"))); // a Monday
        assert!(!hours.is_open(at("2026-11-23 09:29")));
        assert!(!hours.is_open(at("2026-11-23 12:15")));
        assert!(!hours.is_open(at("2026-11-23 13:00")));
        assert!(!hours.is_open(at("2026-11-23 17:00")));
        assert!(!hours.is_open(at("2026-11-24 10:00"))); // Tuesday: not listed
        assert!(hours.is_open(at("2026-11-28 23:59"))); // Saturday until midnight
        assert!(hours.is_open(at("2026-11-29 23:59"))); // "23:59" as an end is midnight
        assert!(!ClinicHours::default().is_open(at("2026-11-23 10:00")));
    }

    #[test]
    fn a_date_override_replaces_the_weekday() {
        let hours = ClinicHours {
            weekly_hours: BTreeMap::from([("monday".into(), vec![r("09:00", "17:00")])]),
            date_overrides: vec![
                DateOverride {
                    date: "2026-11-23".into(),
                    hours: vec![],
                },
                DateOverride {
                    date: "2026-11-24".into(),
                    hours: vec![r("07:05", "08:10")],
                },
            ],
        };
        assert!(!hours.is_open(at("2026-11-23 10:00"))); // closed all day
        assert!(hours.is_open(at("2026-11-30 10:00"))); // the next Monday is normal
        assert!(hours.is_open(at("2026-11-24 07:05"))); // a Tuesday opened by override
        assert!(!hours.is_open(at("2026-11-24 08:10")));
    }

    #[test]
    fn malformed_ranges_never_open_the_clinic() {
        let hours = ClinicHours {
            weekly_hours: BTreeMap::from([(
                "monday".into(),
                vec![r("9:00", "17:00"), r("09:00", "25:00"), r("24:00", "24:00")],
            )]),
            date_overrides: vec![],
        };
        assert!(!hours.is_open(at("2026-11-23 12:00")));
    }
}
