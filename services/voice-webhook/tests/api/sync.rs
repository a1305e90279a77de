//! Vapi tool sync against a fake Vapi API: tools are created once, updated when their definition
//! changes, and never duplicated by a restart (or a lost local record).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use servicekit::cli::Service as _;
use testkit::wiremock::matchers::{header, path_regex};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use voice_webhook::VoiceWebhook;

use crate::helpers::{admin_exec, count, spawn_with};

/// A tiny stateful Vapi: `/tool`, `/assistant` and `/phone-number` collections; GET lists, POST
/// creates (201, ids `tool-1`, `assistant-1`, …), PATCH updates (404 for an unknown id).
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
        let items = store.entry(kind.clone()).or_default();
        match (req.method.as_str(), id) {
            ("GET", None) => ResponseTemplate::new(200).set_body_json(Value::Array(items.clone())),
            ("POST", None) => {
                let mut t: Value = serde_json::from_slice(&req.body).unwrap();
                t["id"] = json!(format!("{kind}-{}", items.len() + 1));
                items.push(t.clone());
                ResponseTemplate::new(201).set_body_json(t)
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

fn calls(received: &[Request], m: &str) -> usize {
    received.iter().filter(|r| r.method.as_str() == m).count()
}

#[tokio::test]
async fn tools_are_created_once_updated_on_change_and_not_duplicated_on_restart() {
    let vapi = MockServer::start().await;
    let fake = FakeVapi::default();
    Mock::given(path_regex("^/(tool|assistant|phone-number)(/[^/]+)?$"))
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
    Mock::given(path_regex("^/(tool|assistant|phone-number)(/[^/]+)?$"))
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
