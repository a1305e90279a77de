//! Open slots: business hours expanded per local date in the clinic's zone (DST-correct), minus
//! busy time with buffers, within minimum notice and the booking window. Pure: the caller loads
//! the schedule and the busy ranges. Rules: shared/specs/scheduling.md §3 and §10.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Minutes since local midnight: `[start, end)`, `end` up to 1440 (midnight ending the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinuteRange {
    pub start: u16,
    pub end: u16,
}

/// When the clinic is open, in its own zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub tz: Tz,
    /// Index 0 = Monday … 6 = Sunday.
    pub weekly: [Vec<MinuteRange>; 7],
    /// A date present here replaces that day's weekly hours; an empty list closes the day.
    pub overrides: BTreeMap<NaiveDate, Vec<MinuteRange>>,
}

/// How slots are cut and bounded.
#[derive(Debug, Clone, Copy)]
pub struct SlotRules {
    pub duration: Duration,
    /// Distance between slot starts (the slot interval, else the duration).
    pub step: Duration,
    pub buffer_before: Duration,
    pub buffer_after: Duration,
    pub min_notice: Duration,
    /// Slots may start on today's local date and the next `window_days - 1` dates.
    pub window_days: u32,
}

/// A half-open instant range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Busy time that slots must keep clear of.
#[derive(Debug, Clone, Default)]
pub struct Busy {
    /// Our own appointments and live holds: their ranges *including their buffers*.
    pub blocks: Vec<Interval>,
    /// External busy time (Google): no buffers of their own.
    pub external: Vec<Interval>,
}

/// Which side of a range a local time bounds: decides the instant in a fold or gap.
#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// A local wall-clock time in `tz` as an instant. Fold (fall back): a start takes the earlier
/// instant, an end the later one. Gap (spring forward): the time moves forward by the gap's
/// length (the "compatible" rule: read it with the offset in force before the gap).
fn resolve(tz: Tz, local: NaiveDateTime, edge: Edge) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(early, late) => match edge {
            Edge::Start => early.with_timezone(&Utc),
            Edge::End => late.with_timezone(&Utc),
        },
        LocalResult::None => {
            // Read the time with the offset in force just before the gap (gaps last at most a day).
            let mut probe = local;
            for _ in 0..(2 * 48) {
                probe -= Duration::minutes(30);
                if let Some(before) = tz.from_local_datetime(&probe).earliest() {
                    let offset = i64::from(before.offset().fix().local_minus_utc());
                    return (local - Duration::seconds(offset)).and_utc();
                }
            }
            local.and_utc()
        }
    }
}

fn at_minute(day: NaiveDate, minute: u16) -> NaiveDateTime {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    midnight + Duration::minutes(i64::from(minute))
}

impl Schedule {
    /// The open ranges of one local date, as instants.
    pub fn open_ranges(&self, day: NaiveDate) -> Vec<Interval> {
        // 0..=6 always fits a usize.
        let weekday = usize::try_from(day.weekday().num_days_from_monday()).unwrap_or_default();
        let ranges = match self.overrides.get(&day) {
            Some(r) => r,
            None => &self.weekly[weekday],
        };
        ranges
            .iter()
            .filter(|r| r.end > r.start)
            .map(|r| Interval {
                start: resolve(self.tz, at_minute(day, r.start), Edge::Start),
                end: resolve(self.tz, at_minute(day, r.end), Edge::End),
            })
            .filter(|i| i.end > i.start)
            .collect()
    }

    /// The local date of an instant in the clinic's zone.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Midnight starting a local date, as an instant.
    pub fn start_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        resolve(self.tz, at_minute(day, 0), Edge::Start)
    }
}

/// The first start on the range's grid (`open.start + k·step`, k ≥ 0) at or after `lower`.
/// The grid is counted from the opening time of each open range, in instants (so a range that
/// spans a DST change keeps its real spacing); a query's `from`, the minimum notice and the
/// booking window only cut it, never shift it. Offering and booking share this one definition.
fn first_on_grid(open: &Interval, step: Duration, lower: DateTime<Utc>) -> DateTime<Utc> {
    if lower <= open.start {
        return open.start;
    }
    let step_s = step.num_seconds().max(1);
    let behind =
        (lower - open.start).num_seconds() + i64::from((lower - open.start).subsec_nanos() > 0);
    let k = (behind + step_s - 1) / step_s;
    open.start + Duration::seconds(k * step_s)
}

/// Bookable slots whose start lies in `[from, to)`.
pub fn available_slots(
    schedule: &Schedule,
    rules: &SlotRules,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    busy: &Busy,
) -> Vec<Slot> {
    if to <= from || rules.duration <= Duration::zero() || rules.step <= Duration::zero() {
        return Vec::new();
    }
    let earliest = now + rules.min_notice;
    let window_end = schedule
        .start_of_day(schedule.local_date(now) + chrono::Days::new(u64::from(rules.window_days)));
    let lower = from.max(earliest);
    let upper = to.min(window_end);
    if upper <= lower {
        return Vec::new();
    }
    let mut blocks = busy.blocks.clone();
    blocks.sort();
    let mut slots = Vec::new();
    // A day's hours can reach into the neighbouring UTC dates: look one local date either side.
    let first_day = schedule.local_date(lower) - chrono::Days::new(1);
    let last_day = schedule.local_date(upper) + chrono::Days::new(1);
    let mut day = first_day;
    while day <= last_day {
        for open in schedule.open_ranges(day) {
            let mut start = first_on_grid(&open, rules.step, lower);
            while start + rules.duration <= open.end && start < upper {
                let candidate = Slot {
                    starts_at: start,
                    ends_at: start + rules.duration,
                };
                if start >= lower && is_free(&candidate, rules, &blocks, &busy.external) {
                    slots.push(candidate);
                }
                start += rules.step;
            }
        }
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    slots.sort_by_key(|s| s.starts_at);
    slots.dedup_by_key(|s| s.starts_at);
    slots
}

/// True when the candidate, with the service's buffers, overlaps no block and no external busy
/// time (two appointments conflict iff their buffered ranges overlap, as the DB constraint says).
pub fn is_free(slot: &Slot, rules: &SlotRules, blocks: &[Interval], external: &[Interval]) -> bool {
    let mine = Interval {
        start: slot.starts_at - rules.buffer_before,
        end: slot.ends_at + rules.buffer_after,
    };
    !blocks.iter().any(|b| b.overlaps(&mine)) && !external.iter().any(|b| b.overlaps(&mine))
}

/// True when `start` is a slot the schedule offers (ignoring busy time): used to refuse a
/// booking from the voice agent or the API at a time the clinic does not offer.
pub fn is_offered(
    schedule: &Schedule,
    rules: &SlotRules,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    available_slots(
        schedule,
        rules,
        start,
        start + Duration::seconds(1),
        now,
        &Busy::default(),
    )
    .first()
    .is_some_and(|s| s.starts_at == start)
}

/// Why a start is not offered, most fundamental first: what a caller can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotOffered {
    #[error("it is inside the clinic's minimum notice")]
    TooSoon,
    #[error("it is past the clinic's booking window")]
    BeyondWindow,
    #[error("the clinic is not open for the whole appointment then (outside its hours)")]
    OutsideHours,
    #[error(
        "it is not one of the clinic's start times (the slot grid counts from the opening time)"
    )]
    OffGrid,
}

/// `None` when `start` is offered (as `is_offered`), else why not.
pub fn why_not_offered(
    schedule: &Schedule,
    rules: &SlotRules,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<NotOffered> {
    if is_offered(schedule, rules, start, now) {
        return None;
    }
    if start < now + rules.min_notice {
        return Some(NotOffered::TooSoon);
    }
    let window_end = schedule
        .start_of_day(schedule.local_date(now) + chrono::Days::new(u64::from(rules.window_days)));
    if start >= window_end {
        return Some(NotOffered::BeyondWindow);
    }
    let day = schedule.local_date(start);
    let inside = [day.pred_opt(), Some(day), day.succ_opt()]
        .into_iter()
        .flatten()
        .flat_map(|d| schedule.open_ranges(d))
        .any(|r| r.start <= start && start + rules.duration <= r.end);
    Some(if inside {
        NotOffered::OffGrid
    } else {
        NotOffered::OutsideHours
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> Tz {
        chrono_tz::America::New_York
    }

    fn r(start: &str, end: &str) -> MinuteRange {
        let m = |s: &str| {
            let (h, mi) = s.split_once(':').unwrap();
            h.parse::<u16>().unwrap() * 60 + mi.parse::<u16>().unwrap()
        };
        MinuteRange {
            start: m(start),
            end: m(end),
        }
    }

    fn every_day(ranges: Vec<MinuteRange>) -> Schedule {
        Schedule {
            tz: ny(),
            weekly: std::array::from_fn(|_| ranges.clone()),
            overrides: BTreeMap::new(),
        }
    }

    fn rules(minutes: i64) -> SlotRules {
        SlotRules {
            duration: Duration::minutes(minutes),
            step: Duration::minutes(minutes),
            buffer_before: Duration::zero(),
            buffer_after: Duration::zero(),
            min_notice: Duration::zero(),
            window_days: 365,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.starts_at.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    fn locals(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.starts_at.with_timezone(&ny()).to_rfc3339())
            .collect()
    }

    const LONG_AGO: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn spring_forward_has_no_slot_in_the_gap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT in New York.
        let s = every_day(vec![r("01:00", "04:00")]);
        let slots = available_slots(
            &s,
            &rules(30),
            utc("2026-03-08T05:00:00Z"),
            utc("2026-03-08T09:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        assert_eq!(
            locals(&slots),
            vec![
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:30:00-04:00",
            ]
        );
        assert_eq!(
            starts(&slots),
            vec![
                "2026-03-08T06:00Z",
                "2026-03-08T06:30Z",
                "2026-03-08T07:00Z",
                "2026-03-08T07:30Z"
            ]
        );
    }

    #[test]
    fn business_hours_keep_their_local_time_across_the_change() {
        let s = every_day(vec![r("09:00", "10:00")]);
        let slots = available_slots(
            &s,
            &rules(60),
            utc("2026-03-07T00:00:00Z"),
            utc("2026-03-10T00:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        // 09:00 EST is 14:00Z before the change, 09:00 EDT is 13:00Z from the change on.
        assert_eq!(
            starts(&slots),
            vec![
                "2026-03-07T14:00Z",
                "2026-03-08T13:00Z",
                "2026-03-09T13:00Z"
            ]
        );
        let slots = available_slots(
            &s,
            &rules(60),
            utc("2026-10-31T00:00:00Z"),
            utc("2026-11-03T00:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        assert_eq!(
            starts(&slots),
            vec![
                "2026-10-31T13:00Z",
                "2026-11-01T14:00Z",
                "2026-11-02T14:00Z"
            ]
        );
    }

    #[test]
    fn a_range_starting_in_the_gap_moves_forward_by_the_gap() {
        let s = every_day(vec![r("02:30", "05:00")]);
        let slots = available_slots(
            &s,
            &rules(60),
            utc("2026-03-08T05:00:00Z"),
            utc("2026-03-08T12:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        // 02:30 does not exist: the range opens at 03:30 EDT.
        assert_eq!(
            locals(&slots),
            vec!["2026-03-08T03:30:00-04:00"],
            "{slots:?}"
        );
    }

    #[test]
    fn fall_back_keeps_both_one_oclocks_once_each() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:00–02:00 happens twice.
        let s = every_day(vec![r("00:00", "04:00")]);
        let slots = available_slots(
            &s,
            &rules(60),
            utc("2026-11-01T00:00:00Z"),
            utc("2026-11-02T00:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        assert_eq!(
            locals(&slots),
            vec![
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T02:00:00-05:00",
                "2026-11-01T03:00:00-05:00",
            ]
        );
        // The range is 5 real hours long: 00:00 EDT (04:00Z) to 04:00 EST (09:00Z).
        assert_eq!(slots.last().unwrap().ends_at, utc("2026-11-01T09:00:00Z"));
    }

    #[test]
    fn a_24_hour_window_across_the_change_lists_each_slot_once() {
        let s = every_day(vec![r("00:00", "24:00")]);
        for (from, expected) in [
            // Fall back: 24 instants, 01:00 appears twice with two offsets.
            ("2026-11-01T04:00:00Z", 24),
            // Spring forward: 24 instants, 02:00 never appears.
            ("2026-03-08T05:00:00Z", 24),
        ] {
            let from = utc(from);
            let slots = available_slots(
                &s,
                &rules(60),
                from,
                from + Duration::hours(24),
                utc(LONG_AGO),
                &Busy::default(),
            );
            assert_eq!(slots.len(), expected, "{:?}", locals(&slots));
            let mut instants: Vec<_> = slots.iter().map(|s| s.starts_at).collect();
            instants.dedup();
            assert_eq!(instants.len(), expected);
            let l = locals(&slots);
            let mut unique = l.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), expected, "{l:?}");
            for w in slots.windows(2) {
                assert_eq!(w[1].starts_at - w[0].starts_at, Duration::hours(1));
            }
            assert!(!l.iter().any(|x| x.starts_with("2026-03-08T02:")), "{l:?}");
        }
    }

    #[test]
    fn several_ranges_per_day_and_closed_overrides() {
        let mut s = every_day(vec![r("09:00", "10:00"), r("14:00", "15:00")]);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        s.overrides.insert(day, vec![]);
        s.overrides
            .insert(day.succ_opt().unwrap(), vec![r("12:00", "13:00")]);
        let slots = available_slots(
            &s,
            &rules(30),
            utc("2026-11-30T05:00:00Z"),
            utc("2026-12-03T05:00:00Z"),
            utc(LONG_AGO),
            &Busy::default(),
        );
        assert_eq!(
            locals(&slots),
            vec![
                "2026-11-30T09:00:00-05:00",
                "2026-11-30T09:30:00-05:00",
                "2026-11-30T14:00:00-05:00",
                "2026-11-30T14:30:00-05:00",
                // 12-01 is closed; 12-02 has only the override's hour.
                "2026-12-02T12:00:00-05:00",
                "2026-12-02T12:30:00-05:00",
            ]
        );
    }

    #[test]
    fn minimum_notice_rounds_up_on_the_local_grid() {
        let s = every_day(vec![r("09:00", "12:00")]);
        let mut rl = rules(30);
        rl.min_notice = Duration::minutes(120);
        // now = 07:07 local; earliest = 09:07 → first slot 09:30.
        let slots = available_slots(
            &s,
            &rl,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-02T00:00:00Z"),
            utc("2026-12-01T12:07:00Z"),
            &Busy::default(),
        );
        assert_eq!(slots[0].starts_at, utc("2026-12-01T14:30:00Z"));
        assert_eq!(slots.len(), 5);
        // A :30 zone keeps its own grid (Asia/Kolkata is UTC+05:30).
        let mut k = s.clone();
        k.tz = chrono_tz::Asia::Kolkata;
        let slots = available_slots(
            &k,
            &rl,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-02T00:00:00Z"),
            utc("2026-12-01T01:40:00Z"), // 07:10 local
            &Busy::default(),
        );
        assert_eq!(
            slots[0].starts_at.with_timezone(&k.tz).to_rfc3339(),
            "2026-12-01T09:30:00+05:30"
        );
    }

    #[test]
    fn the_booking_window_ends_at_a_local_midnight() {
        let s = every_day(vec![r("09:00", "10:00")]);
        let mut rl = rules(60);
        rl.window_days = 2;
        let slots = available_slots(
            &s,
            &rl,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-10T00:00:00Z"),
            utc("2026-12-01T06:00:00Z"), // 01:00 local on 12-01
            &Busy::default(),
        );
        assert_eq!(
            starts(&slots),
            vec!["2026-12-01T14:00Z", "2026-12-02T14:00Z"]
        );
    }

    #[test]
    fn busy_time_and_buffers_remove_slots() {
        let s = every_day(vec![r("09:00", "12:00")]);
        let mut rl = rules(30);
        rl.buffer_after = Duration::minutes(15);
        let busy = Busy {
            // An appointment 10:00–10:30 with a 10-minute before-buffer (block 09:50–10:30).
            blocks: vec![Interval {
                start: utc("2026-12-01T14:50:00Z"),
                end: utc("2026-12-01T15:30:00Z"),
            }],
            // Google says 11:30–12:00 is busy.
            external: vec![Interval {
                start: utc("2026-12-01T16:30:00Z"),
                end: utc("2026-12-01T17:00:00Z"),
            }],
        };
        let slots = available_slots(
            &s,
            &rl,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-02T00:00:00Z"),
            utc(LONG_AGO),
            &busy,
        );
        // 09:00 (+15 after = 09:45 < 09:50) fits; 09:30 (ends 10:15 with buffer) does not;
        // 10:30 fits (back to back with the block); 11:00 would run into 11:30 with its buffer.
        assert_eq!(
            locals(&slots),
            vec!["2026-12-01T09:00:00-05:00", "2026-12-01T10:30:00-05:00",]
        );
    }

    #[test]
    fn a_slot_is_offered_only_on_the_grid_inside_hours() {
        let s = every_day(vec![r("09:00", "12:00")]);
        let rl = rules(30);
        let now = utc(LONG_AGO);
        assert!(is_offered(&s, &rl, utc("2026-12-01T14:30:00Z"), now));
        assert!(!is_offered(&s, &rl, utc("2026-12-01T14:10:00Z"), now));
        assert!(!is_offered(&s, &rl, utc("2026-12-01T17:00:00Z"), now));
    }

    #[test]
    fn a_range_opening_at_half_past_offers_and_books_on_its_own_grid() {
        // Issue 11 item 9: open 09:30–12:00 with 60-minute services offers 09:30 and 10:30;
        // 10:30 must then be offered to the booking, and the hour grid from midnight must not be.
        let s = every_day(vec![r("09:30", "12:00")]);
        let rl = rules(60);
        let now = utc(LONG_AGO);
        let slots = available_slots(
            &s,
            &rl,
            utc("2026-12-01T05:00:00Z"),
            utc("2026-12-02T05:00:00Z"),
            now,
            &Busy::default(),
        );
        assert_eq!(
            locals(&slots),
            vec!["2026-12-01T09:30:00-05:00", "2026-12-01T10:30:00-05:00"]
        );
        for slot in &slots {
            assert!(is_offered(&s, &rl, slot.starts_at, now), "{slot:?}");
        }
        assert!(!is_offered(&s, &rl, utc("2026-12-01T16:00:00Z"), now)); // 11:00
        assert_eq!(
            why_not_offered(&s, &rl, utc("2026-12-01T16:00:00Z"), now),
            Some(NotOffered::OffGrid)
        );
        // 11:30 would end after closing; 20:00 is after hours.
        assert_eq!(
            why_not_offered(&s, &rl, utc("2026-12-01T16:30:00Z"), now),
            Some(NotOffered::OutsideHours)
        );
        assert_eq!(
            why_not_offered(&s, &rl, utc("2026-12-02T01:00:00Z"), now),
            Some(NotOffered::OutsideHours)
        );
        assert_eq!(
            why_not_offered(
                &s,
                &rl,
                utc("2026-12-01T14:30:00Z"),
                utc("2026-12-01T14:00:00Z")
            ),
            None
        );
        let mut soon = rl;
        soon.min_notice = Duration::hours(2);
        assert_eq!(
            why_not_offered(
                &s,
                &soon,
                utc("2026-12-01T14:30:00Z"),
                utc("2026-12-01T14:00:00Z")
            ),
            Some(NotOffered::TooSoon)
        );
        let mut short = rl;
        short.window_days = 1;
        assert_eq!(
            why_not_offered(
                &s,
                &short,
                utc("2026-12-05T14:30:00Z"),
                utc("2026-12-01T14:00:00Z")
            ),
            Some(NotOffered::BeyondWindow)
        );
        // A query starting mid-morning cuts the grid but does not move it.
        let later = available_slots(
            &s,
            &rl,
            utc("2026-12-01T15:00:00Z"), // 10:00 local
            utc("2026-12-02T05:00:00Z"),
            now,
            &Busy::default(),
        );
        assert_eq!(locals(&later), vec!["2026-12-01T10:30:00-05:00"]);
    }

    /// Issue 11 item 9, as a property: whatever the hours (odd minutes included), duration,
    /// interval, buffers, notice and zone (DST-shifting ones included, around both 2026 US
    /// changes), every slot availability lists is one `is_offered` accepts, a start it does not
    /// list is refused, and a narrower query lists exactly the wider one's slots in its range.
    mod grid_properties {
        use proptest::prelude::*;

        use super::*;

        const ZONES: [Tz; 5] = [
            chrono_tz::UTC,
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kolkata,
            chrono_tz::America::St_Johns,
        ];

        #[derive(Debug, Clone)]
        struct Case {
            schedule: Schedule,
            rules: SlotRules,
            now: DateTime<Utc>,
        }

        fn case() -> impl Strategy<Value = Case> {
            (
                0usize..ZONES.len(),
                // Two ranges a day: the first opens at any minute, the second after a gap.
                (0u16..1200, 15u16..360, 0u16..240, 0u16..300),
                (5i64..=180, prop::option::of(5i64..=120)),
                (0i64..=60, 0i64..=60, 0i64..=600, 1u32..=4),
                // `now`: within a fortnight of the spring or the autumn change.
                (prop::bool::ANY, 0i64..(14 * 24 * 60)),
            )
                .prop_map(
                    |(
                        z,
                        (open, len, gap, len2),
                        (dur, step),
                        (bb, ba, notice, window),
                        (spring, at),
                    )| {
                        let first = MinuteRange {
                            start: open,
                            end: (open + len).min(1440),
                        };
                        let mut day = vec![first];
                        let second_start = first.end + gap;
                        if len2 > 0 && second_start + 5 < 1440 {
                            day.push(MinuteRange {
                                start: second_start,
                                end: (second_start + len2).min(1440),
                            });
                        }
                        let base = if spring {
                            "2026-03-01T00:00:00Z"
                        } else {
                            "2026-10-25T00:00:00Z"
                        };
                        Case {
                            schedule: Schedule {
                                tz: ZONES[z],
                                weekly: std::array::from_fn(|_| day.clone()),
                                overrides: BTreeMap::new(),
                            },
                            rules: SlotRules {
                                duration: Duration::minutes(dur),
                                step: Duration::minutes(step.unwrap_or(dur)),
                                buffer_before: Duration::minutes(bb),
                                buffer_after: Duration::minutes(ba),
                                min_notice: Duration::minutes(notice),
                                window_days: window,
                            },
                            now: utc(base) + Duration::minutes(at),
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            #[test]
            fn every_offered_slot_is_bookable_and_nothing_else_is(c in case(), probe in 0i64..(6 * 24 * 60), cut in 0i64..(5 * 24 * 60)) {
                let from = c.now - Duration::days(1);
                let to = c.now + Duration::days(5);
                let all = available_slots(&c.schedule, &c.rules, from, to, c.now, &Busy::default());
                for s in &all {
                    prop_assert!(is_offered(&c.schedule, &c.rules, s.starts_at, c.now),
                        "offered but refused: {}", s.starts_at.with_timezone(&c.schedule.tz));
                    prop_assert_eq!(s.ends_at - s.starts_at, c.rules.duration);
                }
                // A start on any minute of the range: offered iff listed.
                let t = from + Duration::minutes(probe);
                let listed = all.iter().any(|s| s.starts_at == t);
                prop_assert_eq!(is_offered(&c.schedule, &c.rules, t, c.now), listed,
                    "start {} listed={}", t.with_timezone(&c.schedule.tz), listed);
                prop_assert_eq!(why_not_offered(&c.schedule, &c.rules, t, c.now).is_none(), listed);
                // A narrower query cuts the grid, it does not move it.
                let from2 = from + Duration::minutes(cut);
                let part = available_slots(&c.schedule, &c.rules, from2, to, c.now, &Busy::default());
                let expected: Vec<Slot> = all.iter().copied().filter(|s| s.starts_at >= from2).collect();
                prop_assert_eq!(part, expected);
            }
        }
    }
}
