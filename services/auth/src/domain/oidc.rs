//! OpenID Connect rules, pure: ID-token verification with `jsonwebtoken` (RS256 and ES256
//! only), PKCE, the form encoding of the redirect fragment, and which redirect targets and
//! provider endpoints are acceptable. Why not the `openidconnect` crate:
//! docs/adr/0006-google-sso-with-jsonwebtoken.md.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::domain::refresh::constant_time_eq;

/// Clock skew allowed on `exp` (and `nbf`).
pub const LEEWAY_SECS: u64 = 30;

/// Why an ID token was refused; `code()` is what the redirect's `error_code` says.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    #[error("the ID token is malformed")]
    Malformed,
    #[error("the ID token is signed with an algorithm other than RS256 or ES256")]
    Algorithm,
    #[error("no key of the provider's JWKS matches the ID token")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet")]
    NotYetValid,
    #[error("the ID token was issued by another issuer")]
    Issuer,
    #[error("the ID token was issued to another client")]
    Audience,
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    #[error("the ID token's at_hash does not match the access token")]
    AtHash,
    #[error("the ID token lacks a required claim")]
    MissingClaim,
}

impl IdTokenError {
    pub fn code(&self) -> &'static str {
        match self {
            IdTokenError::Malformed => "id_token_malformed",
            IdTokenError::Algorithm => "id_token_algorithm",
            IdTokenError::UnknownKey => "id_token_unknown_key",
            IdTokenError::Signature => "id_token_bad_signature",
            IdTokenError::Expired => "id_token_expired",
            IdTokenError::NotYetValid => "id_token_not_yet_valid",
            IdTokenError::Issuer => "id_token_wrong_issuer",
            IdTokenError::Audience => "id_token_wrong_audience",
            IdTokenError::Nonce => "id_token_nonce_mismatch",
            IdTokenError::AtHash => "id_token_at_hash_mismatch",
            IdTokenError::MissingClaim => "id_token_missing_claim",
        }
    }
}

/// `aud` is a string or an array of strings (OIDC Core §2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audiences {
    fn as_slice(&self) -> &[String] {
        match self {
            Audiences::One(a) => std::slice::from_ref(a),
            Audiences::Many(v) => v,
        }
    }
}

/// The claims of a verified ID token that sign-in uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audiences,
    pub exp: i64,
    pub nonce: Option<String>,
    pub azp: Option<String>,
    pub at_hash: Option<String>,
    pub email: Option<String>,
    /// A boolean, though some providers send the string `"true"`.
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
    pub name: Option<String>,
}

impl IdClaims {
    /// The email, when the provider says it verified it.
    pub fn verified_email(&self) -> Option<&str> {
        let verified = match &self.email_verified {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        self.email.as_deref().filter(|_| verified)
    }
}

/// What an ID token must say to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
}

/// Whether `jwk` may verify a token signed with `alg` (RS256 ⇒ an RSA key, ES256 ⇒ a P-256
/// key; a key that names another algorithm or an encryption use is skipped).
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return false;
    }
    let named = match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        _ => KeyAlgorithm::ES256,
    };
    if jwk.common.key_algorithm.is_some_and(|ka| ka != named) {
        return false;
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        _ => false,
    }
}

/// Verifies an ID token against the provider's keys: the signature (RS256 or ES256 only, never
/// HS* or `none`), `iss`, `aud` (and `azp`), `exp` with `LEEWAY_SECS`, the `nonce` of this
/// sign-in, and `at_hash` when both it and the access token are present.
pub fn verify_id_token(
    token: &str,
    keys: &[Jwk],
    expected: &Expected<'_>,
    access_token: Option<&str>,
) -> Result<IdClaims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        // A header jsonwebtoken cannot read may still be JSON naming an algorithm it does not
        // know (`none`): say so rather than "malformed".
        let named = token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .is_some_and(|h| h.get("alg").is_some());
        if named {
            IdTokenError::Algorithm
        } else {
            IdTokenError::Malformed
        }
    })?;
    let alg = header.alg;
    if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(IdTokenError::Algorithm);
    }
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

    let mut outcome = Err(IdTokenError::UnknownKey);
    let candidates = keys.iter().filter(|k| key_fits(k, alg)).filter(|k| {
        match (&header.kid, &k.common.key_id) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        }
    });
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<IdClaims>(token, &key, &validation) {
            Ok(data) => {
                outcome = Ok(data.claims);
                break;
            }
            // Another key with the same kid (or none) may still verify it.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                outcome = Err(IdTokenError::Signature);
            }
            Err(e) => {
                return Err(match e.kind() {
                    ErrorKind::ExpiredSignature => IdTokenError::Expired,
                    ErrorKind::ImmatureSignature => IdTokenError::NotYetValid,
                    ErrorKind::InvalidIssuer => IdTokenError::Issuer,
                    ErrorKind::InvalidAudience => IdTokenError::Audience,
                    ErrorKind::MissingRequiredClaim(_) => IdTokenError::MissingClaim,
                    ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                        IdTokenError::Algorithm
                    }
                    _ => IdTokenError::Malformed,
                });
            }
        }
    }
    let claims = outcome?;
    // OIDC Core §3.1.3.7: with several audiences, azp must be us; when present, it must be us.
    let auds = claims.aud.as_slice();
    if (auds.len() > 1 && claims.azp.is_none())
        || claims
            .azp
            .as_deref()
            .is_some_and(|a| a != expected.client_id)
    {
        return Err(IdTokenError::Audience);
    }
    match &claims.nonce {
        Some(n) if constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()) => {}
        _ => return Err(IdTokenError::Nonce),
    }
    if let (Some(at_hash), Some(access)) = (&claims.at_hash, access_token) {
        let digest = ring::digest::digest(&ring::digest::SHA256, access.as_bytes());
        let half = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
        if !constant_time_eq(half.as_bytes(), at_hash.as_bytes()) {
            return Err(IdTokenError::AtHash);
        }
    }
    Ok(claims)
}

/// 32 random bytes, base64url (state, nonce, PKCE verifier: 43 characters, RFC 7636 §4.1).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// `application/x-www-form-urlencoded` (also used for the redirect's fragment).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// Provider endpoints must be https; plain http only on a loopback host (local runs, tests).
pub fn endpoint_ok(url: &str) -> bool {
    match Url::parse(url) {
        Ok(u) => match u.scheme() {
            "https" => u.host_str().is_some(),
            "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
            _ => false,
        },
        Err(_) => false,
    }
}

/// `candidate` when it is an absolute http(s) URL with the origin (scheme, host, port) of an
/// allow-list entry and a path under that entry's path; no userinfo. Anything else: `None`.
pub fn allowed_redirect(allow: &[String], candidate: &str) -> Option<Url> {
    if candidate.len() > 2048 {
        return None;
    }
    let u = Url::parse(candidate).ok()?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return None;
    }
    let under = |prefix: &str, path: &str| {
        if prefix.ends_with('/') {
            path.starts_with(prefix)
        } else {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('/'))
        }
    };
    allow
        .iter()
        .filter_map(|a| Url::parse(a).ok())
        .any(|a| {
            a.scheme() == u.scheme()
                && a.host() == u.host()
                && a.port_or_known_default() == u.port_or_known_default()
                && under(a.path(), u.path())
        })
        .then_some(u)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use serde_json::json;

    const ISS: &str = "https://accounts.example";
    const CLIENT: &str = "client-123.apps.example";
    const NONCE: &str = "n-0S6_WzA2Mj";

    struct Key {
        pkcs8: Vec<u8>,
        jwk: Jwk,
    }

    fn p256(kid: &str) -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = serde_json::from_value(json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }))
        .unwrap();
        Key { pkcs8, jwk }
    }

    fn sign(key: &Key, kid: &str, claims: serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
    }

    fn good_claims() -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({"iss": ISS, "aud": CLIENT, "sub": "1082", "iat": now, "exp": now + 600,
               "nonce": NONCE, "email": "a@b.example", "email_verified": true})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISS,
            client_id: CLIENT,
            nonce: NONCE,
        }
    }

    fn with(mut c: serde_json::Value, k: &str, v: serde_json::Value) -> serde_json::Value {
        c[k] = v;
        c
    }

    #[test]
    fn accepts_a_good_token_and_refuses_each_bad_claim() {
        let key = p256("k1");
        let keys = vec![key.jwk.clone()];
        let ok =
            verify_id_token(&sign(&key, "k1", good_claims()), &keys, &expected(), None).unwrap();
        assert_eq!(ok.sub, "1082");
        assert_eq!(ok.verified_email(), Some("a@b.example"));

        let now = chrono::Utc::now().timestamp();
        let cases = [
            (
                with(good_claims(), "nonce", json!("other")),
                IdTokenError::Nonce,
            ),
            (
                with(good_claims(), "aud", json!("someone-else")),
                IdTokenError::Audience,
            ),
            (
                with(good_claims(), "iss", json!("https://evil.example")),
                IdTokenError::Issuer,
            ),
            (
                with(good_claims(), "exp", json!(now - 3600)),
                IdTokenError::Expired,
            ),
            (
                with(good_claims(), "aud", json!([CLIENT, "other"])),
                IdTokenError::Audience,
            ),
            (
                with(good_claims(), "azp", json!("other")),
                IdTokenError::Audience,
            ),
        ];
        for (claims, want) in cases {
            let got = verify_id_token(&sign(&key, "k1", claims.clone()), &keys, &expected(), None);
            assert_eq!(got.unwrap_err(), want, "{claims}");
        }
        let mut no_nonce = good_claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            verify_id_token(&sign(&key, "k1", no_nonce), &keys, &expected(), None).unwrap_err(),
            IdTokenError::Nonce
        );
    }

    #[test]
    fn refuses_other_keys_and_algorithms() {
        let key = p256("k1");
        let other = p256("k1");
        let keys = vec![key.jwk.clone()];
        // Same kid, another key: the signature fails.
        assert_eq!(
            verify_id_token(&sign(&other, "k1", good_claims()), &keys, &expected(), None)
                .unwrap_err(),
            IdTokenError::Signature
        );
        // A kid the JWKS does not have.
        assert_eq!(
            verify_id_token(&sign(&key, "k2", good_claims()), &keys, &expected(), None)
                .unwrap_err(),
            IdTokenError::UnknownKey
        );
        // HS256 with some shared secret, and alg "none": never accepted.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good_claims(),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(
            verify_id_token(&hs, &keys, &expected(), None).unwrap_err(),
            IdTokenError::Algorithm
        );
        let body = URL_SAFE_NO_PAD.encode(good_claims().to_string());
        let none = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(
            verify_id_token(&none, &keys, &expected(), None).unwrap_err(),
            IdTokenError::Algorithm
        );
        assert_eq!(
            verify_id_token("not.a.jwt", &keys, &expected(), None).unwrap_err(),
            IdTokenError::Malformed
        );
    }

    #[test]
    fn checks_at_hash_when_present() {
        let key = p256("k1");
        let keys = vec![key.jwk.clone()];
        let access = "ya29.access-token";
        let digest = ring::digest::digest(&ring::digest::SHA256, access.as_bytes());
        let at_hash = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
        let t = sign(&key, "k1", with(good_claims(), "at_hash", json!(at_hash)));
        assert!(verify_id_token(&t, &keys, &expected(), Some(access)).is_ok());
        assert_eq!(
            verify_id_token(&t, &keys, &expected(), Some("another")).unwrap_err(),
            IdTokenError::AtHash
        );
    }

    #[test]
    fn unverified_email_is_not_offered() {
        let c: IdClaims =
            serde_json::from_value(with(good_claims(), "email_verified", json!(false))).unwrap();
        assert_eq!(c.verified_email(), None);
        let c: IdClaims =
            serde_json::from_value(with(good_claims(), "email_verified", json!("true"))).unwrap();
        assert_eq!(c.verified_email(), Some("a@b.example"));
    }

    #[test]
    fn pkce_and_form_encoding() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_token().len(), 43);
        assert_eq!(
            form_encode(&[("a b", "x/y=z&"), ("c", "é")]),
            "a+b=x%2Fy%3Dz%26&c=%C3%A9"
        );
    }

    #[test]
    fn redirects_must_match_an_allow_list_entry() {
        let allow = vec![
            "http://127.0.0.1:8080/".to_string(),
            "https://app.example/auth".to_string(),
        ];
        for ok in [
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/dashboard?x=1",
            "https://app.example/auth",
            "https://app.example/auth/done",
            "https://app.example:443/auth/done",
        ] {
            assert!(allowed_redirect(&allow, ok).is_some(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:8081/",
            "https://127.0.0.1:8080/",
            "http://localhost:8080/",
            "https://app.example/authx",
            "https://app.example/",
            "https://app.example.evil.example/auth",
            "https://evil.example/https://app.example/auth",
            "http://127.0.0.1:8080@evil.example/",
            "https://user@app.example/auth",
            "javascript:alert(1)",
            "/relative",
            "",
        ] {
            assert!(allowed_redirect(&allow, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(endpoint_ok("https://oauth2.googleapis.com/token"));
        assert!(endpoint_ok("http://127.0.0.1:4444/token"));
        assert!(!endpoint_ok("http://oauth2.googleapis.com/token"));
        assert!(!endpoint_ok("file:///etc/passwd"));
    }
}
