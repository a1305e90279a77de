//! Sentences an agent can say: one line, times in the clinic's time zone.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The clinic's zone, UTC when the name is not an IANA zone we know.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// `Thursday 12 March at 3:00 PM` in `tz`.
pub fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%A %-d %B at %-I:%M %p")
        .to_string()
}

/// `3:00 PM` in `tz`.
pub fn time_of_day(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%-I:%M %p").to_string()
}

/// `Thursday 12 March`.
pub fn day(d: NaiveDate) -> String {
    d.format("%A %-d %B").to_string()
}

/// Today's date in `tz`.
pub fn today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Midnight of `d` in `tz`, as an instant.
pub fn start_of_day(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// Several times as one spoken list: `9:00 AM, 9:30 AM or 10:00 AM`.
pub fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Vapi needs single-line strings: newlines and runs of whitespace become one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_spoken_in_the_clinic_zone_across_dst() {
        let tz = zone("America/New_York");
        let summer = DateTime::parse_from_rfc3339("2026-03-12T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(summer, tz), "Thursday 12 March at 3:00 PM");
        let winter = DateTime::parse_from_rfc3339("2026-03-05T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(winter, tz), "Thursday 5 March at 3:00 PM");
        // 02:30 UTC on the 13th is still the 12th in New York.
        let late = DateTime::parse_from_rfc3339("2026-03-13T02:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(today(late, tz).to_string(), "2026-03-12");
        assert_eq!(
            start_of_day(today(late, tz), tz).to_rfc3339(),
            "2026-03-12T04:00:00+00:00"
        );
        assert_eq!(zone("Not/AZone"), Tz::UTC);
    }

    #[test]
    fn lists_and_lines() {
        assert_eq!(or_list(&["a".into(), "b".into(), "c".into()]), "a, b or c");
        assert_eq!(or_list(&["a".into()]), "a");
        assert_eq!(one_line("a\nb\r\n  c"), "a b c");
    }
}
