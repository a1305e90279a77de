//! Google SSO against a fake OIDC provider on wiremock: discovery, a JWKS with a P-256 key made
//! at test time (ES256 signatures), and a token endpoint that checks the PKCE verifier against
//! the challenge of the authorization request.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, Url};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use testkit::wiremock::matchers::{body_string_contains, method, path};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{
    AuthApp, after, claims, count, get, last_mail, ok_json, post, problem, signup, spawn_with,
    unique_email,
};

const CLIENT_ID: &str = "voxanne-test.apps.googleusercontent.example";
/// A test value, not a credential.
const CLIENT_SECRET: &str = "fake-google-client-secret";
const CALLBACK: &str = "http://127.0.0.1:8080/api/auth/callback";
const REDIRECT_TO: &str = "http://localhost:3000/auth/done";
const KID: &str = "fake-key-1";

struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
    /// ES256 (a P-256 key, `pkcs8` DER) or RS256 (an RSA key, `pkcs8` PEM).
    alg: Algorithm,
}

/// A 2048-bit RSA key made at test time with `openssl genpkey` (Google signs ID tokens with
/// RS256; `ring` cannot generate RSA keys), once per test process: (PKCS#8 PEM, modulus as
/// base64url). No key is kept in the repository.
fn rsa_test_key() -> &'static (String, String) {
    static KEY: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let run = |args: &[&str], input: Option<&str>| -> String {
            use std::io::Write as _;
            let mut child = std::process::Command::new("openssl")
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("openssl is installed (deploy/local/setup.sh installs it)");
            if let Some(text) = input {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "openssl {args:?} failed");
            String::from_utf8(out.stdout).unwrap()
        };
        let pem = run(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            None,
        );
        let modulus = run(&["rsa", "-noout", "-modulus"], Some(&pem));
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        (pem, URL_SAFE_NO_PAD.encode(bytes))
    })
}

/// The fake provider's RSA key, as Google publishes its keys (`kty RSA`, `alg RS256`).
fn rsa_key(kid: &str) -> Key {
    Key {
        kid: kid.to_string(),
        pkcs8: rsa_test_key().0.as_bytes().to_vec(),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": rsa_test_key().1, "e": "AQAB",
        }),
        alg: Algorithm::RS256,
    }
}

fn p256_key() -> Key {
    p256_key_with_kid(KID)
}

fn p256_key_with_kid(kid: &str) -> Key {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
    let point = pair.public_key().as_ref(); // 0x04 || x || y
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    Key {
        kid: kid.to_string(),
        pkcs8,
        jwk,
        alg: Algorithm::ES256,
    }
}

/// The fake provider and the key its JWKS publishes.
struct Fake {
    server: MockServer,
    key: Key,
}

impl Fake {
    async fn start() -> Fake {
        Fake::start_with(p256_key()).await
    }

    /// A provider whose JWKS publishes only `key`.
    async fn start_with(key: Key) -> Fake {
        let server = MockServer::start().await;
        let uri = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": uri,
                "authorization_endpoint": format!("{uri}/o/oauth2/v2/auth"),
                "token_endpoint": format!("{uri}/token"),
                "jwks_uri": format!("{uri}/oauth2/v3/certs"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/oauth2/v3/certs"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [key.jwk]})))
            .mount(&server)
            .await;
        Fake { server, key }
    }

    fn issuer(&self) -> String {
        self.server.uri()
    }

    /// Claims Google would put in the ID token for this sign-in.
    fn claims(&self, sub: &str, email: &str, nonce: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer(), "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": sub,
            "email": email, "email_verified": true, "name": "Dr. Ada Lovelace",
            "nonce": nonce, "iat": now, "exp": now + 3600,
        })
    }

    /// The POSTs the token endpoint received, as forms.
    async fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/token")
            .map(|r| form(&String::from_utf8_lossy(&r.body)))
            .collect()
    }
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut h = Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    let encoding = match key.alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&key.pkcs8).unwrap(),
        _ => EncodingKey::from_ec_der(&key.pkcs8),
    };
    jsonwebtoken::encode(&h, claims, &encoding).unwrap()
}

fn form(s: &str) -> HashMap<String, String> {
    let u = Url::parse(&format!("http://form.invalid/?{s}")).unwrap();
    u.query_pairs().into_owned().collect()
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The token endpoint for one authorization code: answers with `id_token` only when the
/// request carries the code, our client credentials, our callback and a verifier whose S256
/// is the challenge the authorization request carried (RFC 7636 §4.6).
struct TokenEndpoint {
    code: String,
    challenge: String,
    id_token: String,
}

impl Respond for TokenEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(&String::from_utf8_lossy(&req.body));
        let is = |k: &str, v: &str| f.get(k).map(String::as_str) == Some(v);
        let content_type_ok = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let verifier_ok = f
            .get("code_verifier")
            .is_some_and(|v| s256(v) == self.challenge);
        if content_type_ok
            && is("grant_type", "authorization_code")
            && is("code", &self.code)
            && is("client_id", CLIENT_ID)
            && is("client_secret", CLIENT_SECRET)
            && is("redirect_uri", CALLBACK)
            && verifier_ok
        {
            ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.fake-access-token", "expires_in": 3599,
                "token_type": "Bearer", "scope": "openid email profile",
                "id_token": self.id_token,
            }))
        } else {
            ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"}))
        }
    }
}

async fn spawn_sso(fake: &Fake) -> AuthApp {
    spawn_sso_with(fake, &[]).await
}

async fn spawn_sso_with(fake: &Fake, extra: &[(&str, &str)]) -> AuthApp {
    let issuer = fake.issuer();
    let mut env = vec![
        ("AUTH_GOOGLE_ISSUER", issuer.as_str()),
        ("AUTH_GOOGLE_CLIENT_ID", CLIENT_ID),
        ("AUTH_GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
        ("AUTH_SSO_CALLBACK_URL", CALLBACK),
        ("AUTH_REDIRECT_ALLOW_LIST", "http://localhost:3000/auth/"),
    ];
    env.extend_from_slice(extra);
    spawn_with(&env).await
}

async fn authorize_raw(app: &AuthApp, provider: &str, redirect_to: &str) -> Response {
    authorize_query(app, &[("provider", provider), ("redirect_to", redirect_to)]).await
}

async fn authorize_query(app: &AuthApp, pairs: &[(&str, &str)]) -> Response {
    let mut u = Url::parse(&app.url("/api/auth/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(pairs);
    app.client.get(u).send().await.unwrap()
}

/// What the browser carries to the provider.
struct Started {
    state: String,
    nonce: String,
    challenge: String,
    /// `name=value` of the cookie binding the sign-in to this browser.
    cookie: String,
}

async fn authorize(app: &AuthApp, fake: &Fake) -> Started {
    authorize_with(app, fake, &[]).await
}

async fn authorize_with(app: &AuthApp, fake: &Fake, extra: &[(&str, &str)]) -> Started {
    let mut pairs = vec![("provider", "google"), ("redirect_to", REDIRECT_TO)];
    pairs.extend_from_slice(extra);
    let r = authorize_query(app, &pairs).await;
    assert_eq!(r.status().as_u16(), 302);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in [
        "Path=/api/auth/callback",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let loc = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        format!("{}{}", loc.origin().ascii_serialization(), loc.path()),
        format!("{}/o/oauth2/v2/auth", fake.issuer())
    );
    let q: HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
        cookie,
    }
}

/// The provider's redirect back, in the browser that started the sign-in.
async fn callback(app: &AuthApp, code: &str, started: &Started) -> Response {
    callback_raw(app, code, &started.state, Some(&started.cookie)).await
}

async fn callback_raw(app: &AuthApp, code: &str, state: &str, cookie: Option<&str>) -> Response {
    let mut u = Url::parse(&app.url("/api/auth/callback")).unwrap();
    u.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", state);
    let mut r = app.client.get(u);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

/// The provider hands out `code` whose ID token is `id_token` (for the flow's PKCE challenge).
async fn issue_code(fake: &Fake, started: &Started, id_token: String) -> String {
    let code = format!("4-{}", uuid::Uuid::new_v4().simple());
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains(format!("code={code}")))
        .respond_with(TokenEndpoint {
            code: code.clone(),
            challenge: started.challenge.clone(),
            id_token,
        })
        .mount(&fake.server)
        .await;
    code
}

/// The fragment of the redirect to `REDIRECT_TO`.
async fn fragment(r: Response) -> HashMap<String, String> {
    assert_eq!(r.status().as_u16(), 302);
    // The browser binding is spent: the cookie is cleared.
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("voxanne_sso=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let loc = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        format!("{}{}", loc.origin().ascii_serialization(), loc.path()),
        REDIRECT_TO
    );
    form(loc.fragment().unwrap_or_default())
}

/// authorize → the provider signs `claims(nonce)` with `key` → callback; the fragment.
async fn sign_in_with(
    app: &AuthApp,
    fake: &Fake,
    key: &Key,
    claims: impl FnOnce(&str) -> Value,
) -> (Started, String, HashMap<String, String>) {
    let started = authorize(app, fake).await;
    let token = sign(key, &claims(&started.nonce));
    let code = issue_code(fake, &started, token).await;
    let frag = fragment(callback(app, &code, &started).await).await;
    (started, code, frag)
}

fn assert_refused(frag: &HashMap<String, String>, code: &str) {
    assert_eq!(
        frag.get("error_code").map(String::as_str),
        Some(code),
        "{frag:?}"
    );
    assert_eq!(frag["error"], "access_denied", "{frag:?}");
    assert!(!frag.contains_key("access_token"), "{frag:?}");
}

#[tokio::test]
async fn google_sign_in_creates_a_user_and_the_same_sub_logs_in_again() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    let sub = format!("1{}", uuid::Uuid::new_v4().as_u128() % 10u128.pow(20));

    let (started, code, frag) =
        sign_in_with(&app, &fake, &fake.key, |n| fake.claims(&sub, &email, n)).await;
    assert_eq!(frag["token_type"], "bearer", "{frag:?}");
    assert_eq!(frag["expires_in"], "900");
    assert!(!frag["refresh_token"].is_empty());
    let access = frag["access_token"].clone();
    assert_eq!(claims(&access)["amr"][0]["method"], "oauth");

    // The token endpoint saw exactly what RFC 6749 §4.1.3 and RFC 7636 §4.5 ask for.
    let sent = fake.token_requests().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["grant_type"], "authorization_code");
    assert_eq!(sent[0]["code"], code);
    assert_eq!(sent[0]["redirect_uri"], CALLBACK);
    assert_eq!(sent[0]["client_id"], CLIENT_ID);
    assert_eq!(sent[0]["client_secret"], CLIENT_SECRET);
    assert_eq!(s256(&sent[0]["code_verifier"]), started.challenge);

    // The access token works; a new user owns a new org named after the email's domain.
    let me = ok_json(get(&app, "/api/auth/user", &access).await, 200).await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["display_name"], "Dr. Ada Lovelace");
    assert_eq!(me["org_role"], "owner");
    let orgs = me["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["name"], "clinic.example");
    let log = ok_json(get(&app, "/api/auth/audit", &access).await, 200).await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["org.created", "user.signup", "sso.login"] {
        assert_eq!(
            actions.iter().filter(|x| **x == a).count(),
            1,
            "{actions:?}"
        );
    }
    // The new org is announced like a signup's: one org.created.v1 in the outbox, UTC.
    let org = me["org_id"].as_str().unwrap();
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.outbox WHERE org_id = '{org}' AND event_type = 'org.created.v1' AND payload->>'timezone' = 'UTC'")).await,
        1
    );

    // Signing in again with the same Google sub is the same user in the same org.
    let (_, _, again) =
        sign_in_with(&app, &fake, &fake.key, |n| fake.claims(&sub, &email, n)).await;
    let me2 = ok_json(
        get(&app, "/api/auth/user", &again["access_token"]).await,
        200,
    )
    .await;
    assert_eq!(me2["id"], me["id"]);
    assert_eq!(me2["org_id"], me["org_id"]);
    assert_eq!(me2["organizations"].as_array().unwrap().len(), 1);
    assert_ne!(me2["session_id"], me["session_id"]);
    let uid = me["id"].as_str().unwrap();
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.identities WHERE user_id = '{uid}' AND provider = 'google' AND provider_sub = '{sub}' AND last_login_at IS NOT NULL")).await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM auth.users WHERE password_hash IS NULL"
        )
        .await,
        1,
        "an SSO user has no password"
    );
}

/// Issue 11 item 1: someone registers `victim@clinic` with a password and never verifies it;
/// when the victim later signs in with Google, the two must not become one account. Linking by
/// email needs the email verified on both sides.
#[tokio::test]
async fn a_verified_google_email_links_only_to_a_password_user_who_verified_it_too() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    // The squatter: a password account on the victim's address, email never verified.
    let user = signup(&app).await;

    // Not verified by the provider: neither linked nor created.
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        let mut c = fake.claims("20001", &user.email, n);
        c["email_verified"] = json!(false);
        c
    })
    .await;
    assert_refused(&frag, "email_not_verified");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.identities").await,
        0
    );

    // Verified by Google, but the password account never proved the address: refused, nothing
    // linked, no second user, and the password account gained no session.
    let sessions_before = count(&app, "SELECT count(*) AS n FROM auth.sessions").await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        fake.claims("20002", &user.email.to_uppercase(), n)
    })
    .await;
    assert_refused(&frag, "account_exists_unverified");
    assert!(
        frag["error_description"].contains("not verified"),
        "{frag:?}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.identities").await,
        0
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM auth.users").await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.sessions").await,
        sessions_before
    );

    // Once the password account verifies its email (the mailed link), Google links to it.
    let token = after(&last_mail(&app, &user.email).await, "verify-email#token=").to_string();
    ok_json(
        post(
            &app,
            "/api/auth/verify",
            None,
            json!({"type": "email", "token": token}),
        )
        .await,
        200,
    )
    .await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        fake.claims("20002", &user.email.to_uppercase(), n)
    })
    .await;
    let me = ok_json(
        get(&app, "/api/auth/user", &frag["access_token"]).await,
        200,
    )
    .await;
    assert_eq!(me["id"], user.user.as_str());
    assert_eq!(me["org_id"], user.org.as_str());
    assert_eq!(me["org_role"], "owner");
    let log = ok_json(
        get(&app, "/api/auth/audit?action=sso.login", &user.access).await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["items"][0]["metadata"]["found_by"], "verified_email");
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM auth.identities WHERE user_id = '{}' AND provider_sub = '20002'", user.user)).await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.users").await,
        1,
        "linked, not created"
    );
}

/// Google signs ID tokens with RS256: a provider publishing only an RSA key signs users in;
/// a token whose payload was altered after signing, or an ES256 token no published key fits,
/// is refused.
#[tokio::test]
async fn google_rs256_id_tokens_sign_in_and_forged_ones_are_refused() {
    let fake = Fake::start_with(rsa_key("google-rsa-1")).await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    let (_, _, frag) =
        sign_in_with(&app, &fake, &fake.key, |n| fake.claims("70001", &email, n)).await;
    assert!(frag.contains_key("access_token"), "{frag:?}");
    let me = ok_json(
        get(&app, "/api/auth/user", &frag["access_token"]).await,
        200,
    )
    .await;
    assert_eq!(me["email"], email.as_str());

    // The same signature over other claims (another sub and email): bad signature.
    let started = authorize(&app, &fake).await;
    let genuine = sign(
        &fake.key,
        &fake.claims("70002", &unique_email(), &started.nonce),
    );
    let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
    parts[1] = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&fake.claims("70003", &email, &started.nonce)).unwrap());
    let code = issue_code(&fake, &started, parts.join(".")).await;
    let frag = fragment(callback(&app, &code, &started).await).await;
    assert_refused(&frag, "id_token_bad_signature");

    // An ES256 token under the RSA key's kid: no published key fits it.
    let ec = p256_key_with_kid("google-rsa-1");
    let (_, _, frag) = sign_in_with(&app, &fake, &ec, |n| {
        fake.claims("70004", &unique_email(), n)
    })
    .await;
    assert_refused(&frag, "id_token_unknown_key");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.identities").await,
        1
    );
}

#[tokio::test]
async fn an_id_token_with_the_wrong_nonce_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |_| {
        fake.claims("30001", &unique_email(), "a-nonce-from-another-sign-in")
    })
    .await;
    assert_refused(&frag, "id_token_nonce_mismatch");
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        let mut c = fake.claims("30002", &unique_email(), n);
        c["aud"] = json!("another-app.apps.googleusercontent.example");
        c["azp"] = json!("another-app.apps.googleusercontent.example");
        c
    })
    .await;
    assert_refused(&frag, "id_token_wrong_audience");
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        let now = chrono::Utc::now().timestamp();
        let mut c = fake.claims("30003", &unique_email(), n);
        c["iat"] = json!(now - 7200);
        c["exp"] = json!(now - 3600);
        c
    })
    .await;
    assert_refused(&frag, "id_token_expired");
}

#[tokio::test]
async fn an_id_token_signed_by_another_key_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    // Same kid as the published key, but a key the provider never published.
    let forger = p256_key();
    let (_, _, frag) = sign_in_with(&app, &fake, &forger, |n| {
        fake.claims("30004", &unique_email(), n)
    })
    .await;
    assert_refused(&frag, "id_token_bad_signature");
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let (_, _, frag) = sign_in_with(&app, &fake, &fake.key, |n| {
        let mut c = fake.claims("30005", &unique_email(), n);
        c["iss"] = json!("https://accounts.evil.example");
        c
    })
    .await;
    assert_refused(&frag, "id_token_wrong_issuer");
}

#[tokio::test]
async fn redirect_to_must_be_on_the_allow_list_and_the_provider_known() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    for bad in [
        "https://evil.example/auth/done",
        "http://localhost:3000/elsewhere",
        "http://localhost:3001/auth/done",
        "http://localhost:3000@evil.example/auth/done",
        "/auth/done",
    ] {
        let body = problem(
            authorize_raw(&app, "google", bad).await,
            400,
            "redirect_not_allowed",
        )
        .await;
        assert!(!body.to_string().contains("evil"), "{body}");
    }
    problem(
        authorize_raw(&app, "github", REDIRECT_TO).await,
        400,
        "unknown_provider",
    )
    .await;
    // Nothing reached the provider for any of them.
    assert!(fake.token_requests().await.is_empty());
}

#[tokio::test]
async fn sso_is_off_without_a_client_id() {
    let app = spawn_with(&[]).await;
    problem(
        authorize_raw(&app, "google", "http://localhost:3000/").await,
        400,
        "provider_disabled",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_or_unknown_state_is_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    let (started, code, frag) =
        sign_in_with(&app, &fake, &fake.key, |n| fake.claims("40001", &email, n)).await;
    assert!(frag.contains_key("access_token"), "{frag:?}");
    // The same state again (a replayed callback): refused before the code is exchanged again.
    problem(callback(&app, &code, &started).await, 400, "invalid_state").await;
    assert_eq!(fake.token_requests().await.len(), 1);
    // A state never issued, and none at all.
    problem(
        callback_raw(
            &app,
            &code,
            "bm90LWEtc3RhdGUtd2UtaXNzdWVkLWV2ZXI",
            Some(&started.cookie),
        )
        .await,
        400,
        "invalid_state",
    )
    .await;
    let r = app
        .client
        .get(app.url("/api/auth/callback?code=abc"))
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_state").await;
    // A code the provider refuses (wrong PKCE verifier is what this endpoint checks) ends in
    // an error redirect, not a session.
    let started = authorize(&app, &fake).await;
    let other = Started {
        state: started.state.clone(),
        nonce: started.nonce.clone(),
        challenge: s256("a-verifier-we-did-not-send"),
        cookie: started.cookie.clone(),
    };
    let token = sign(&fake.key, &fake.claims("40001", &email, &started.nonce));
    let code = issue_code(&fake, &other, token).await;
    let frag = fragment(callback(&app, &code, &started).await).await;
    assert_refused(&frag, "code_exchange_failed");
    // The callback must come from the browser that started the sign-in (login CSRF): without
    // its cookie, or with another browser's, it is refused and nothing is exchanged.
    let before = fake.token_requests().await.len();
    let mine = authorize(&app, &fake).await;
    let theirs = authorize(&app, &fake).await;
    let token = sign(&fake.key, &fake.claims("40001", &email, &mine.nonce));
    let code = issue_code(&fake, &mine, token).await;
    problem(
        callback_raw(&app, &code, &mine.state, None).await,
        400,
        "invalid_state",
    )
    .await;
    problem(
        callback_raw(&app, &code, &theirs.state, Some(&mine.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    assert_eq!(fake.token_requests().await.len(), before);
}

#[tokio::test]
async fn an_invitation_carried_through_the_sign_in_decides_the_org() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let owner = signup(&app).await;
    let email = unique_email();
    let inv = ok_json(
        post(
            &app,
            &format!("/api/orgs/{}/invitations", owner.org),
            Some(&owner.access),
            json!({"email": email, "role": "staff"}),
        )
        .await,
        201,
    )
    .await;
    let token = inv["token"].as_str().unwrap();

    // Not an invitation token at all: refused before the provider is involved.
    problem(
        authorize_query(
            &app,
            &[
                ("provider", "google"),
                ("redirect_to", REDIRECT_TO),
                ("invitation", "nope"),
            ],
        )
        .await,
        422,
        "invalid_field",
    )
    .await;

    // Someone else's Google account cannot use the invitation (and gets no user).
    let started = authorize_with(&app, &fake, &[("invitation", token)]).await;
    let id_token = sign(
        &fake.key,
        &fake.claims("50001", &unique_email(), &started.nonce),
    );
    let code = issue_code(&fake, &started, id_token).await;
    let frag = fragment(callback(&app, &code, &started).await).await;
    assert_refused(&frag, "invitation_email_mismatch");

    // The invited email: a new user joins the inviting org as staff; no org of its own.
    let started = authorize_with(&app, &fake, &[("invitation", token)]).await;
    let id_token = sign(&fake.key, &fake.claims("50002", &email, &started.nonce));
    let code = issue_code(&fake, &started, id_token).await;
    let frag = fragment(callback(&app, &code, &started).await).await;
    let me = ok_json(
        get(&app, "/api/auth/user", &frag["access_token"]).await,
        200,
    )
    .await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["org_id"], owner.org.as_str());
    assert_eq!(me["org_role"], "staff");
    assert_eq!(me["organizations"].as_array().unwrap().len(), 1);
    let log = ok_json(
        get(
            &app,
            "/api/auth/audit?action=invitation.accepted",
            &owner.access,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");

    // Used once: it brings in nobody else.
    let started = authorize_with(&app, &fake, &[("invitation", token)]).await;
    let id_token = sign(
        &fake.key,
        &fake.claims("50003", &unique_email(), &started.nonce),
    );
    let code = issue_code(&fake, &started, id_token).await;
    let frag = fragment(callback(&app, &code, &started).await).await;
    assert_refused(&frag, "invitation_not_pending");
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_when_its_kid_first_appears() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    // The first sign-in fetches and caches the JWKS (one key).
    let (_, _, frag) =
        sign_in_with(&app, &fake, &fake.key, |n| fake.claims("60001", &email, n)).await;
    assert!(frag.contains_key("access_token"), "{frag:?}");

    // The provider rotates: a second key with a new kid is published and signs from now on.
    let rotated = p256_key_with_kid("fake-key-2");
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"keys": [fake.key.jwk, rotated.jwk]})),
        )
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let (_, _, frag) =
        sign_in_with(&app, &fake, &rotated, |n| fake.claims("60001", &email, n)).await;
    assert!(frag.contains_key("access_token"), "{frag:?}");
    let jwks_fetches = fake
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/oauth2/v3/certs")
        .count();
    assert_eq!(
        jwks_fetches, 2,
        "cached once, refetched once for the new kid"
    );

    // A kid the provider never published is refused.
    let stranger = p256_key_with_kid("never-published");
    let (_, _, frag) =
        sign_in_with(&app, &fake, &stranger, |n| fake.claims("60001", &email, n)).await;
    assert_refused(&frag, "id_token_unknown_key");
}

/// `authorize` is unauthenticated and stores a flow in Redis per call, so sign-ins started from
/// one IP are limited (here 3 per window); another IP is unaffected.
#[tokio::test]
async fn authorize_is_rate_limited_per_ip() {
    let fake = Fake::start().await;
    let app = spawn_sso_with(
        &fake,
        &[
            ("AUTH_AUTHORIZE_PER_IP", "3"),
            ("AUTH_AUTHORIZE_WINDOW_SECS", "600"),
            ("AUTH_TRUST_FORWARDED_FOR", "true"),
        ],
    )
    .await;
    let from = |ip: &'static str| {
        let mut u = Url::parse(&app.url("/api/auth/authorize")).unwrap();
        u.query_pairs_mut()
            .extend_pairs([("provider", "google"), ("redirect_to", REDIRECT_TO)]);
        app.client.get(u).header("x-forwarded-for", ip).send()
    };
    for _ in 0..3 {
        assert_eq!(from("203.0.113.7").await.unwrap().status().as_u16(), 302);
    }
    let r = from("203.0.113.7").await.unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    assert!(
        !r.headers().contains_key("set-cookie"),
        "a refused call starts no sign-in"
    );
    problem(r, 429, "rate_limited").await;
    assert_eq!(from("198.51.100.9").await.unwrap().status().as_u16(), 302);
}

/// Issue 11 item 7(f): a callback without the browser's cookie (or with another browser's) is
/// refused without spending the state, so the real browser still finishes its sign-in.
#[tokio::test]
async fn a_callback_from_another_browser_does_not_spend_the_state() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    let mine = authorize(&app, &fake).await;
    let theirs = authorize(&app, &fake).await;
    let token = sign(&fake.key, &fake.claims("80001", &email, &mine.nonce));
    let code = issue_code(&fake, &mine, token).await;
    // No cookie, then another browser's cookie: refused, nothing exchanged.
    problem(
        callback_raw(&app, &code, &mine.state, None).await,
        400,
        "invalid_state",
    )
    .await;
    problem(
        callback_raw(&app, &code, &mine.state, Some(&theirs.cookie)).await,
        400,
        "invalid_state",
    )
    .await;
    assert!(fake.token_requests().await.is_empty());
    // The browser that started it still signs in, once.
    let frag = fragment(callback(&app, &code, &mine).await).await;
    assert!(frag.contains_key("access_token"), "{frag:?}");
    problem(callback(&app, &code, &mine).await, 400, "invalid_state").await;
    assert_eq!(fake.token_requests().await.len(), 1);
}

// ---- GoTrue's PKCE flow (ADR 0018): `/authorize` with the client's `code_challenge`, the
// callback hands `redirect_to` an auth code, `POST /token?grant_type=pkce` exchanges it. ----

const GOTRUE: (&str, &str) = ("X-Supabase-Api-Version", "2024-01-01");

/// A PKCE verifier as supabase-py makes them (64 characters of the unreserved set).
fn verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The browser side of a PKCE sign-in started at `authorize_url` (the URL the client built, on
/// `base`: the app or the gateway): to the fake provider, which signs in `sub`/`email`, and
/// back through the callback; the auth code `redirect_to` got.
async fn browser_pkce(
    client: &reqwest::Client,
    base: &str,
    fake: &Fake,
    authorize_url: &str,
    sub: &str,
    email: &str,
) -> String {
    let r = client.get(authorize_url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "{:?}", r.text().await);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let loc = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = loc.query_pairs().into_owned().collect();
    let started = Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
        cookie,
    };
    let token = sign(&fake.key, &fake.claims(sub, email, &started.nonce));
    let code = issue_code(fake, &started, token).await;
    let mut u = Url::parse(&format!("{base}/api/auth/callback")).unwrap();
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &started.state);
    let r = client
        .get(u)
        .header("cookie", &started.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let back = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        format!("{}{}", back.origin().ascii_serialization(), back.path()),
        REDIRECT_TO
    );
    // No tokens in the URL: only the code, which is useless without the verifier.
    assert!(back.fragment().is_none(), "{back}");
    let got: HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(got.len(), 1, "{got:?}");
    got["code"].clone()
}

fn pkce_authorize_url(app: &AuthApp, challenge: &str, method: &str) -> String {
    let mut u = Url::parse(&app.url("/api/auth/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs([
        ("provider", "google"),
        ("redirect_to", REDIRECT_TO),
        ("code_challenge", challenge),
        ("code_challenge_method", method),
    ]);
    u.to_string()
}

async fn exchange(app: &AuthApp, gotrue: bool, auth_code: &str, verifier: &str) -> Response {
    let mut r = app
        .client
        .post(app.url("/api/auth/token?grant_type=pkce"))
        .json(&json!({"auth_code": auth_code, "code_verifier": verifier}));
    if gotrue {
        r = r.header(GOTRUE.0, GOTRUE.1);
    }
    r.send().await.unwrap()
}

async fn gotrue_error(r: Response, status: u16, code: &str) {
    assert_eq!(r.headers()["x-supabase-api-version"], "2024-01-01");
    let e = ok_json(r, status).await;
    assert_eq!(e["code"], code, "{e}");
    assert_eq!(e["error_code"], code, "{e}");
}

#[tokio::test]
async fn a_pkce_sign_in_hands_back_a_code_exchanged_once_with_the_right_verifier() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let email = unique_email();
    let sub = format!("1{}", uuid::Uuid::new_v4().as_u128() % 10u128.pow(20));

    // A wrong verifier: GoTrue's 400 bad_code_verifier; the code is spent (no guessing).
    let v = verifier();
    let code = browser_pkce(
        &app.client,
        &app.address,
        &fake,
        &pkce_authorize_url(&app, &s256(&v), "s256"),
        &sub,
        &email,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.sessions").await,
        0,
        "no session before the exchange"
    );
    gotrue_error(
        exchange(&app, true, &code, &verifier()).await,
        400,
        "bad_code_verifier",
    )
    .await;
    gotrue_error(
        exchange(&app, true, &code, &v).await,
        404,
        "flow_state_not_found",
    )
    .await;

    // The right verifier: a GoTrue session for the Google user (amr oauth).
    let v = verifier();
    let code = browser_pkce(
        &app.client,
        &app.address,
        &fake,
        &pkce_authorize_url(&app, &s256(&v), "S256"),
        &sub,
        &email,
    )
    .await;
    let s = ok_json(exchange(&app, true, &code, &v).await, 200).await;
    assert_eq!(s["token_type"], "bearer");
    assert_eq!(s["user"]["email"], email.as_str());
    assert!(s["refresh_token"].is_string());
    assert_eq!(
        claims(s["access_token"].as_str().unwrap())["amr"][0]["method"],
        "oauth"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM auth.users WHERE email = '{email}'")
        )
        .await,
        1
    );
    // Used once: the same code with the same verifier is unknown now (ours: problem+json).
    gotrue_error(
        exchange(&app, true, &code, &v).await,
        404,
        "flow_state_not_found",
    )
    .await;
    problem(
        exchange(&app, false, &code, &v).await,
        404,
        "flow_state_not_found",
    )
    .await;
    // A made-up code; an empty verifier (GoTrue's validation_failed; ours: missing_field).
    gotrue_error(
        exchange(&app, true, "not-a-code", &v).await,
        404,
        "flow_state_not_found",
    )
    .await;
    gotrue_error(
        exchange(&app, true, &code, "").await,
        400,
        "validation_failed",
    )
    .await;
    // `plain` works too (JS falls back to it without WebCrypto).
    let v = verifier();
    let code = browser_pkce(
        &app.client,
        &app.address,
        &fake,
        &pkce_authorize_url(&app, &v, "plain"),
        &sub,
        &email,
    )
    .await;
    ok_json(exchange(&app, false, &code, &v).await, 200).await;
}

#[tokio::test]
async fn an_expired_auth_code_and_bad_pkce_parameters_are_refused() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let v = verifier();
    let code = browser_pkce(
        &app.client,
        &app.address,
        &fake,
        &pkce_authorize_url(&app, &s256(&v), "s256"),
        "1234567",
        &unique_email(),
    )
    .await;
    // Age the waiting sign-in past GoTrue's 300 s (its Redis entry, keyed by the code's hash).
    let key = format!("{}sso:code:{}", app.redis_prefix, s256(&code));
    let pool = deadpool_redis::Config::from_url(testkit::config::redis_url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let raw: String = deadpool_redis::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut state: Value = serde_json::from_str(&raw).unwrap();
    state["created_at"] = json!(chrono::Utc::now().timestamp() - 301);
    let _: () = deadpool_redis::redis::cmd("SET")
        .arg(&key)
        .arg(state.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    gotrue_error(
        exchange(&app, true, &code, &v).await,
        422,
        "flow_state_expired",
    )
    .await;
    // Half a PKCE request, a short challenge, an unknown method: 400 validation_failed.
    for pairs in [
        vec![("code_challenge", s256(&v))],
        vec![("code_challenge_method", "s256".to_string())],
        vec![
            ("code_challenge", "short".to_string()),
            ("code_challenge_method", "s256".to_string()),
        ],
        vec![
            ("code_challenge", s256(&v)),
            ("code_challenge_method", "md5".to_string()),
        ],
    ] {
        let mut q = vec![("provider", "google"), ("redirect_to", REDIRECT_TO)];
        q.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        problem(authorize_query(&app, &q).await, 400, "validation_failed").await;
    }
}

/// Runs a client's PKCE script (tests/clients/{py,js}/pkce.*) against `base`, playing the
/// browser for every `AUTHORIZE <url>` it prints; its stdout.
async fn pkce_client(
    exe: std::path::PathBuf,
    script: std::path::PathBuf,
    base: &str,
    fake: &Fake,
    sub: &str,
    email: &str,
) -> String {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let mut child = tokio::process::Command::new(exe)
        .arg(script)
        .arg(format!("{base}/api/auth"))
        .arg(REDIRECT_TO)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut out = String::new();
    while let Ok(Some(line)) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the client script answers within 60 s")
    {
        out.push_str(&line);
        out.push('\n');
        if let Some(url) = line.strip_prefix("AUTHORIZE ") {
            let code = browser_pkce(&browser, base, fake, url, sub, email).await;
            stdin
                .write_all(format!("{code}\n").as_bytes())
                .await
                .unwrap();
            stdin.flush().await.unwrap();
        }
    }
    let done = child.wait_with_output().await.unwrap();
    assert!(
        done.status.success(),
        "the client failed:\n{out}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(out.lines().last(), Some("ALL OK"), "{out}");
    out
}

#[tokio::test]
async fn the_official_clients_exchange_a_pkce_code_through_the_gateway() {
    let fake = Fake::start().await;
    let app = spawn_sso(&fake).await;
    let gw = testkit::Gateway::start(&[("auth", &app.address)]).await;
    let other = crate::helpers::other_service(&app).await;
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let email = unique_email();
    let out = pkce_client(
        crate::clients::python(),
        manifest.join("tests/clients/py/pkce.py"),
        &gw.address,
        &fake,
        "2233445566",
        &email,
    )
    .await;
    for s in ["wrong_verifier", "exchange", "reused_code"] {
        assert!(out.contains(&format!("STEP {s} ")), "{s} missing:\n{out}");
    }
    assert!(
        out.contains(r#"STEP wrong_verifier {"code": "bad_code_verifier", "status": 400}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"STEP reused_code {"code": "flow_state_not_found", "status": 404}"#),
        "{out}"
    );
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("ACCESS_TOKEN "))
        .unwrap();
    assert_eq!(
        crate::helpers::other_service_status(&other, token).await,
        200
    );
    // The JS client, the same Google account: the same user.
    let out = pkce_client(
        std::path::PathBuf::from("node"),
        crate::clients::node_modules().join("pkce.mjs"),
        &gw.address,
        &fake,
        "2233445566",
        &email,
    )
    .await;
    assert!(out.contains("STEP exchange "), "{out}");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM auth.users WHERE email = '{email}'")
        )
        .await,
        1
    );
    assert!(
        gw.access_log()
            .contains("POST /api/auth/token?grant_type=pkce")
    );
}
