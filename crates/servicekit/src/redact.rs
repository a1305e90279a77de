//! Log redaction: every formatted log line passes through `redact` before it is written, so phone
//! numbers, emails, bearer tokens and JWTs are masked wherever they appear — in messages, fields,
//! debug-printed headers or error chains — without relying on each call site to remember.
//! Names and free text (transcripts, summaries, message bodies, notes) have no shape a pattern
//! could find, so they are masked by the field that carries them (`caller_name`, `transcript`,
//! …; see `SENSITIVE_KEYS`): in log lines, in span attributes exported over OTLP
//! (`redact_attribute`) and in JSON shown to operators (`redact_json`, the `dlq list` payloads).

use std::io::{self, Write};
use std::sync::OnceLock;

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;

struct Patterns {
    rules: Vec<(Regex, &'static str)>,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // Order matters: JWTs and bearer tokens before the shorter patterns.
        let rules = [
            (
                r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
                "[REDACTED:jwt]",
            ),
            (
                r"(?i)\b(bearer|basic)(\s+|%20)[A-Za-z0-9._~+/=-]{6,}",
                "$1 [REDACTED:token]",
            ),
            (
                r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
                "[REDACTED:email]",
            ),
            // E.164 and common national formats: +15551234567, +1 (555) 123-4567, 555-123-4567,
            // (555) 123 4567, 555.123.4567. Over-masking a 10-digit number is the accepted cost.
            (r"(\+|%2B)\d[\d\s().-]{6,18}\d", "[REDACTED:phone]"),
            (
                r"\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b",
                "[REDACTED:phone]",
            ),
            (r"\b1?\d{10}\b", "[REDACTED:phone]"),
        ];
        Patterns {
            rules: rules
                .into_iter()
                .filter_map(|(re, rep)| Regex::new(re).ok().map(|r| (r, rep)))
                .collect(),
        }
    })
}

/// Fields whose value is personal whatever it looks like, and the marker that replaces it.
/// Matched on the last segment of a dotted key (`call.caller_name`), case-insensitively. A bare
/// `name` is not here: in log lines it is the span's or the service's name; `redact_json` (payloads
/// shown to operators) masks it too.
pub const SENSITIVE_KEYS: &[(&str, &str)] = &[
    ("patient_name", "[REDACTED:name]"),
    ("caller_name", "[REDACTED:name]"),
    ("customer_name", "[REDACTED:name]"),
    ("contact_name", "[REDACTED:name]"),
    ("full_name", "[REDACTED:name]"),
    ("first_name", "[REDACTED:name]"),
    ("last_name", "[REDACTED:name]"),
    ("given_name", "[REDACTED:name]"),
    ("family_name", "[REDACTED:name]"),
    ("display_name", "[REDACTED:name]"),
    ("patient", "[REDACTED:name]"),
    ("transcript", "[REDACTED:text]"),
    ("transcript_text", "[REDACTED:text]"),
    ("summary", "[REDACTED:text]"),
    ("message_body", "[REDACTED:text]"),
    ("sms_body", "[REDACTED:text]"),
    ("body", "[REDACTED:text]"),
    ("notes", "[REDACTED:text]"),
    ("note", "[REDACTED:text]"),
    ("recording_url", "[REDACTED:url]"),
];

/// The marker for a field named `key`, when its value is always personal.
pub fn sensitive_key(key: &str) -> Option<&'static str> {
    let last = key.rsplit(['.', '/']).next().unwrap_or(key);
    SENSITIVE_KEYS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(last))
        .map(|(_, marker)| *marker)
}

/// `key: "value"`, `key="value"`, `"key":"value"` — and the same inside an escaped JSON string
/// (`\"key\":\"value\"`, a debug-printed struct inside a JSON log line), with an optional
/// `Some(` in front of the value.
fn keyed_patterns() -> &'static [(Regex, Regex, &'static str)] {
    static P: OnceLock<Vec<(Regex, Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        let mut by_marker: Vec<(&'static str, Vec<&str>)> = Vec::new();
        for (key, marker) in SENSITIVE_KEYS {
            match by_marker.iter_mut().find(|(m, _)| m == marker) {
                Some((_, keys)) => keys.push(key),
                None => by_marker.push((marker, vec![key])),
            }
        }
        by_marker
            .into_iter()
            .filter_map(|(marker, keys)| {
                let alt = keys.join("|");
                let plain = Regex::new(&format!(
                    r#"(?i)("?\b(?:{alt})"?\s*[:=]\s*(?:Some\()?)"(?:[^"\\]|\\.)*""#
                ))
                .ok()?;
                let escaped = Regex::new(&format!(
                    r#"(?i)(\\?"?\b(?:{alt})\\?"?\s*[:=]\s*(?:Some\()?)\\"(?:[^"\\]|\\\\\\"|\\[^"])*\\""#
                ))
                .ok()?;
                Some((plain, escaped, marker))
            })
            .collect()
    })
}

/// Masks personal data and credentials in `line`.
pub fn redact(line: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(line);
    for (plain, escaped, marker) in keyed_patterns() {
        if plain.is_match(&out) {
            let rep = format!("${{1}}\"{marker}\"");
            out = std::borrow::Cow::Owned(plain.replace_all(&out, rep.as_str()).into_owned());
        }
        if escaped.is_match(&out) {
            let rep = format!("${{1}}\\\"{marker}\\\"");
            out = std::borrow::Cow::Owned(escaped.replace_all(&out, rep.as_str()).into_owned());
        }
    }
    for (re, rep) in &patterns().rules {
        if re.is_match(&out) {
            out = std::borrow::Cow::Owned(re.replace_all(&out, *rep).into_owned());
        }
    }
    out.into_owned()
}

/// One field's value: masked entirely when the field is personal by name, else by pattern.
pub fn redact_field(key: &str, value: &str) -> String {
    match sensitive_key(key) {
        Some(marker) => marker.to_string(),
        None => redact(value),
    }
}

/// A JSON document shown to an operator: personal fields (and `name`) masked, every other
/// string passed through `redact`.
pub fn redact_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let marker = sensitive_key(&k)
                        .or_else(|| k.eq_ignore_ascii_case("name").then_some("[REDACTED:name]"));
                    let v = match (marker, v) {
                        (_, Value::Null) => Value::Null,
                        (Some(m), _) => Value::String(m.to_string()),
                        (None, v) => redact_json(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Wraps a `MakeWriter` so that each log event is buffered, redacted, then written in one piece.
#[derive(Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            buf: Vec::with_capacity(512),
        }
    }
}

pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return self.inner.flush();
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = redact(&text);
        self.buf.clear();
        self.inner.write_all(clean.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // The fmt layer drops the writer after each event: that is when the line goes out.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_the_usual_suspects() {
        let cases = [
            ("call from +15551234567 ended", "+15551234567"),
            ("caller +1 (555) 123-4567", "555) 123-4567"),
            ("number 555-123-4567 booked", "555-123-4567"),
            ("dial (555) 123 4567", "123 4567"),
            ("email jane.doe+tag@example.co.uk", "jane.doe"),
            ("url-encoded jane%40example.com", "jane%40example"),
            ("authorization: Bearer abcdef123456.xyz", "abcdef123456"),
            (
                "authorization=\"bearer s3cr3t-token-value\"",
                "s3cr3t-token-value",
            ),
            (
                "token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end",
                "eyJzdWIiOiIxIn0",
            ),
            ("to=%2B15551234567", "15551234567"),
        ];
        for (line, secret) in cases {
            let out = redact(line);
            assert!(!out.contains(secret), "{line:?} -> {out:?}");
            assert!(out.contains("[REDACTED:"), "{line:?} -> {out:?}");
        }
    }

    #[test]
    fn leaves_ordinary_log_fields_alone() {
        for line in [
            r#"{"timestamp":"2026-11-22T04:21:26.123456Z","level":"INFO","status":200,"latency_ms":12}"#,
            "org 0f8fad5b-d9cb-469f-a165-70867728950e booked slot 09:30",
            "route=/api/calendar/services/{id} method=GET",
        ] {
            assert_eq!(redact(line), line);
        }
    }

    #[test]
    fn names_and_transcripts_are_masked_by_the_field_that_carries_them() {
        let cases = [
            // A JSON log line (the fmt layer's output), a span field with a dotted key.
            (
                r#"{"level":"INFO","caller_name":"Jordan Lee","message":"call ended"}"#,
                "Jordan Lee",
            ),
            (
                r#"{"span":{"call.transcript":"I have chest pain since Monday","name":"process"}}"#,
                "chest pain",
            ),
            // A debug-printed struct inside a JSON string value.
            (
                r#"{"message":"got Booking { patient_name: Some(\"Ana Díaz\"), slot: 9 }"}"#,
                "Ana Díaz",
            ),
            (
                r#"{"fields":"{\"summary\":\"Patient \\\"Bo\\\" wants a cleaning\"}"}"#,
                "wants a cleaning",
            ),
            ("logfmt patient_name=\"Kim Park\" ok", "Kim Park"),
        ];
        for (line, secret) in cases {
            let out = redact(line);
            assert!(!out.contains(secret), "{line} -> {out}");
            assert!(out.contains("[REDACTED:"), "{line} -> {out}");
        }
        // The rest of the line survives, and a span's own name is not a person's name.
        let out = redact(r#"{"span":{"transcript":"secret","name":"process"},"message":"done"}"#);
        assert_eq!(
            out,
            r#"{"span":{"transcript":"[REDACTED:text]","name":"process"},"message":"done"}"#
        );
    }

    #[test]
    fn json_shown_to_operators_is_masked_field_by_field() {
        let doc = serde_json::json!({
            "caller_name": "Jordan Lee",
            "caller_number": "+15550100123",
            "patient": {"name": "Ana Díaz", "age": 41},
            "transcript": [{"role": "user", "text": "call me at jane@example.com"}],
            "booked": true,
            "success_evaluation": null,
            "ended_reason": "customer-ended-call",
        });
        let out = redact_json(doc).to_string();
        for secret in ["Jordan Lee", "15550100123", "Ana Díaz", "jane@example.com"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        for kept in [
            "customer-ended-call",
            "\"booked\":true",
            "\"success_evaluation\":null",
        ] {
            assert!(out.contains(kept), "{kept} missing from {out}");
        }
    }

    proptest! {
        #[test]
        fn any_e164_number_is_masked(cc in 1u32..999, rest in 1_000_000u64..99_999_999_999) {
            let phone = format!("+{cc}{rest}");
            let out = redact(&format!("{{\"msg\":\"caller {phone} said hi\"}}"));
            prop_assert!(!out.contains(&phone), "{}", out);
        }

        #[test]
        fn any_email_is_masked(user in "[a-z][a-z0-9._]{0,15}", host in "[a-z]{1,10}", tld in "[a-z]{2,4}") {
            let email = format!("{user}@{host}.{tld}");
            let out = redact(&format!("contact {email} now"));
            prop_assert!(!out.contains(&email), "{}", out);
        }
    }
}
