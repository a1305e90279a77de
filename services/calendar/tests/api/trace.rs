//! W3C trace context: an incoming `traceparent` is continued (its trace id is the one reported in
//! problem bodies) and carried on outgoing calls (the JWKS fetch, as the fake server recorded it).

use tenancy::{OrgId, Role};

use crate::helpers::{problem, spawn};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn an_incoming_traceparent_is_continued_and_propagated() {
    let app = spawn().await;
    let parent = format!("00-{TRACE_ID}-b7ad6b7169203331-01");

    // A token from an org, so the verifier must fetch the JWKS during this request.
    let token = app.auth.token(OrgId::new_random(), Role::Viewer);
    let r = app
        .client
        .get(app.url(&format!("/api/calendar/services/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&token)
        .header("traceparent", &parent)
        .send()
        .await
        .unwrap();
    let body = problem(r, 404).await;
    assert_eq!(body["trace_id"], TRACE_ID, "{body}");

    let fetches = app.auth.server.received_requests().await.unwrap();
    let jwks = fetches
        .iter()
        .find(|r| r.url.path() == "/.well-known/jwks.json")
        .expect("the JWKS was fetched");
    let outgoing = jwks
        .headers
        .get("traceparent")
        .expect("the JWKS fetch carries a traceparent")
        .to_str()
        .unwrap();
    assert!(
        outgoing.starts_with(&format!("00-{TRACE_ID}-")),
        "{outgoing}"
    );
    assert!(
        !outgoing.contains("b7ad6b7169203331"),
        "a child span id, not the caller's: {outgoing}"
    );
}

#[tokio::test]
async fn without_a_traceparent_a_new_trace_is_started() {
    let app = spawn().await;
    let body = problem(app.client.get(app.url("/nope")).send().await.unwrap(), 404).await;
    let id = body["trace_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, TRACE_ID);
}
