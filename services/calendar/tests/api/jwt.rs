//! Every way an access token can be wrong gets a 401 problem+json; no org is a 403; a revoked
//! session is refused; Redis down never lets a request through.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tenancy::claims::Audience;
use tenancy::{OrgId, Revocations, Role, SessionId};
use testkit::auth::SigningKey;
use testkit::{TestAuth, spawn_app_with};

use crate::helpers::{problem, spawn};

const PATH: &str = "/api/calendar/services";

async fn get_with(
    app: &testkit::TestApp<calendar::Calendar>,
    auth: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.get(app.url(PATH));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_passes() {
    let app = spawn().await;
    let token = app.auth.token(OrgId::new_random(), Role::Viewer);
    let r = get_with(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn bad_tokens_get_401_problem_json() {
    let app = spawn().await;
    let org = OrgId::new_random();
    let base = || app.auth.user_claims(org, Role::Owner);
    let now = chrono::Utc::now().timestamp();

    let mut expired = base();
    expired.exp = now - 3600;
    expired.iat = now - 7200;
    let mut not_yet = base();
    not_yet.nbf = Some(now + 3600);
    let mut wrong_iss = base();
    wrong_iss.iss = "https://evil.example/auth".into();
    let mut wrong_aud = base();
    wrong_aud.aud = Audience::One("someone-else".into());

    // alg none: header and claims, empty signature.
    let none = format!(
        "{}.{}.",
        B64URL.encode(json!({"alg": "none", "typ": "JWT", "kid": app.auth.key.kid}).to_string()),
        B64URL.encode(serde_json::to_string(&base()).unwrap())
    );
    // Algorithm confusion: HS256 keyed with the published public key.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(app.auth.key.kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &base(),
        &EncodingKey::from_secret(&app.auth.key.public),
    )
    .unwrap();
    let hs256_jwk_x = jsonwebtoken::encode(
        &hs_header,
        &base(),
        &EncodingKey::from_secret(B64URL.encode(&app.auth.key.public).as_bytes()),
    )
    .unwrap();
    // A key the JWKS does not publish.
    let stranger = SigningKey::generate("unknown-kid").sign(&base());
    // A real token whose payload was edited after signing (role raised to another org).
    let good = app.auth.sign(&base());
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = base();
    forged.app_metadata.org_id = Some(OrgId::new_random().as_uuid());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(serde_json::to_string(&forged).unwrap()),
        parts[2]
    );

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing header", None, "missing_token"),
        (
            "not bearer",
            Some(format!("Basic {}", B64URL.encode("a:b"))),
            "missing_token",
        ),
        ("garbage", Some("Bearer not.a.jwt".into()), "invalid_token"),
        (
            "expired",
            Some(format!("Bearer {}", app.auth.sign(&expired))),
            "token_expired",
        ),
        (
            "not yet valid",
            Some(format!("Bearer {}", app.auth.sign(&not_yet))),
            "token_not_yet_valid",
        ),
        (
            "wrong iss",
            Some(format!("Bearer {}", app.auth.sign(&wrong_iss))),
            "invalid_token",
        ),
        (
            "wrong aud",
            Some(format!("Bearer {}", app.auth.sign(&wrong_aud))),
            "invalid_token",
        ),
        ("alg none", Some(format!("Bearer {none}")), "invalid_token"),
        (
            "HS256 with the public key",
            Some(format!("Bearer {hs256}")),
            "invalid_token",
        ),
        (
            "HS256 with the JWK x",
            Some(format!("Bearer {hs256_jwk_x}")),
            "invalid_token",
        ),
        (
            "unknown kid",
            Some(format!("Bearer {stranger}")),
            "invalid_token",
        ),
        (
            "tampered payload",
            Some(format!("Bearer {tampered}")),
            "invalid_token",
        ),
    ];
    for (what, header, code) in cases {
        let r = get_with(&app, header.as_deref()).await;
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{what}");
        let body = problem(r, 401).await;
        // "not bearer" is a malformed header: it may be reported as either code.
        if what != "not bearer" {
            assert_eq!(body["code"], code, "{what}: {body}");
        }
    }
}

#[tokio::test]
async fn a_valid_token_without_an_org_gets_403() {
    let app = spawn().await;
    let mut claims = app.auth.user_claims(OrgId::new_random(), Role::Owner);
    claims.app_metadata = Default::default();
    let r = get_with(&app, Some(&format!("Bearer {}", app.auth.sign(&claims)))).await;
    let body = problem(r, 403).await;
    assert_eq!(body["code"], "no_org");
}

#[tokio::test]
async fn a_service_token_cannot_call_a_tenant_endpoint() {
    let app = spawn().await;
    let r = get_with(
        &app,
        Some(&format!(
            "Bearer {}",
            app.auth.service_token("voice-webhook")
        )),
    )
    .await;
    // The service audience is not a user audience: refused before any org logic.
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_revoked_session_is_refused_within_a_second() {
    let app = spawn().await;
    let claims = app.auth.user_claims(OrgId::new_random(), Role::Owner);
    let token = app.auth.sign(&claims);
    assert_eq!(
        get_with(&app, Some(&format!("Bearer {token}")))
            .await
            .status(),
        200
    );

    let redis = servicekit::db::redis_pool(
        &servicekit::SecretString::from(testkit::config::redis_url()),
        2,
    )
    .unwrap();
    Revocations::new(redis, app.redis_prefix.clone())
        .revoke(
            SessionId(claims.session_id.unwrap()),
            Duration::from_secs(60),
        )
        .await
        .unwrap();

    // Services trust a "not revoked" answer for 250 ms (tenancy::revocation): the revocation
    // must show within the second ARCHITECTURE §4 allows.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let body = loop {
        let r = get_with(&app, Some(&format!("Bearer {token}"))).await;
        if r.status() == 401 || std::time::Instant::now() > deadline {
            break problem(r, 401).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["code"], "session_revoked");
    // Another session of the same user and org is unaffected.
    let other = app
        .auth
        .sign(&app.auth.user_claims(OrgId::new_random(), Role::Owner));
    assert_eq!(
        get_with(&app, Some(&format!("Bearer {other}")))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn redis_down_fails_closed() {
    let auth = Arc::new(TestAuth::start().await);
    let app =
        spawn_app_with::<calendar::Calendar>(auth, &[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let token = app.auth.token(OrgId::new_random(), Role::Owner);
    let r = get_with(&app, Some(&format!("Bearer {token}"))).await;
    assert!(r.status() == 401 || r.status() == 503, "got {}", r.status());
    let body = problem(r, 503).await;
    assert_eq!(body["code"], "auth_unavailable");
}
