//! Log redaction: every formatted log line passes through `redact` before it is written, so phone
//! numbers, emails, bearer tokens and JWTs are masked wherever they appear — in messages, fields,
//! debug-printed headers or error chains — without relying on each call site to remember.

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

/// Masks personal data and credentials in `line`.
pub fn redact(line: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(line);
    for (re, rep) in &patterns().rules {
        if re.is_match(&out) {
            out = std::borrow::Cow::Owned(re.replace_all(&out, *rep).into_owned());
        }
    }
    out.into_owned()
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
