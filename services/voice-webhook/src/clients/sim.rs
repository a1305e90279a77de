//! The call simulator (a tool, not part of the service): Vapi's side of a phone call, correctly
//! signed, against a base URL
//! (`call-sim` binary, the benchmark, `make demo`-style runs). A scripted call is
//! assistant-request → status in-progress → check_availability → book_appointment → status ended
//! → end-of-call-report, with the payload shapes of the Vapi spec. Like a caller, the script
//! books a time the agent offered (the first one it said), unless it is told a time; the call
//! has failed when the agent did not book, and the agent's sentence says why.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use serde_json::{Value, json};

use crate::domain::signature;

/// How the simulator proves it is Vapi.
#[derive(Debug, Clone)]
pub enum SimAuth {
    /// The shared secret in `x-vapi-secret`.
    Secret(String),
    /// HMAC-SHA256 of `{timestamp}.{body}` in `x-signature` / `x-timestamp`.
    Hmac(String),
}

#[derive(Clone)]
pub struct Simulator {
    pub http: reqwest::Client,
    pub url: String,
    pub auth: SimAuth,
}

/// One webhook sent: status, answer and how long it took.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: u16,
    pub answer: Value,
    pub elapsed: Duration,
}

/// The identity of one simulated call.
#[derive(Debug, Clone)]
pub struct SimCall {
    pub call_id: String,
    pub vapi_number_id: String,
    pub clinic_number: String,
    pub caller_number: String,
}

impl SimCall {
    pub fn new(vapi_number_id: &str, clinic_number: &str, caller_number: &str) -> Self {
        SimCall {
            call_id: uuid::Uuid::new_v4().to_string(),
            vapi_number_id: vapi_number_id.into(),
            clinic_number: clinic_number.into(),
            caller_number: caller_number.into(),
        }
    }

    /// `{"message": {...}}` of `kind` with this call's common fields and `extra`.
    pub fn message(&self, kind: &str, extra: Value) -> Value {
        let now = chrono::Utc::now();
        let mut m = json!({
            "type": kind,
            "timestamp": now.timestamp_millis(),
            "call": {"id": self.call_id, "orgId": "sim-org", "type": "inboundPhoneCall",
                     "phoneNumberId": self.vapi_number_id, "phoneCallProvider": "twilio",
                     "createdAt": now.to_rfc3339(), "updatedAt": now.to_rfc3339()},
            "phoneNumber": {"provider": "twilio", "number": self.clinic_number},
            "customer": {"number": self.caller_number},
        });
        if let (Some(o), Value::Object(extra)) = (m.as_object_mut(), extra) {
            o.extend(extra);
        }
        json!({ "message": m })
    }

    pub fn tool_call(&self, tool_call_id: &str, name: &str, args: Value) -> Value {
        self.message("tool-calls", json!({
            "toolCallList": [{"id": tool_call_id, "type": "function", "function": {"name": name, "arguments": args}}],
            "toolWithToolCallList": [],
        }))
    }

    pub fn status(&self, status: &str) -> Value {
        self.message("status-update", json!({ "status": status }))
    }

    pub fn end_of_call_report(&self, transcript: &str, summary: &str) -> Value {
        let now = chrono::Utc::now();
        self.message("end-of-call-report", json!({
            "endedReason": "customer-ended-call",
            "startedAt": (now - chrono::Duration::seconds(95)).to_rfc3339(),
            "endedAt": now.to_rfc3339(),
            "cost": 0.12,
            "artifact": {"transcript": transcript, "messages": [{"role": "user", "message": transcript}]},
            "analysis": {"summary": summary, "successEvaluation": "true"},
        }))
    }
}

impl Simulator {
    pub fn new(base_url: &str, auth: SimAuth) -> anyhow::Result<Self> {
        Ok(Simulator {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
            url: format!("{}/api/webhooks/vapi", base_url.trim_end_matches('/')),
            auth,
        })
    }

    pub async fn send(&self, body: &Value) -> anyhow::Result<Sent> {
        let bytes = serde_json::to_vec(body)?;
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json");
        req = match &self.auth {
            SimAuth::Secret(s) => req.header("x-vapi-secret", s),
            SimAuth::Hmac(s) => {
                let ts = chrono::Utc::now().timestamp().to_string();
                let sig = signature::sign(s.as_bytes(), &ts, &bytes);
                req.header("x-timestamp", ts).header("x-signature", sig)
            }
        };
        let started = Instant::now();
        let resp = req.body(bytes).send().await?;
        let status = resp.status().as_u16();
        let answer = resp.json().await.unwrap_or(Value::Null);
        Ok(Sent {
            status,
            answer,
            elapsed: started.elapsed(),
        })
    }

    /// Plays one booking call: asks for availability, books `start` or else the first time the
    /// agent offered, and ends the call. Returns every answer in order (a non-2xx stops the
    /// script) and whether the booking happened (`Err` carries the reason, as the agent said it).
    pub async fn booking_call(
        &self,
        call: &SimCall,
        service: &str,
        start: Option<&str>,
        patient: &str,
    ) -> anyhow::Result<Played> {
        let mut steps = Vec::new();
        let mut failure = None;
        let opening = [
            (
                "assistant-request",
                call.message("assistant-request", json!({})),
            ),
            ("status in-progress", call.status("in-progress")),
            (
                "check_availability",
                call.tool_call(
                    &format!("{}-avail", call.call_id),
                    "check_availability",
                    json!({"service": service}),
                ),
            ),
        ];
        for (name, body) in opening {
            let sent = self.send(&body).await?;
            let status = sent.status;
            steps.push((name.to_string(), sent));
            if !(200..300).contains(&status) {
                return Ok(Played::refused(steps, name, status));
            }
        }
        let offered = steps
            .last()
            .and_then(|(_, s)| tool_result(&s.answer))
            .unwrap_or_default();
        let chosen = match start {
            Some(s) => Some(s.to_string()),
            None => first_offered(&offered, chrono::Utc::now().date_naive()),
        };
        match chosen {
            None => {
                failure = Some(format!(
                    "the agent offered no time to book ({})",
                    tool_text(
                        &steps
                            .last()
                            .map(|(_, s)| s.answer.clone())
                            .unwrap_or_default()
                    )
                ));
            }
            Some(start) => {
                let body = call.tool_call(
                    &format!("{}-book", call.call_id),
                    "book_appointment",
                    json!({"service": service, "start": start, "patient_name": patient}),
                );
                let sent = self.send(&body).await?;
                let status = sent.status;
                let said = tool_text(&sent.answer);
                steps.push(("book_appointment".to_string(), sent));
                if !(200..300).contains(&status) {
                    return Ok(Played::refused(steps, "book_appointment", status));
                }
                if !said.starts_with("Booked ") {
                    failure = Some(format!("the agent did not book {start}: {said}"));
                }
            }
        }
        let closing = [
            (
                "status ended",
                call.message(
                    "status-update",
                    json!({"status": "ended", "endedReason": "customer-ended-call"}),
                ),
            ),
            (
                "end-of-call-report",
                call.end_of_call_report(
                    "User: I'd like to book a visit.",
                    "Caller booked a visit.",
                ),
            ),
        ];
        for (name, body) in closing {
            let sent = self.send(&body).await?;
            let status = sent.status;
            steps.push((name.to_string(), sent));
            if !(200..300).contains(&status) {
                return Ok(Played::refused(steps, name, status));
            }
        }
        Ok(Played {
            steps,
            booked: match failure {
                Some(reason) => Err(reason),
                None => Ok(()),
            },
        })
    }
}

/// A scripted call as played: every answer in order, and whether the booking happened.
#[derive(Debug)]
pub struct Played {
    pub steps: Vec<(String, Sent)>,
    /// `Err(reason)`: no appointment was booked (a refused step, no time offered, or the agent's
    /// sentence when it did not book).
    pub booked: Result<(), String>,
}

impl Played {
    fn refused(steps: Vec<(String, Sent)>, step: &str, status: u16) -> Self {
        Played {
            steps,
            booked: Err(format!("{step} was refused with HTTP {status}")),
        }
    }
}

/// The `result` a tool-calls answer carries (`None` for an `error`).
fn tool_result(answer: &Value) -> Option<String> {
    answer
        .pointer("/results/0/result")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// What the agent says for a tool-calls answer: its result or its error.
fn tool_text(answer: &Value) -> String {
    tool_result(answer)
        .or_else(|| {
            answer
                .pointer("/results/0/error")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| answer.to_string())
}

/// The first time in an availability sentence as the agent says it (`… on Thursday 3 December
/// at 2:00 PM or 3:00 PM.`), as a local wall time `2026-12-03T14:00` the booking tool reads in
/// the clinic's zone. The year is the one that puts that date on that weekday, from `today`
/// (less a day: the clinic's zone may be behind) on.
pub fn first_offered(sentence: &str, today: NaiveDate) -> Option<String> {
    let words: Vec<&str> = sentence
        .split_whitespace()
        .map(|w| w.trim_end_matches([',', '.', ';']))
        .collect();
    words.windows(6).find_map(|w| {
        let [weekday, day, month, at, time, half] = w else {
            return None;
        };
        let weekday: Weekday = weekday.parse().ok()?;
        let day: u32 = day.parse().ok()?;
        let month = month_number(month)?;
        if *at != "at" {
            return None;
        }
        let time = NaiveTime::parse_from_str(&format!("{time} {half}"), "%I:%M %p").ok()?;
        let from = today.pred_opt().unwrap_or(today);
        let date = [today.year(), today.year() + 1]
            .into_iter()
            .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
            .find(|d| *d >= from && d.weekday() == weekday)?;
        Some(format!("{}T{}", date, time.format("%H:%M")))
    })
}

fn month_number(name: &str) -> Option<u32> {
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let i = months.iter().position(|m| *m == name)?;
    u32::try_from(i + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_time_the_agent_offered_is_booked() {
        let today = d("2026-12-03");
        assert_eq!(
            first_offered(
                "Cleaning is available on Monday 7 December at 8:15 AM or 9:00 AM.",
                today
            )
            .as_deref(),
            Some("2026-12-07T08:15")
        );
        // Slots on several days: each with its day.
        assert_eq!(
            first_offered(
                "Cleaning is available on Friday 4 December at 12:45 PM, Monday 7 December at 9:00 AM or Monday 7 December at 9:45 AM.",
                today
            )
            .as_deref(),
            Some("2026-12-04T12:45")
        );
        // Across the new year: January is next year's.
        assert_eq!(
            first_offered(
                "Cleaning is available on Monday 4 January at 9:00 AM.",
                d("2026-12-30")
            )
            .as_deref(),
            Some("2027-01-04T09:00")
        );
        // Nothing offered: nothing to book (the demo then fails with the sentence).
        for said in [
            "There are no openings for Cleaning in the coming weeks.",
            "I'm sorry, I can't reach the booking system right now.",
            "Cleaning is available on Funday 4 December at 9:00 AM.",
            "Cleaning is available on Friday 4 December at 25:00 PM.",
        ] {
            assert_eq!(first_offered(said, today), None, "{said}");
        }
    }
}
