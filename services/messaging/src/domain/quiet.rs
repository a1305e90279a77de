//! Quiet hours: texts that may wait (reminders, manual and marketing sends) go out only between
//! the window's opening and closing time in the clinic's zone (default 08:00–21:00); outside it
//! they wait for the next opening, computed in local time so DST days are right.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First local time a text may go out (inclusive), e.g. 08:00.
    pub opens: NaiveTime,
    /// Local time from which texts wait (exclusive), e.g. 21:00.
    pub closes: NaiveTime,
}

impl Window {
    pub fn default_hours() -> Self {
        Window {
            opens: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            closes: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
        }
    }

    fn contains(&self, t: NaiveTime) -> bool {
        if self.opens <= self.closes {
            t >= self.opens && t < self.closes
        } else {
            // A window across midnight (e.g. 20:00–02:00).
            t >= self.opens || t < self.closes
        }
    }

    /// `at` itself when it is inside the window, else the next opening in `tz`.
    pub fn next_allowed(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        if self.contains(local.time()) {
            return at;
        }
        let today = local.date_naive();
        let day = if local.time() < self.opens {
            today
        } else {
            today.succ_opt().unwrap_or(today)
        };
        opening(day, self.opens, tz).max(at)
    }
}

/// `day` at local `time` in `tz`; a time skipped by a DST jump moves forward past the gap.
fn opening(day: NaiveDate, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let mut naive = day.and_time(time);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += Duration::minutes(30);
    }
    naive.and_utc()
}

/// The local date of `at` in `tz` as `YYYY-MM-DD` (a per-day limit's key).
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> String {
    let d = at.with_timezone(&tz);
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn inside_the_window_goes_now() {
        let w = Window::default_hours();
        let at = utc("2026-12-03T15:00:00Z"); // 10:00 EST
        assert_eq!(w.next_allowed(at, NY), at);
        // 08:00 is open, 21:00 is closed.
        assert_eq!(
            w.next_allowed(utc("2026-12-03T13:00:00Z"), NY),
            utc("2026-12-03T13:00:00Z")
        );
        assert_eq!(
            w.next_allowed(utc("2026-12-04T02:00:00Z"), NY),
            utc("2026-12-04T13:00:00Z")
        );
    }

    #[test]
    fn early_morning_waits_for_eight_local() {
        let w = Window::default_hours();
        assert_eq!(
            w.next_allowed(utc("2026-12-03T11:30:00Z"), NY),
            utc("2026-12-03T13:00:00Z")
        );
    }

    #[test]
    fn dst_starts_eight_am_is_edt() {
        // 2027-03-14: clocks jump 02:00 EST → 03:00 EDT. 07:00 EDT (11:00Z) waits for 08:00 EDT
        // = 12:00Z, not 13:00Z (what EST would give).
        let w = Window::default_hours();
        assert_eq!(
            w.next_allowed(utc("2027-03-14T11:00:00Z"), NY),
            utc("2027-03-14T12:00:00Z")
        );
        // 01:30 EST the same night (06:30Z) waits for the same 08:00 EDT.
        assert_eq!(
            w.next_allowed(utc("2027-03-14T06:30:00Z"), NY),
            utc("2027-03-14T12:00:00Z")
        );
    }

    #[test]
    fn dst_ends_eight_am_is_est() {
        // 2026-11-01: 02:00 EDT → 01:00 EST. 01:30 (first, EDT = 05:30Z) waits for 08:00 EST = 13:00Z.
        let w = Window::default_hours();
        assert_eq!(
            w.next_allowed(utc("2026-11-01T05:30:00Z"), NY),
            utc("2026-11-01T13:00:00Z")
        );
        // 21:30 EDT the evening before (01:30Z Nov 1) also waits for 08:00 EST.
        assert_eq!(
            w.next_allowed(utc("2026-11-01T01:30:00Z"), NY),
            utc("2026-11-01T13:00:00Z")
        );
    }

    #[test]
    fn an_opening_inside_a_dst_gap_moves_past_it() {
        let w = Window {
            opens: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            closes: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        };
        // 2027-03-14 02:30 does not exist in New York; the first moment after is 03:00 EDT.
        assert_eq!(
            w.next_allowed(utc("2027-03-14T06:00:00Z"), NY),
            utc("2027-03-14T07:00:00Z")
        );
    }

    #[test]
    fn local_days() {
        assert_eq!(local_day(utc("2026-12-04T02:00:00Z"), NY), "2026-12-03");
    }
}
