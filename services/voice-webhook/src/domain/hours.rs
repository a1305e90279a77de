//! An agent's opening hours (clinic local time), deciding its after-hours behaviour.

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One open period: `day` (`mon`…`sun`), `from`–`to` as `HH:MM` (`to` may be `24:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRange {
    pub day: String,
    pub from: String,
    pub to: String,
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && (h < 24 || m == 0) && hhmm.len() == 5).then_some(h * 60 + m)
}

/// Checks the ranges; the error names what is wrong.
pub fn validate(ranges: &[OpenRange]) -> Result<(), String> {
    for r in ranges {
        if !DAYS.contains(&r.day.as_str()) {
            return Err(format!(
                "day {:?} must be one of {}",
                r.day,
                DAYS.join(", ")
            ));
        }
        match (minutes(&r.from), minutes(&r.to)) {
            (Some(f), Some(t)) if f < t => {}
            _ => {
                return Err(format!(
                    "{}–{} on {} is not a valid HH:MM range",
                    r.from, r.to, r.day
                ));
            }
        }
    }
    Ok(())
}

/// Whether `local` (clinic wall time) falls in one of the ranges.
pub fn is_open(ranges: &[OpenRange], local: NaiveDateTime) -> bool {
    let day = DAYS[local.weekday().num_days_from_monday() as usize];
    let now = local.hour() * 60 + local.minute();
    ranges.iter().any(|r| {
        r.day == day && matches!((minutes(&r.from), minutes(&r.to)), (Some(f), Some(t)) if f <= now && now < t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(day: &str, from: &str, to: &str) -> OpenRange {
        OpenRange {
            day: day.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn open_within_a_range_of_that_weekday_only() {
        let hours = vec![
            r("mon", "09:00", "12:30"),
            r("mon", "13:30", "17:00"),
            r("sat", "10:00", "24:00"),
        ];
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert!(is_open(&hours, at("2026-11-23 09:00"))); // a Monday
        assert!(!is_open(&hours, at("2026-11-23 12:45")));
        assert!(!is_open(&hours, at("2026-11-23 17:00")));
        assert!(!is_open(&hours, at("2026-11-24 10:00"))); // Tuesday
        assert!(is_open(&hours, at("2026-11-28 23:59"))); // Saturday until midnight
        assert!(!is_open(&[], at("2026-11-23 10:00")));
    }

    #[test]
    fn bad_ranges_are_named() {
        assert!(validate(&[r("mon", "09:00", "17:00")]).is_ok());
        assert!(
            validate(&[r("monday", "09:00", "17:00")])
                .unwrap_err()
                .contains("monday")
        );
        assert!(validate(&[r("mon", "17:00", "09:00")]).is_err());
        assert!(validate(&[r("mon", "9:00", "17:00")]).is_err());
        assert!(validate(&[r("mon", "09:00", "24:30")]).is_err());
    }
}
