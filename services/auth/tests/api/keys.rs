//! JWKS and `auth keys rotate`.

use std::time::Duration;

use runtime::Service as _;

use crate::helpers::*;

#[tokio::test]
async fn rotation_publishes_both_keys_and_old_tokens_keep_working() {
    let app = spawn().await;
    let cal = other_service(&app).await;
    let s = signup(&app).await;
    let jwks: serde_json::Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    // ES256 (P-256): what the official Supabase clients accept (ADR 0018).
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(
        keys[0].get("d").is_none(),
        "no private part is ever published"
    );
    let old_kid = keys[0]["kid"].as_str().unwrap().to_string();

    auth::AuthService::command(app.settings.clone(), vec!["keys".into(), "rotate".into()])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await; // AUTH_KEY_RELOAD_SECS=1

    let jwks: serde_json::Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&old_kid.as_str()));
    // New tokens carry the new kid, and another service verifies both old and new.
    let fresh = login(&app, &s.email).await;
    let header: serde_json::Value = {
        use base64::Engine as _;
        let h = fresh["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap()
    };
    assert_ne!(header["kid"], old_kid.as_str());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        other_service_status(&cal, fresh["access_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(other_service_status(&cal, &s.access).await, 200);
    // The private keys are stored sealed, never in the clear.
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM auth.signing_keys WHERE length(private_key) > 48 AND enc_key_id <> ''").await,
        2
    );
}
