//! Webhook authentication: a shared secret compared in constant time, or HMAC-SHA256 over
//! `{timestamp}.{raw body}` (Vapi's default HMAC credential) within a timestamp tolerance.

use ring::{digest, hmac};

/// Constant-time equality that does not leak the length either: both sides are hashed first.
pub fn secret_matches(presented: &[u8], expected: &[u8]) -> bool {
    let a = digest::digest(&digest::SHA256, presented);
    let b = digest::digest(&digest::SHA256, expected);
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The secret a request presents in `header_value`: `Bearer <s>` when the header is
/// `authorization`, the raw value otherwise.
pub fn presented_secret<'a>(header_name: &str, header_value: &'a str) -> Option<&'a str> {
    if header_name.eq_ignore_ascii_case("authorization") {
        let (scheme, token) = header_value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    } else {
        Some(header_value.trim())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacRefusal {
    Missing,
    BadTimestamp,
    Stale,
    BadSignature,
}

/// Parses Vapi's timestamp (seconds, or milliseconds when above 10^12) into Unix seconds.
pub fn timestamp_secs(raw: &str) -> Option<i64> {
    let n: i64 = raw.trim().parse().ok()?;
    Some(if n > 1_000_000_000_000 { n / 1000 } else { n })
}

pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    hex(ctx.sign().as_ref())
}

/// Checks `signature` (hex) over `{timestamp}.{body}` against any of `secrets`, with `now` and
/// `timestamp` at most `tolerance_secs` apart.
pub fn verify_hmac(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), HmacRefusal> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(HmacRefusal::Missing);
    };
    let at = timestamp_secs(ts).ok_or(HmacRefusal::BadTimestamp)?;
    if (now_secs - at).abs() > tolerance_secs {
        return Err(HmacRefusal::Stale);
    }
    let sig = sig.trim();
    let sig = sig.strip_prefix("sha256=").unwrap_or(sig);
    let tag = unhex(sig).ok_or(HmacRefusal::BadSignature)?;
    for secret in secrets {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut msg = Vec::with_capacity(ts.len() + 1 + body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.push(b'.');
        msg.extend_from_slice(body);
        if hmac::verify(&key, &msg, &tag).is_ok() {
            return Ok(());
        }
    }
    Err(HmacRefusal::BadSignature)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Our framing is exactly `{timestamp}.{body}`.
        assert_eq!(sign(b"Jefe", "what do ya want for nothing?", b"").len(), 64);
        let whole = hmac::sign(&key, b"1700000000.{\"a\":1}");
        assert_eq!(
            sign(b"Jefe", "1700000000", b"{\"a\":1}"),
            hex(whole.as_ref())
        );
    }

    #[test]
    fn hmac_accepts_current_and_previous_and_refuses_the_rest() {
        let body = br#"{"message":{"type":"hang"}}"#;
        let now = 1_773_154_800;
        let ts = now.to_string();
        let good = sign(b"old", &ts, body);
        let secrets: [&[u8]; 2] = [b"new", b"old"];
        assert_eq!(
            verify_hmac(&secrets, Some(&ts), Some(&good), body, now, 300),
            Ok(())
        );
        assert_eq!(
            verify_hmac(&secrets[..1], Some(&ts), Some(&good), body, now, 300),
            Err(HmacRefusal::BadSignature)
        );
        assert_eq!(
            verify_hmac(&secrets, Some(&ts), Some(&good), b"{}", now, 300),
            Err(HmacRefusal::BadSignature)
        );
        assert_eq!(
            verify_hmac(&secrets, Some(&ts), Some(&good), body, now + 301, 300),
            Err(HmacRefusal::Stale)
        );
        assert_eq!(
            verify_hmac(&secrets, None, Some(&good), body, now, 300),
            Err(HmacRefusal::Missing)
        );
        assert_eq!(
            verify_hmac(&secrets, Some("soon"), Some(&good), body, now, 300),
            Err(HmacRefusal::BadTimestamp)
        );
        assert_eq!(
            verify_hmac(&secrets, Some(&ts), Some("zz"), body, now, 300),
            Err(HmacRefusal::BadSignature)
        );
        // Milliseconds are read as such.
        let ms = format!("{now}123");
        let sig_ms = sign(b"new", &ms, body);
        assert_eq!(
            verify_hmac(&secrets, Some(&ms), Some(&sig_ms), body, now, 300),
            Ok(())
        );
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_matches(b"s3cret", b"s3cret"));
        assert!(!secret_matches(b"s3cret", b"s3cre"));
        assert!(!secret_matches(b"", b"s3cret"));
        assert_eq!(presented_secret("authorization", "Bearer abc"), Some("abc"));
        assert_eq!(presented_secret("authorization", "Basic abc"), None);
        assert_eq!(presented_secret("x-vapi-secret", " abc "), Some("abc"));
    }
}
