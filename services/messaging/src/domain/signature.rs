//! Twilio's `X-Twilio-Signature` (legacy scheme): base64(HMAC-SHA1(auth token, URL ‖ sorted
//! name‖value pairs)). The URL is the exact public URL Twilio called, checked with the port
//! stripped and with the scheme's default port added; JSON bodies are signed over the URL only,
//! whose `bodySHA256` query parameter must equal the hex SHA-256 of the raw body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac};

/// URL ‖ every (name, value) pair sorted by name then value, identical pairs once.
pub fn string_to_sign(url: &str, form: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs.iter().fold(url.to_owned(), |mut s, (k, v)| {
        s.push_str(k);
        s.push_str(v);
        s
    })
}

/// The signature Twilio would send for `url` and `form`.
pub fn sign(token: &str, url: &str, form: &[(String, String)]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
    B64.encode(hmac::sign(&key, string_to_sign(url, form).as_bytes()).as_ref())
}

/// `url` as given, with its port removed, and with the scheme's default port added.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    for v in [
        format!("{scheme}://{host}{tail}"),
        format!("{scheme}://{host}:{default}{tail}"),
    ] {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Constant-time check of `header` against every URL variant.
pub fn form_signature_ok(token: &str, url: &str, form: &[(String, String)], header: &str) -> bool {
    let Ok(tag) = B64.decode(header.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, token.as_bytes());
    url_variants(url)
        .iter()
        .any(|u| hmac::verify(&key, string_to_sign(u, form).as_bytes(), &tag).is_ok())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A JSON body: the URL's `bodySHA256` must be the body's digest, and the signature is over the
/// URL alone.
pub fn json_signature_ok(token: &str, url: &str, body: &[u8], header: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    let claimed = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned());
    let Some(claimed) = claimed else {
        return false;
    };
    let actual = sha256_hex(body);
    // Both are public digests; the equality need not be constant-time, the HMAC check is.
    claimed.eq_ignore_ascii_case(&actual) && form_signature_ok(token, url, &[], header)
}

#[cfg(test)]
mod tests {
    //! Twilio's published vectors (twilio-python tests/unit/test_request_validator.py).
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
    }

    #[test]
    fn string_and_signature_of_the_base_case() {
        assert_eq!(
            string_to_sign(URL, &params()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        );
        assert_eq!(sign(TOKEN, URL, &params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(form_signature_ok(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn ports() {
        let p = params();
        assert_eq!(
            sign(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            sign(TOKEN, "http://mycompany.com:80/myapp.php?foo=1&bar=2", &p),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        assert_eq!(
            sign(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &p),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        // Twilio signed without the port; we are reached with one (and the other way round).
        assert!(form_signature_ok(
            TOKEN,
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            &p,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(form_signature_ok(
            TOKEN,
            URL,
            &p,
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
    }

    #[test]
    fn repeated_parameters_sort_by_value() {
        let p: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        assert!(string_to_sign(URL, &p).ends_with("Digits1234Digits5678SidCA123SidAccountAC123"));
        assert_eq!(sign(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn json_body() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hex = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(sha256_hex(body), hex);
        let url = format!("{URL}&bodySHA256={hex}");
        assert_eq!(sign(TOKEN, &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(json_signature_ok(
            TOKEN,
            &url,
            body,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        // Another body under the same signed URL: refused.
        assert!(!json_signature_ok(
            TOKEN,
            &url,
            br#"{"property": "other"}"#,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        assert!(!json_signature_ok(
            TOKEN,
            URL,
            body,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
    }

    #[test]
    fn forgeries_fail() {
        let p = params();
        assert!(!form_signature_ok(
            "54321",
            URL,
            &p,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!form_signature_ok(
            TOKEN,
            "https://mycompany.com/other.php?foo=1&bar=2",
            &p,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!form_signature_ok(TOKEN, URL, &p, ""));
        assert!(!form_signature_ok(TOKEN, URL, &p, "not base64!"));
        let mut tampered = p.clone();
        tampered[2].1 = "9999".into();
        assert!(!form_signature_ok(
            TOKEN,
            URL,
            &tampered,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }
}
