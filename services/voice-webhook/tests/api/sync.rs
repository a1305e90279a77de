//! Vapi tool sync against a fake Vapi API: tools are created once, updated when their definition
//! changes, and never duplicated by a restart (or a lost local record). Every server config
//! carries the credential Vapi authenticates our webhooks with (the fake refuses one without).

use std::sync::{Arc, Mutex};

use runtime::Service as _;
use serde_json::{Value, json};
use testkit::wiremock::matchers::{header, path_regex};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use voice_webhook::VoiceWebhook;

use crate::helpers::{admin_exec, count, spawn_with};

/// A tiny stateful Vapi: `/tool`, `/assistant`, `/phone-number` and `/credential` collections;
/// GET lists, POST creates (201, ids `tool-1`, `assistant-1`, …), PATCH updates (404 for an
/// unknown id). A `server` without the `credentialId` of a known credential is refused (400):
/// Vapi would never send our secret, so every webhook would be refused by us.
#[derive(Clone, Default)]
struct FakeVapi(Arc<Mutex<std::collections::HashMap<String, Vec<Value>>>>);

impl FakeVapi {
    fn all(&self, kind: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .get(kind)
            .cloned()
            .unwrap_or_default()
    }
    fn tools(&self) -> Vec<Value> {
        self.all("tool")
    }
    fn seed(&self, kind: &str, v: Value) {
        self.0
            .lock()
            .unwrap()
            .entry(kind.into())
            .or_default()
            .push(v);
    }
}

impl Respond for FakeVapi {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut store = self.0.lock().unwrap();
        let mut parts = req.url.path().trim_start_matches('/').splitn(2, '/');
        let kind = parts.next().unwrap().to_string();
        let id = parts.next().map(str::to_string);
        if matches!(req.method.as_str(), "POST" | "PATCH") && kind != "credential" {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            if let Some(server) = body.get("server") {
                let known = store
                    .get("credential")
                    .is_some_and(|cs| cs.iter().any(|c| c["id"] == server["credentialId"]));
                if !known {
                    return ResponseTemplate::new(400).set_body_json(
                        json!({"message": ["server.credentialId must name a credential"]}),
                    );
                }
            }
        }
        let items = store.entry(kind.clone()).or_default();
        match (req.method.as_str(), id) {
            ("GET", None) => ResponseTemplate::new(200).set_body_json(Value::Array(items.clone())),
            ("POST", None) => {
                let mut t: Value = serde_json::from_slice(&req.body).unwrap();
                t["id"] = json!(format!("{kind}-{}", items.len() + 1));
                items.push(t.clone());
                // Creating a credential takes a moment (as in Vapi): concurrent syncs overlap.
                let delay = if kind == "credential" { 300 } else { 0 };
                ResponseTemplate::new(201)
                    .set_body_json(t)
                    .set_delay(std::time::Duration::from_millis(delay))
            }
            ("PATCH", Some(id)) => {
                let patch: Value = serde_json::from_slice(&req.body).unwrap();
                if kind == "tool" {
                    assert!(patch.get("type").is_none(), "a tool's type is not patched");
                }
                let Some(t) = items.iter_mut().find(|t| t["id"] == id.as_str()) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "not found"}));
                };
                for (k, v) in patch.as_object().unwrap() {
                    t[k] = v.clone();
                }
                ResponseTemplate::new(200).set_body_json(t.clone())
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

/// Requests of method `m` to the tool collection.
fn calls(received: &[Request], m: &str) -> usize {
    calls_to(received, m, "tool")
}

/// Requests of method `m` to collection `kind`.
fn calls_to(received: &[Request], m: &str, kind: &str) -> usize {
    received
        .iter()
        .filter(|r| {
            r.method.as_str() == m
                && r.url.path().trim_start_matches('/').split('/').next() == Some(kind)
        })
        .count()
}

#[tokio::test]
async fn tools_are_created_once_updated_on_change_and_not_duplicated_on_restart() {
    let vapi = MockServer::start().await;
    let fake = FakeVapi::default();
    Mock::given(path_regex(
        "^/(tool|assistant|phone-number|credential)(/[^/]+)?$",
    ))
    .and(header("authorization", "Bearer vapi-test-key"))
    .respond_with(fake.clone())
    .mount(&vapi)
    .await;
    let url = vapi.uri();
    let env = [
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        (
            "VOICE_PUBLIC_WEBHOOK_URL",
            "https://voice.example.test/api/webhooks/vapi",
        ),
    ];
    let app = spawn_with(&env).await;
    // The start-up sync runs in the background; the command is the same code, run explicitly.
    let sync = |settings| VoiceWebhook::command(settings, vec!["sync-tools".into()]);
    crate::helpers::eventually(|| async { fake.tools().len() }, |n| *n == 6).await;
    sync(app.settings.clone()).await.unwrap();
    let names: Vec<String> = fake
        .tools()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for t in [
        "check_availability",
        "book_appointment",
        "reschedule_appointment",
        "cancel_appointment",
        "find_my_appointments",
        "take_message",
    ] {
        assert_eq!(
            names.iter().filter(|n| *n == t).count(),
            1,
            "{t} exactly once"
        );
    }
    let book = fake
        .tools()
        .iter()
        .find(|t| t["function"]["name"] == "book_appointment")
        .cloned()
        .unwrap();
    assert_eq!(
        book["server"]["url"],
        "https://voice.example.test/api/webhooks/vapi"
    );
    assert!(
        book["function"]["parameters"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("start"))
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.vapi_tools").await,
        6
    );
    let received = vapi.received_requests().await.unwrap();
    assert_eq!(calls(&received, "POST"), 6);
    assert_eq!(
        calls(&received, "PATCH"),
        0,
        "unchanged tools are left alone"
    );

    // A restart with another public URL updates every tool in place.
    let moved = [
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        (
            "VOICE_PUBLIC_WEBHOOK_URL",
            "https://voice2.example.test/api/webhooks/vapi",
        ),
        ("VAPI_WEBHOOK_SECRET", crate::helpers::SECRET),
    ];
    let mut settings = app.settings.clone();
    settings.own =
        voice_webhook::config::VoiceSettings::from_lookup(&settings.standard.common, &|k| {
            moved
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        })
        .unwrap();
    sync(settings.clone()).await.unwrap();
    let received = vapi.received_requests().await.unwrap();
    assert_eq!(calls(&received, "POST"), 6, "nothing created twice");
    assert_eq!(calls(&received, "PATCH"), 6);
    assert!(
        fake.tools()
            .iter()
            .all(|t| t["server"]["url"] == "https://voice2.example.test/api/webhooks/vapi")
    );

    // Even with the local record lost, tools are found by name: no duplicates.
    admin_exec(&app, "DELETE FROM voice.vapi_tools").await;
    sync(settings).await.unwrap();
    assert_eq!(fake.tools().len(), 6);
    assert_eq!(calls(&vapi.received_requests().await.unwrap(), "POST"), 6);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.vapi_tools").await,
        6
    );
}

#[tokio::test]
async fn agents_sync_their_assistant_with_tool_ids_and_numbers_are_pointed_at_us() {
    let vapi = MockServer::start().await;
    let fake = FakeVapi::default();
    fake.seed(
        "phone-number",
        json!({"id": "pn-vapi-1", "number": "+15550123400", "assistantId": "someone-elses"}),
    );
    Mock::given(path_regex(
        "^/(tool|assistant|phone-number|credential)(/[^/]+)?$",
    ))
    .and(header("authorization", "Bearer vapi-test-key"))
    .respond_with(fake.clone())
    .mount(&vapi)
    .await;
    let url = vapi.uri();
    let app = spawn_with(&[
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        (
            "VOICE_PUBLIC_WEBHOOK_URL",
            "https://voice.example.test/api/webhooks/vapi",
        ),
    ])
    .await;
    crate::helpers::eventually(|| async { fake.tools().len() }, |n| *n == 6).await;
    let c = crate::helpers::clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550199999",
    )
    .await;

    let r = crate::helpers::post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Front desk", "system_prompt": "Be kind.",
        "enabled_tools": ["book_appointment", "take_message"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let agent: Value = r.json().await.unwrap();
    assert_eq!(agent["vapi_sync"], "synced");
    assert_eq!(agent["vapi_assistant_id"], "assistant-1");
    let assistants = fake.all("assistant");
    assert_eq!(assistants.len(), 1);
    let tool_id = |name: &str| {
        fake.tools()
            .iter()
            .find(|t| t["function"]["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let mut ids: Vec<Value> = assistants[0]["model"]["toolIds"]
        .as_array()
        .unwrap()
        .clone();
    ids.sort_by_key(|v| v.to_string());
    let mut want = vec![tool_id("book_appointment"), tool_id("take_message")];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(ids, want);
    assert_eq!(
        assistants[0]["server"]["url"],
        "https://voice.example.test/api/webhooks/vapi"
    );
    // Our custom knowledge base, inline on the model (vapi-extra §3.1), with the same credential.
    let kb = &assistants[0]["model"]["knowledgeBase"];
    assert_eq!(kb["provider"], "custom-knowledge-base");
    assert_eq!(
        kb["server"]["url"],
        "https://voice.example.test/api/webhooks/vapi"
    );
    assert!(kb["server"]["credentialId"].is_string());
    assert_eq!(
        kb["server"]["credentialId"],
        assistants[0]["server"]["credentialId"]
    );
    assert!(assistants[0]["model"].get("knowledgeBaseId").is_none());
    assert!(
        assistants[0]["serverMessages"]
            .as_array()
            .unwrap()
            .contains(&json!("end-of-call-report"))
    );

    // An update patches the same assistant.
    let id = agent["id"].as_str().unwrap();
    let r = app.client.put(app.url(&format!("/api/voice/agents/{id}"))).bearer_auth(&c.admin)
        .json(&json!({"name": "Front desk", "first_message": "Hello!", "enabled_tools": ["take_message"]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let assistants = fake.all("assistant");
    assert_eq!(assistants.len(), 1, "no second assistant");
    assert_eq!(assistants[0]["firstMessage"], "Hello!");
    assert_eq!(
        assistants[0]["model"]["toolIds"],
        json!([tool_id("take_message")])
    );

    // A number imported into Vapi is pointed at our server with no fixed assistant.
    let r = crate::helpers::post(
        &app,
        "/api/voice/numbers",
        &c.admin,
        &json!({"number": "+15550123400", "vapi_phone_number_id": "pn-vapi-1", "agent_id": id}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let pn = fake.all("phone-number");
    assert_eq!(pn[0]["assistantId"], Value::Null);
    assert_eq!(
        pn[0]["server"]["url"],
        "https://voice.example.test/api/webhooks/vapi"
    );
    // And its calls are answered with the synced assistant.
    let a = crate::helpers::vapi_ok(
        &app,
        &crate::helpers::message(
            "assistant-request",
            &crate::helpers::call("call-synced", "pn-vapi-1"),
            "+15550123400",
            json!({}),
        ),
    )
    .await;
    assert_eq!(a["assistantId"], "assistant-1");
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["clinicName"],
        "Cedar Point Physio"
    );

    // Vapi failing does not lose the agent: it is saved and reported as not synced.
    vapi.reset().await;
    let r = crate::helpers::post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Night"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let night: Value = r.json().await.unwrap();
    assert_eq!(night["vapi_sync"], "failed");
    assert!(night["vapi_assistant_id"].is_null());
}

/// Settings for `app` with `env` in place of its own (a restart with other settings).
fn restarted(
    app: &crate::helpers::App,
    env: &[(&str, &str)],
) -> runtime::StandardSettings<voice_webhook::config::VoiceSettings> {
    let mut settings = app.settings.clone();
    settings.own =
        voice_webhook::config::VoiceSettings::from_lookup(&settings.standard.common, &|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        })
        .unwrap();
    settings
}

#[tokio::test]
async fn every_server_config_references_our_webhook_credential_which_rotates_in_place() {
    let vapi = MockServer::start().await;
    let fake = FakeVapi::default();
    Mock::given(path_regex(
        "^/(tool|assistant|phone-number|credential)(/[^/]+)?$",
    ))
    .and(header("authorization", "Bearer vapi-test-key"))
    .respond_with(fake.clone())
    .mount(&vapi)
    .await;
    fake.seed(
        "phone-number",
        json!({"id": "pn-vapi-7", "number": "+15550123477"}),
    );
    let url = vapi.uri();
    let public = "https://voice.example.test/api/webhooks/vapi";
    let base = [
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        ("VOICE_PUBLIC_WEBHOOK_URL", public),
        ("VAPI_WEBHOOK_SECRET", crate::helpers::SECRET),
    ];
    let app = spawn_with(&base[..3]).await;
    crate::helpers::eventually(|| async { fake.tools().len() }, |n| *n == 6).await;

    // One credential: a bearer plan carrying our secret in our header, as our check reads it.
    let creds = fake.all("credential");
    assert_eq!(creds.len(), 1, "{creds:?}");
    let cred = &creds[0];
    let cred_id = cred["id"].clone();
    assert_eq!(cred["provider"], "webhook");
    assert_eq!(
        cred["authenticationPlan"],
        json!({"type": "bearer", "token": crate::helpers::SECRET, "headerName": "x-vapi-secret",
               "bearerPrefixEnabled": false})
    );
    // Every tool's server names it.
    for t in fake.tools() {
        assert_eq!(t["server"]["credentialId"], cred_id, "{t}");
        assert_eq!(t["server"]["url"], public);
    }
    // What Vapi would then send (the plan's header and token) is accepted by our webhook.
    let plan = &cred["authenticationPlan"];
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .header(
            plan["headerName"].as_str().unwrap(),
            plan["token"].as_str().unwrap(),
        )
        .json(&json!({"message": {"type": "speech-update", "status": "started", "role": "user"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a delivery authenticated by the credential is accepted"
    );

    // The assistant of an agent and a number pointed at us name it too.
    let c = crate::helpers::clinic(
        &app,
        "Cedar Point Physio",
        "America/Chicago",
        "+15550199977",
    )
    .await;
    let r = crate::helpers::post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Front desk", "enabled_tools": ["take_message"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let agent: Value = r.json().await.unwrap();
    assert_eq!(agent["vapi_sync"], "synced", "{agent}");
    assert_eq!(fake.all("assistant")[0]["server"]["credentialId"], cred_id);
    let r = crate::helpers::post(&app, "/api/voice/numbers", &c.admin,
        &json!({"number": "+15550123477", "vapi_phone_number_id": "pn-vapi-7", "agent_id": agent["id"]})).await;
    assert_eq!(r.status(), 201);
    let pn = fake.all("phone-number");
    assert_eq!(pn[0]["server"]["credentialId"], cred_id);
    assert_eq!(pn[0]["server"]["url"], public);

    // A restart with the same secret: the credential is reused, Vapi is not even asked.
    let sync = |settings| VoiceWebhook::command(settings, vec!["sync-tools".into()]);
    let before = vapi.received_requests().await.unwrap();
    sync(app.settings.clone()).await.unwrap();
    let after = vapi.received_requests().await.unwrap();
    assert_eq!(
        calls_to(&after, "POST", "credential"),
        calls_to(&before, "POST", "credential")
    );
    assert_eq!(
        calls_to(&after, "PATCH", "credential"),
        0,
        "unchanged: no update"
    );
    assert_eq!(fake.all("credential").len(), 1);

    // The secret rotates: the same credential is PATCHed in place with the new token; the tools
    // keep pointing at it (nothing else changes).
    let rotated = [
        base[0],
        base[1],
        base[2],
        ("VAPI_WEBHOOK_SECRET", "rotated-secret-0123456789"),
        ("VAPI_WEBHOOK_SECRET_PREVIOUS", crate::helpers::SECRET),
    ];
    sync(restarted(&app, &rotated)).await.unwrap();
    let after = vapi.received_requests().await.unwrap();
    assert_eq!(calls_to(&after, "PATCH", "credential"), 1);
    assert_eq!(
        calls_to(&after, "POST", "credential"),
        1,
        "never a second credential"
    );
    let creds = fake.all("credential");
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["id"], cred_id);
    assert_eq!(
        creds[0]["authenticationPlan"]["token"],
        "rotated-secret-0123456789"
    );
    assert_eq!(calls(&after, "PATCH"), 0, "tools unchanged by a rotation");

    // The local record is lost: the credential is found by name and updated, not duplicated.
    crate::helpers::admin_exec(&app, "DELETE FROM voice.vapi_credentials").await;
    let hmac = [
        base[0],
        base[1],
        base[2],
        ("VAPI_WEBHOOK_SECRET", "hmac-key-0123456789"),
        ("VAPI_WEBHOOK_AUTH", "hmac"),
    ];
    sync(restarted(&app, &hmac)).await.unwrap();
    let after = vapi.received_requests().await.unwrap();
    assert_eq!(
        calls_to(&after, "POST", "credential"),
        1,
        "found by name, not created again"
    );
    assert_eq!(calls_to(&after, "PATCH", "credential"), 2);
    // In HMAC mode the plan signs as our verifier checks.
    assert_eq!(
        fake.all("credential")[0]["authenticationPlan"],
        json!({"type": "hmac", "secretKey": "hmac-key-0123456789", "algorithm": "sha256",
               "signatureHeader": "x-signature", "timestampHeader": "x-timestamp",
               "payloadFormat": "{timestamp}.{body}", "includeTimestamp": true,
               "signatureEncoding": "hex", "secretIsBase64": false})
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM voice.vapi_credentials").await,
        1
    );
}

#[tokio::test]
async fn replicas_syncing_at_once_create_one_credential() {
    let vapi = MockServer::start().await;
    let fake = FakeVapi::default();
    Mock::given(path_regex(
        "^/(tool|assistant|phone-number|credential)(/[^/]+)?$",
    ))
    .and(header("authorization", "Bearer vapi-test-key"))
    .respond_with(fake.clone())
    .mount(&vapi)
    .await;
    let url = vapi.uri();
    // No key for the app itself (no start-up sync); four "replicas" then sync at once.
    let app = spawn_with(&[]).await;
    let env = [
        ("VAPI_API_URL", url.as_str()),
        ("VAPI_API_KEY", "vapi-test-key"),
        (
            "VOICE_PUBLIC_WEBHOOK_URL",
            "https://voice.example.test/api/webhooks/vapi",
        ),
        ("VAPI_WEBHOOK_SECRET", crate::helpers::SECRET),
    ];
    let settings = restarted(&app, &env);
    let syncs = (0..4).map(|_| VoiceWebhook::command(settings.clone(), vec!["sync-tools".into()]));
    for r in futures_util::future::join_all(syncs).await {
        r.unwrap();
    }
    let creds = fake.all("credential");
    assert_eq!(
        creds.len(),
        1,
        "one credential for every replica: {creds:?}"
    );
    let id = &creds[0]["id"];
    assert!(
        fake.tools()
            .iter()
            .all(|t| t["server"]["credentialId"] == *id)
    );
}
