//! The call simulator: Vapi's side of a phone call, correctly signed, against a base URL
//! (`call-sim` binary, the benchmark, `make demo`-style runs). A scripted call is
//! assistant-request → status in-progress → check_availability → book_appointment → status ended
//! → end-of-call-report, with the payload shapes of the Vapi spec.

use std::time::{Duration, Instant};

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

    /// Plays one booking call; returns every answer in order (a non-2xx stops the script).
    pub async fn booking_call(
        &self,
        call: &SimCall,
        service: &str,
        start: &str,
        patient: &str,
    ) -> anyhow::Result<Vec<(String, Sent)>> {
        let steps = vec![
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
            (
                "book_appointment",
                call.tool_call(
                    &format!("{}-book", call.call_id),
                    "book_appointment",
                    json!({"service": service, "start": start, "patient_name": patient}),
                ),
            ),
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
        let mut out = Vec::new();
        for (name, body) in steps {
            let sent = self.send(&body).await?;
            let ok = (200..300).contains(&sent.status);
            out.push((name.to_string(), sent));
            if !ok {
                break;
            }
        }
        Ok(out)
    }
}
