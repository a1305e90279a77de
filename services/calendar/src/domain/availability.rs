//! Open slots: business hours expanded per local date in the clinic's zone (DST-correct), minus
//! busy time with buffers, within minimum notice and the booking window. Pure: the caller loads
//! the schedule and the busy ranges. Rules: shared/specs/scheduling.md §3 and §10.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
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
        let ranges = match self.overrides.get(&day) {
            Some(r) => r,
            None => &self.weekly[day.weekday().num_days_from_monday() as usize],
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

/// The largest of 60, 30, 20, 15, 10, 5 minutes that divides the step (45 → a :15 grid).
fn alignment(step: Duration) -> i64 {
    let m = step.num_minutes().max(1);
    [60, 30, 20, 15, 10, 5]
        .into_iter()
        .find(|a| m % a == 0)
        .unwrap_or(1)
}

/// `t` rounded up to the alignment on the *local* grid (a :30 zone stays on its own :00/:30).
fn round_up_local(tz: Tz, t: DateTime<Utc>, align_minutes: i64) -> DateTime<Utc> {
    let local = t.with_timezone(&tz).naive_local();
    let secs = i64::from(local.time().num_seconds_from_midnight())
        + i64::from(local.time().nanosecond() > 0);
    let align = align_minutes * 60;
    let rem = secs % align;
    if rem == 0 {
        t
    } else {
        t + Duration::seconds(align - rem)
            - Duration::nanoseconds(i64::from(local.time().nanosecond()))
    }
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
    let align = alignment(rules.step);
    let mut blocks = busy.blocks.clone();
    blocks.sort();
    let mut slots = Vec::new();
    // A day's hours can reach into the neighbouring UTC dates: look one local date either side.
    let first_day = schedule.local_date(lower) - chrono::Days::new(1);
    let last_day = schedule.local_date(upper) + chrono::Days::new(1);
    let mut day = first_day;
    while day <= last_day {
        for open in schedule.open_ranges(day) {
            let mut start = open.start;
            if start < lower {
                start = round_up_local(schedule.tz, lower, align);
                // Stay on the range's own step grid when it is finer than the alignment.
                if start < open.start {
                    start = open.start;
                }
            }
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
    fn a_45_minute_step_uses_a_quarter_hour_grid() {
        assert_eq!(alignment(Duration::minutes(45)), 15);
        assert_eq!(alignment(Duration::minutes(90)), 30);
        assert_eq!(alignment(Duration::minutes(7)), 1);
    }
}
