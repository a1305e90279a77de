//! The feature vector a score is computed from: plain, flat values derived from a contact's
//! history (and nothing else: never the wall clock), stored beside every score so that
//! re-scoring it with the same model version reproduces the score. The display features
//! (`*_label`, `*_display`, `last_call_local`) are what the reason texts quote as evidence.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::history::{AppointmentState, History};

/// Intents the rules know; anything else Vapi (or the classifier) says is `unknown`.
pub const INTENTS: &[&str] = &[
    "book",
    "reschedule",
    "cancel",
    "price_question",
    "insurance_question",
    "emergency",
    "other",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub calls: u32,
    /// Calls within the model's repeat window ending at the last call (the last one included).
    pub calls_in_window: u32,
    /// `1st`, `2nd`, … : the last call's rank within that window.
    pub call_ordinal_window: String,
    pub last_call_id: Option<Uuid>,
    pub last_call_at: Option<DateTime<Utc>>,
    /// The last call in the clinic's zone, e.g. `Sat 21:40 (America/New_York)`.
    pub last_call_local: String,
    pub after_hours: bool,
    pub duration_seconds: u32,
    pub ended_reason: String,
    pub voicemail: bool,
    pub booked_on_call: bool,
    pub intent: String,
    /// Where `intent` came from: `vapi` (structured data), `classifier` or `none`, with
    /// ` (classifier: timeout|bad_answer|unavailable)` when the classifier was asked and failed.
    pub intent_source: String,
    /// `low`, `normal`, `high`, `emergency` or `unknown`.
    pub urgency: String,
    pub service_of_interest: Option<String>,
    /// `service_of_interest`, or `a service` when unknown.
    pub service_label: String,
    pub quoted_price: Option<f64>,
    /// e.g. `US$3,200`, or `no price quoted`.
    pub price_display: String,
    pub new_patient: bool,
    pub insurance_mentioned: bool,
    pub callback_requested: bool,
    pub wrong_number: bool,
    pub sentiment: String,
    pub appointments_active: u32,
    pub appointments_kept: u32,
    pub appointments_no_show: u32,
    pub appointments_cancelled: u32,
    /// The service of the next active appointment (or of the latest one).
    pub appointment_service: String,
    pub messages_delivered: u32,
    pub messages_failed: u32,
    /// Messages the caller left for the staff through the voice agent.
    pub messages_left: u32,
    pub opted_out: bool,
    pub opt_out_keyword: String,
}

/// What the optional intent classifier said about a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    /// A normalized intent, or `None` when it gave no usable answer.
    pub intent: Option<String>,
    /// `ok`, `timeout`, `bad_answer` or `unavailable`.
    pub outcome: String,
}

/// The model's parameters the features depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// `HH:MM`, local.
    pub start: String,
    pub end: String,
    /// `mon` … `sun`.
    pub days: Vec<String>,
}

impl BusinessHours {
    /// Whether `at` (in `tz`) falls outside these hours.
    pub fn after_hours(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let local = at.with_timezone(&tz);
        let day = match local.weekday() {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        };
        let parse = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").ok();
        let (Some(start), Some(end)) = (parse(&self.start), parse(&self.end)) else {
            return false;
        };
        let t = local.time();
        !self.days.iter().any(|d| d == day) || t < start || t >= end
    }
}

pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `US$3,200`, `€120.50`, `3,200 CHF`.
pub fn price_display(amount: f64, currency: Option<&str>) -> String {
    let fixed = format!("{:.2}", amount.abs());
    let (digits, frac) = fixed.split_once('.').unwrap_or((fixed.as_str(), "00"));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    let number = if frac == "00" {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    };
    match currency.map(str::to_ascii_uppercase).as_deref() {
        None | Some("USD") => format!("US${number}"),
        Some("EUR") => format!("€{number}"),
        Some("GBP") => format!("£{number}"),
        Some(code) => format!("{number} {code}"),
    }
}

fn norm(s: Option<&str>) -> Option<String> {
    s.map(|v| v.trim().to_ascii_lowercase().replace([' ', '-'], "_"))
        .filter(|v| !v.is_empty())
}

/// Normalizes an intent to one of [`INTENTS`] (or `None`).
pub fn normalize_intent(s: Option<&str>) -> Option<String> {
    let v = norm(s)?;
    let v = match v.as_str() {
        "booking" | "book_appointment" => "book".to_string(),
        "price" | "pricing" | "price_inquiry" => "price_question".to_string(),
        "insurance" => "insurance_question".to_string(),
        _ => v,
    };
    INTENTS.contains(&v.as_str()).then_some(v)
}

/// The features of `h`, with `tz` the clinic's zone and the model's hours and repeat window.
/// `classified`: what the optional classifier said, by call id. A usable answer refines the
/// intent of the last call; a failed one changes nothing but `intent_source`.
pub fn features(
    h: &History,
    tz: Tz,
    hours: &BusinessHours,
    repeat_window_days: i64,
    classified: &BTreeMap<Uuid, Classified>,
) -> Features {
    let last = h.calls.iter().rev().find(|c| c.ended()).or(h.calls.last());
    let last_at = last.and_then(|c| c.at());
    let calls_in_window = match last_at {
        Some(end) => {
            let start = end - Duration::days(repeat_window_days);
            u32::try_from(
                h.calls
                    .iter()
                    .filter(|c| c.at().is_some_and(|t| t > start && t <= end))
                    .count(),
            )
            .unwrap_or(u32::MAX)
        }
        None => 0,
    };
    let a = last.and_then(|c| c.analysis.clone()).unwrap_or_default();
    let vapi_intent = normalize_intent(a.intent.as_deref());
    let verdict = last.and_then(|c| classified.get(&c.call_id));
    let (intent, intent_source) = match (verdict, vapi_intent) {
        (
            Some(Classified {
                intent: Some(i), ..
            }),
            _,
        ) => (i.clone(), "classifier".to_string()),
        (Some(v), Some(i)) => (i, format!("vapi (classifier: {})", v.outcome)),
        (Some(v), None) => (
            "unknown".to_string(),
            format!("none (classifier: {})", v.outcome),
        ),
        (None, Some(i)) => (i, "vapi".to_string()),
        (None, None) => ("unknown".to_string(), "none".to_string()),
    };
    let urgency = match norm(a.urgency.as_deref()).as_deref() {
        Some(u @ ("low" | "normal" | "high" | "emergency")) => u.to_string(),
        Some("urgent") => "high".to_string(),
        _ if intent == "emergency" => "emergency".to_string(),
        _ => "unknown".to_string(),
    };
    let ended_reason = last
        .and_then(|c| c.ended_reason.clone())
        .unwrap_or_else(|| "unknown".into());
    let voicemail = ended_reason.contains("voicemail");
    let service = a
        .service_of_interest
        .as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let price = a.quoted_price.filter(|p| p.is_finite() && *p >= 0.0);
    let active: Vec<_> = h.active_appointments().collect();
    let appointment_service = active
        .first()
        .map(|x| x.service_name.clone())
        .or_else(|| h.appointments.last().map(|x| x.service_name.clone()))
        .or_else(|| service.clone())
        .unwrap_or_else(|| "an appointment".into());
    let booked_on_call = last.is_some_and(|c| {
        c.booked
            || h.appointments
                .iter()
                .any(|x| x.call_id == Some(c.call_id) && x.state == AppointmentState::Booked)
    });
    Features {
        calls: u32::try_from(h.calls.len()).unwrap_or(u32::MAX),
        calls_in_window,
        call_ordinal_window: ordinal(calls_in_window.max(1)),
        last_call_id: last.map(|c| c.call_id),
        last_call_at: last_at,
        last_call_local: last_at.map_or_else(
            || "no call".into(),
            |t| {
                format!(
                    "{} ({})",
                    t.with_timezone(&tz).format("%a %d %b %H:%M"),
                    tz.name()
                )
            },
        ),
        after_hours: last_at.is_some_and(|t| hours.after_hours(t, tz)),
        duration_seconds: last.map_or(0, |c| c.duration_seconds),
        ended_reason,
        voicemail,
        booked_on_call,
        intent,
        intent_source,
        urgency,
        service_label: service.clone().unwrap_or_else(|| "a service".into()),
        service_of_interest: service,
        quoted_price: price,
        price_display: price.map_or_else(
            || "no price quoted".into(),
            |p| price_display(p, a.currency.as_deref()),
        ),
        new_patient: a.new_patient.unwrap_or(false),
        insurance_mentioned: a.insurance_mentioned.unwrap_or(false),
        callback_requested: a.callback_requested.unwrap_or(false),
        wrong_number: a.wrong_number.unwrap_or(false),
        sentiment: norm(a.sentiment.as_deref()).unwrap_or_else(|| "unknown".into()),
        appointments_active: u32::try_from(active.len()).unwrap_or(u32::MAX),
        appointments_kept: h.count(AppointmentState::Kept),
        appointments_no_show: h.count(AppointmentState::NoShow),
        appointments_cancelled: h.count(AppointmentState::Cancelled),
        appointment_service,
        messages_delivered: h.messages_delivered,
        messages_failed: h.messages_failed,
        messages_left: h.messages_left,
        opted_out: h.opted_out_at.is_some(),
        opt_out_keyword: h.opt_out_keyword.clone().unwrap_or_else(|| "STOP".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_ordinals_read_well() {
        assert_eq!(price_display(3200.0, Some("USD")), "US$3,200");
        assert_eq!(price_display(1234567.5, None), "US$1,234,567.50");
        assert_eq!(price_display(120.0, Some("eur")), "€120");
        assert_eq!(price_display(99.0, Some("CHF")), "99 CHF");
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 22].map(ordinal),
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"
            ]
        );
    }

    #[test]
    fn after_hours_is_local_and_dst_aware() {
        let hours = BusinessHours {
            start: "08:00".into(),
            end: "18:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
        };
        let ny: Tz = "America/New_York".parse().unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 17:30 EDT on a Friday in summer is 21:30 UTC: open.
        assert!(!hours.after_hours(t("2026-07-10T21:30:00Z"), ny));
        // 21:30 UTC in winter is 16:30 EST: open; 23:30 UTC is 18:30 EST: closed.
        assert!(!hours.after_hours(t("2026-12-04T21:30:00Z"), ny));
        assert!(hours.after_hours(t("2026-12-04T23:30:00Z"), ny));
        // Saturday.
        assert!(hours.after_hours(t("2026-12-05T15:00:00Z"), ny));
        // 01:30 UTC Saturday is still Friday 20:30 in New York: after hours (not a weekday flip).
        assert!(hours.after_hours(t("2026-12-05T01:30:00Z"), ny));
    }

    #[test]
    fn intents_are_normalized_or_unknown() {
        assert_eq!(
            normalize_intent(Some("Price Question")).as_deref(),
            Some("price_question")
        );
        assert_eq!(normalize_intent(Some("book")).as_deref(), Some("book"));
        assert_eq!(normalize_intent(Some("sell me a car")), None);
        assert_eq!(normalize_intent(Some("  ")), None);
    }
}
