//! The knowledge base (issue 15): documents through the dashboard API (CRUD, pages, limits,
//! validation, the change log), tenant isolation, Vapi's `knowledge-base-request` answered in
//! the SDK's shape within its budget, the documents generated from calendar (a fake speaking
//! its internal API) following a price change, hostile queries, and retrieval quality on the
//! repository's question set (`tests/data/kb/`): recall@3 ≥ 0.9 with full-text search alone,
//! recall@1/@3 printed for full text and for hybrid ranking against a fake OpenAI-compatible
//! embeddings endpoint (deterministic hashed bag-of-words vectors).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
use serde_json::{Value, json};
use tenancy::Role;
use testkit::wiremock::matchers::{header, method, path};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{
    App, Clinic, call, clinic, count, eventually, get, get_json, message, post, problem,
    spawn_shared, vapi_ok,
};

struct Kb {
    app: App,
    calendar: MockServer,
    token: String,
    c: Clinic,
}

async fn setup(extra: &[(&str, &str)]) -> Kb {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let token = auth.service_token("voice-webhook");
    let calendar = MockServer::start().await;
    let uri = calendar.uri();
    let mut env = vec![
        ("CALENDAR_INTERNAL_URL", uri.as_str()),
        ("CALENDAR_SERVICE_TOKEN", token.as_str()),
    ];
    env.extend_from_slice(extra);
    let app = spawn_shared(auth, &env).await;
    let c = clinic(
        &app,
        "Springfield Smiles",
        "America/Chicago",
        "+15550123400",
    )
    .await;
    calendar_says(&calendar, &token, &c, 9000).await;
    Kb {
        app,
        calendar,
        token,
        c,
    }
}

/// Calendar's services (a cleaning at `cleaning_cents`) and hours for `c`, replacing earlier
/// answers.
async fn calendar_says(calendar: &MockServer, token: &str, c: &Clinic, cleaning_cents: i64) {
    calendar.reset().await;
    let service = |name: &str, minutes: i32, cents: i64, description: &str| {
        json!({"id": uuid::Uuid::new_v4(), "name": name, "description": description,
               "duration_minutes": minutes, "price_cents": cents, "currency": "USD", "active": true})
    };
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{}/services", c.org)))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "timezone": "America/Chicago",
        "items": [
            service("Cleaning", 30, cleaning_cents, "Scale and polish by a hygienist."),
            service("New patient exam", 60, 15000, "Exam, X-rays and a treatment plan."),
            service("Filling", 45, 18000, "A tooth-colored composite filling."),
            service("Fluoride treatment", 10, 3500, "Fluoride varnish."),
        ]})))
        .mount(calendar)
        .await;
    let day = json!([{"start": "08:00", "end": "17:00"}]);
    Mock::given(method("GET"))
        .and(path(format!("/internal/v1/orgs/{}/clinic", c.org)))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "timezone": "America/Chicago",
            "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day,
                             "friday": day, "saturday": [{"start": "09:00", "end": "13:00"}], "sunday": []},
            "date_overrides": [{"date": "2026-12-25", "hours": []}]})))
        .mount(calendar)
        .await;
}

/// A `knowledge-base-request` of call `call_id` whose user turns are `turns`.
fn kb_request(c: &Clinic, call_id: &str, turns: &[&str]) -> Value {
    let mut oai = vec![
        json!({"role": "system", "content": "You are the receptionist of Springfield Smiles."}),
    ];
    let mut items = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        if i > 0 {
            oai.push(json!({"role": "assistant", "content": "Let me check."}));
        }
        oai.push(json!({"role": "user", "content": t}));
        items.push(json!({"role": "user", "message": t, "time": 1_795_000_000_000_i64, "secondsFromStart": 4.2}));
    }
    message(
        "knowledge-base-request",
        &call(call_id, &c.vapi_number_id),
        &c.number,
        json!({"messagesOpenAIFormatted": oai, "messages": items}),
    )
}

async fn add(app: &App, token: &str, doc: &Value) -> Value {
    let r = post(app, "/api/voice/knowledge", token, doc).await;
    assert_eq!(r.status(), 201, "create {doc}");
    r.json().await.unwrap()
}

async fn search(app: &App, token: &str, q: &str, limit: usize) -> Value {
    let url = reqwest::Url::parse_with_params(
        &app.url("/api/voice/knowledge/search"),
        [("q", q.to_string()), ("limit", limit.to_string())],
    )
    .unwrap();
    let r = app.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "search {q:?}");
    r.json().await.unwrap()
}

fn delta() -> Value {
    json!({"kind": "faq", "title": "Do you take Delta Dental insurance?", "tags": ["Insurance"],
           "body": "Yes. We are in network with Delta Dental PPO and Delta Dental Premier."})
}

#[tokio::test]
async fn documents_are_created_paged_replaced_deleted_and_every_change_is_logged() {
    let Kb { app, c, .. } = setup(&[
        ("VOICE_KB_DOC_MAX_BYTES", "2048"),
        ("VOICE_KB_DOCS_PER_ORG", "5"),
    ])
    .await;
    let staff = app.auth.token(c.org, Role::Staff);
    let viewer = app.auth.token(c.org, Role::Viewer);

    let faq = add(&app, &c.admin, &delta()).await;
    assert_eq!(faq["kind"], "faq");
    assert_eq!(faq["tags"], json!(["insurance"]));
    assert_eq!(faq["active"], true);
    assert_eq!(faq["chunks"], 1);
    let md = add(&app, &c.admin, &json!({"kind": "markdown", "title": "Visiting us",
        "body": "# Parking\n\nFree lot behind the building.\n\n# Bus\n\nLines 4 and 12.\n\n## Late buses\n\nLine 12 runs until midnight."})).await;
    assert_eq!(md["chunks"], 3, "one chunk per section");
    let text = add(
        &app,
        &c.admin,
        &json!({"title": "Wifi", "body": "Network Smile-Guest.", "active": false}),
    )
    .await;
    assert_eq!(text["kind"], "text");

    // Pages of two, oldest first; filters.
    let p1 = get_json(&app, "/api/voice/knowledge?limit=2", &staff).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["items"][0]["id"], faq["id"]);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = get_json(
        &app,
        &format!("/api/voice/knowledge?limit=2&cursor={cursor}"),
        &staff,
    )
    .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["items"][0]["id"], text["id"]);
    assert!(p2["next_cursor"].is_null());
    let inactive = get_json(&app, "/api/voice/knowledge?active=false", &staff).await;
    assert_eq!(inactive["items"].as_array().unwrap().len(), 1);
    let tagged = get_json(&app, "/api/voice/knowledge?tag=insurance", &staff).await;
    assert_eq!(tagged["items"][0]["id"], faq["id"]);
    problem(
        get(&app, "/api/voice/knowledge?kind=pdf", &staff).await,
        422,
    )
    .await;
    problem(get(&app, "/api/voice/knowledge?limit=0", &staff).await, 422).await;

    // Staff read and search; only admins write; viewers see nothing.
    let id = faq["id"].as_str().unwrap();
    let one = get_json(&app, &format!("/api/voice/knowledge/{id}"), &staff).await;
    assert_eq!(one["body"], delta()["body"]);
    assert_eq!(
        search(&app, &staff, "delta dental", 5).await["items"][0]["document_id"],
        faq["id"]
    );
    let p = problem(
        post(&app, "/api/voice/knowledge", &staff, &delta()).await,
        403,
    )
    .await;
    assert_eq!(p["code"], "insufficient_role");
    problem(get(&app, "/api/voice/knowledge", &viewer).await, 403).await;

    // An inactive document is never found.
    assert!(
        search(&app, &staff, "Smile-Guest", 5).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Replace: re-chunked and found by its new words only.
    let r = app
        .client
        .put(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&c.admin)
        .json(&json!({"kind": "faq", "title": "Do you take Aetna?", "body": "Yes, Aetna PPO."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let replaced: Value = r.json().await.unwrap();
    assert_eq!(replaced["title"], "Do you take Aetna?");
    assert_eq!(replaced["tags"], json!([]));
    assert!(
        search(&app, &staff, "delta dental", 5).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        search(&app, &staff, "aetna", 5).await["items"][0]["document_id"],
        faq["id"]
    );

    // Bad input names the field; nothing is stored.
    let bad = |body: Value| {
        let (app, admin) = (&app, c.admin.clone());
        async move { problem(post(app, "/api/voice/knowledge", &admin, &body).await, 422).await }
    };
    assert_eq!(
        bad(json!({"title": "Big", "body": "x".repeat(2049)})).await["field"],
        "body"
    );
    assert_eq!(
        bad(json!({"title": "Nul", "body": "a\u{0}b"})).await["field"],
        "body"
    );
    assert_eq!(
        bad(json!({"title": "", "body": "b"})).await["field"],
        "title"
    );
    assert_eq!(
        bad(json!({"kind": "system", "title": "t", "body": "b"})).await["field"],
        "kind"
    );
    assert_eq!(bad(json!({"title": "t", "body": "b", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()})).await["field"], "tags");
    bad(json!({"title": "t", "body": "b", "org_id": c.org})).await;
    let r = app
        .client
        .post(app.url("/api/voice/knowledge"))
        .bearer_auth(&c.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400).await;

    // Uploads: Markdown and plain text; anything else 415, too big 413, not UTF-8 422.
    let upload = |ct: &'static str, body: Vec<u8>| {
        let (app, admin) = (&app, c.admin.clone());
        async move {
            app.client
                .post(app.url("/api/voice/knowledge/upload?title=Aftercare&tags=care,%20surgery"))
                .bearer_auth(admin)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = upload(
        "text/markdown; charset=utf-8",
        b"# After an extraction\n\nNo straws for a day.".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["kind"], "markdown");
    assert_eq!(up["tags"], json!(["care", "surgery"]));
    problem(upload("application/pdf", b"%PDF-1.7".to_vec()).await, 415).await;
    problem(upload("text/plain", vec![b'a'; 4096]).await, 413).await;
    assert_eq!(
        problem(upload("text/plain", vec![0xff, 0xfe, 0x41]).await, 422).await["field"],
        "body"
    );

    // The org's limit (5): four so far, one more fits, the sixth is refused.
    add(&app, &c.admin, &json!({"title": "Fifth", "body": "Five."})).await;
    let p = problem(
        post(
            &app,
            "/api/voice/knowledge",
            &c.admin,
            &json!({"title": "Sixth", "body": "Six."}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "knowledge_limit_reached");

    // Delete, then it is gone; a second delete is 404.
    let r = app
        .client
        .delete(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    problem(
        get(&app, &format!("/api/voice/knowledge/{id}"), &staff).await,
        404,
    )
    .await;
    let r = app
        .client
        .delete(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM voice.knowledge_chunks WHERE document_id = '{id}'")
        )
        .await,
        0,
        "its chunks went with it"
    );

    // The change log: who did what, append-only.
    let org = c.org;
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM voice.knowledge_changes WHERE org_id = '{org}' AND action = 'create'")).await, 5);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM voice.knowledge_changes WHERE org_id = '{org}' AND action = 'update' AND document_id = '{id}'")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM voice.knowledge_changes WHERE org_id = '{org}' AND action = 'delete' AND document_id = '{id}' AND actor_role = 'admin'")).await, 1);
    let mut conn = app.db.service_conn().await.unwrap();
    let rewrite = diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "SELECT set_config('app.org_id', '{org}', false); DELETE FROM voice.knowledge_changes"
        ),
    )
    .await;
    assert!(rewrite.is_err(), "the change log cannot be rewritten");

    // Settings: the language is the org's; an unknown one is refused.
    assert_eq!(
        get_json(&app, "/api/voice/knowledge/settings", &staff).await["language"],
        "english"
    );
    let r = app
        .client
        .put(app.url("/api/voice/knowledge/settings"))
        .bearer_auth(&c.admin)
        .json(&json!({"language": "klingon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["field"], "language");
    let r = app
        .client
        .put(app.url("/api/voice/knowledge/settings"))
        .bearer_auth(&c.admin)
        .json(&json!({"language": "simple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Re-indexed in `simple` (no stemming): the exact word still matches.
    assert_eq!(
        search(&app, &staff, "straws", 5).await["items"][0]["document_id"],
        up["id"]
    );
}

#[tokio::test]
async fn a_second_org_cannot_see_search_or_alter_the_knowledge_base() {
    let Kb { app, c, .. } = setup(&[]).await;
    let other = clinic(&app, "Other Dental", "America/Chicago", "+15550123999").await;
    let doc = add(&app, &c.admin, &delta()).await;
    let id = doc["id"].as_str().unwrap();
    let theirs = app.auth.token(other.org, Role::Admin);

    problem(
        get(&app, &format!("/api/voice/knowledge/{id}"), &theirs).await,
        404,
    )
    .await;
    let r = app
        .client
        .put(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&theirs)
        .json(&json!({"title": "Hijacked", "body": "No."}))
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    let r = app
        .client
        .delete(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&theirs)
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    assert!(
        get_json(&app, "/api/voice/knowledge", &theirs).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        search(&app, &theirs, "delta dental", 5).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Their callers get nothing of ours either.
    let a = vapi_ok(
        &app,
        &kb_request(&other, "call-other-1", &["Do you take Delta Dental?"]),
    )
    .await;
    assert_eq!(a, json!({"documents": []}));
    // Ours is intact and still found on our line.
    assert_eq!(
        get_json(&app, &format!("/api/voice/knowledge/{id}"), &c.admin).await["title"],
        doc["title"]
    );
    let a = vapi_ok(
        &app,
        &kb_request(&c, "call-ours-1", &["Do you take Delta Dental?"]),
    )
    .await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Delta Dental PPO")
    );
    // And the database agrees: a tenant transaction of the other org sees none of our rows.
    let mut conn = app.db.service_conn().await.unwrap();
    let seen = conn
        .transaction::<i64, diesel::result::Error, _>(async |tx| {
            tenancy::set_tenant(tx, other.org).await?;
            #[derive(diesel::QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let n: N = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT (SELECT count(*) FROM voice.knowledge_documents) + (SELECT count(*) FROM voice.knowledge_chunks) + (SELECT count(*) FROM voice.knowledge_words) AS n"),
                tx,
            )
            .await?;
            Ok(n.n)
        })
        .await
        .unwrap();
    assert_eq!(seen, 0);
}

#[tokio::test]
async fn knowledge_base_requests_are_answered_in_vapis_shape_within_the_limits() {
    let Kb { app, c, .. } = setup(&[
        ("VOICE_KB_MAX_DOCUMENTS", "2"),
        ("VOICE_KB_MAX_CHARS", "300"),
        (
            "VOICE_PUBLIC_WEBHOOK_URL",
            "https://voice.example.test/api/webhooks/vapi",
        ),
    ])
    .await;
    add(&app, &c.admin, &delta()).await;
    add(&app, &c.admin, &json!({"kind": "faq", "title": "Which insurance plans do you accept?",
        "body": format!("Aetna, Cigna and Delta Dental. {}", "We file every claim for you. ".repeat(20))})).await;
    add(&app, &c.admin, &json!({"kind": "faq", "title": "Medicaid", "body": "We do not accept Medicaid; Delta Dental members are welcome."})).await;

    let a = vapi_ok(
        &app,
        &kb_request(
            &c,
            "call-kb-1",
            &["Hi", "Do you take Delta Dental insurance?"],
        ),
    )
    .await;
    // ServerMessageResponseKnowledgeBaseRequest: {"documents": [{"content": str, "similarity": number, "uuid"?: str}]}.
    let obj = a.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["documents"]);
    let docs = a["documents"].as_array().unwrap();
    assert!(!docs.is_empty() && docs.len() <= 2, "{a}");
    let mut chars = 0;
    for d in docs {
        let d = d.as_object().unwrap();
        for k in d.keys() {
            assert!(
                ["content", "similarity", "uuid"].contains(&k.as_str()),
                "unexpected member {k}"
            );
        }
        let sim = d["similarity"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&sim));
        assert!(d["uuid"].is_string());
        chars += d["content"].as_str().unwrap().chars().count();
    }
    assert!(chars <= 300, "{chars} characters");
    assert!(
        docs[0]["content"]
            .as_str()
            .unwrap()
            .contains("Delta Dental PPO"),
        "{a}"
    );
    assert!(docs[0]["similarity"].as_f64() >= docs[docs.len() - 1]["similarity"].as_f64());

    // A follow-up too short to stand alone keeps the subject of the turn before.
    let a = vapi_ok(
        &app,
        &kb_request(&c, "call-kb-1", &["Do you accept Medicaid?", "And Delta?"]),
    )
    .await;
    assert!(!a["documents"].as_array().unwrap().is_empty());

    // Nothing to search, an unknown line, nothing relevant: an empty list, never an error.
    let none = json!({"documents": []});
    let mut no_user = kb_request(&c, "call-kb-2", &[]);
    no_user["message"]["messagesOpenAIFormatted"] = json!([{"role": "system", "content": "x"}]);
    assert_eq!(vapi_ok(&app, &no_user).await, none);
    let mut stranger = kb_request(&c, "call-kb-3", &["Do you take Delta Dental?"]);
    stranger["message"]["call"]["phoneNumberId"] = json!("pn-unknown");
    stranger["message"]["phoneNumber"]["number"] = json!("+15550000001");
    assert_eq!(vapi_ok(&app, &stranger).await, none);
    assert_eq!(
        vapi_ok(&app, &kb_request(&c, "call-kb-4", &["xylophone zeppelin"])).await,
        none
    );
    // Unauthenticated: refused before anything is read.
    let r = app
        .client
        .post(app.url("/api/webhooks/vapi"))
        .json(&kb_request(&c, "call-kb-5", &["Delta?"]))
        .send()
        .await
        .unwrap();
    problem(r, 401).await;

    // The assistant a call gets carries our custom knowledge base inline on its model.
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-kb-6", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        a["assistant"]["model"]["knowledgeBase"],
        json!({"provider": "custom-knowledge-base",
               "server": {"url": "https://voice.example.test/api/webhooks/vapi", "timeoutSeconds": 2}})
    );
    assert!(a["assistant"]["model"].get("knowledgeBaseId").is_none());
}

#[tokio::test]
async fn over_the_budget_the_answer_is_an_empty_list_not_an_error() {
    let Kb { app, c, .. } = setup(&[("VOICE_KB_TIMEOUT_MS", "150")]).await;
    add(&app, &c.admin, &delta()).await;
    let ask = kb_request(&c, "call-slow-1", &["Do you take Delta Dental?"]);
    assert!(
        !vapi_ok(&app, &ask).await["documents"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The search cannot run while the chunks are locked: the answer comes at the budget.
    let mut admin = app.db.admin_conn().await.unwrap();
    admin
        .batch_execute("BEGIN; LOCK TABLE voice.knowledge_chunks IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let a = vapi_ok(&app, &ask).await;
    let took = started.elapsed();
    admin.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(a, json!({"documents": []}));
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    // Afterwards the same question is answered again.
    let a = eventually(
        || async { vapi_ok(&app, &ask).await },
        |a| !a["documents"].as_array().unwrap().is_empty(),
    )
    .await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Delta")
    );
}

#[tokio::test]
async fn generated_documents_follow_calendar_and_cannot_be_edited() {
    let Kb {
        app,
        c,
        calendar,
        token,
    } = setup(&[("VOICE_KB_SYSTEM_TTL_SECS", "1")]).await;
    let staff = app.auth.token(c.org, Role::Staff);
    let r = post(&app, "/api/voice/knowledge/refresh", &c.admin, &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["changed"], 2);
    let r = post(&app, "/api/voice/knowledge/refresh", &c.admin, &json!({})).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["changed"],
        0,
        "unchanged facts rewrite nothing"
    );
    problem(
        post(&app, "/api/voice/knowledge/refresh", &staff, &json!({})).await,
        403,
    )
    .await;

    let system = get_json(&app, "/api/voice/knowledge?kind=system", &staff).await;
    let items = system["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let services = items
        .iter()
        .find(|d| d["system_key"] == "services")
        .unwrap();
    assert!(
        services["body"]
            .as_str()
            .unwrap()
            .contains("Cleaning takes 30 minutes and costs $90.00")
    );
    let hours = items.iter().find(|d| d["system_key"] == "hours").unwrap();
    let h = hours["body"].as_str().unwrap();
    assert!(
        h.contains("- Saturday: open 09:00 to 13:00")
            && h.contains("- Sunday: closed")
            && h.contains("- 2026-12-25: closed all day"),
        "{h}"
    );

    let ask = kb_request(&c, "call-price-1", &["How much is a cleaning?"]);
    let a = vapi_ok(&app, &ask).await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("$90.00"),
        "{a}"
    );
    let a = vapi_ok(
        &app,
        &kb_request(&c, "call-price-1", &["Are you open on Saturday?"]),
    )
    .await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Saturday: open 09:00 to 13:00"),
        "{a}"
    );

    // The clinic raises its price in calendar: the next reads past the TTL refresh the
    // document in the background, and the agent then quotes the new price.
    calendar_says(&calendar, &token, &c, 12000).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = eventually(
        || async { vapi_ok(&app, &ask).await },
        |a| {
            a["documents"][0]["content"]
                .as_str()
                .is_some_and(|s| s.contains("$120.00"))
        },
    )
    .await;
    let said = a["documents"][0]["content"].as_str().unwrap();
    assert!(said.contains("$120.00") && !said.contains("$90.00"), "{a}");

    // Read-only: calendar is their one source.
    let id = services["id"].as_str().unwrap();
    let r = app
        .client
        .put(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&c.admin)
        .json(&json!({"title": "Services", "body": "Cleaning is free."}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 409).await["code"], "system_document");
    let r = app
        .client
        .delete(app.url(&format!("/api/voice/knowledge/{id}")))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 409).await["code"], "system_document");
    // System documents do not count against the org's limit and are not in the change log as
    // user edits.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM voice.knowledge_changes WHERE org_id = '{}' AND action = 'refresh'", c.org)).await, 2);

    // Calendar away: the explicit refresh says so (503); the documents stay as they were.
    calendar.reset().await;
    let p = problem(
        post(&app, "/api/voice/knowledge/refresh", &c.admin, &json!({})).await,
        503,
    )
    .await;
    assert_eq!(p["code"], "calendar_unavailable");
    assert!(
        vapi_ok(&app, &ask).await["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("$120.00")
    );
}

#[tokio::test]
async fn hostile_and_empty_queries_find_nothing_harmful() {
    let Kb { app, c, .. } = setup(&[]).await;
    let staff = app.auth.token(c.org, Role::Staff);
    add(&app, &c.admin, &delta()).await;
    add(
        &app,
        &c.admin,
        &json!({"title": "'); DROP TABLE voice.knowledge_documents; --",
        "body": "Robert'); DROP TABLE students;-- is stored as text, & | ! :* <-> too."}),
    )
    .await;
    for q in [
        "'); DROP TABLE voice.knowledge_documents; --",
        "delta & | ! :* <-> (dental",
        "\\' OR 1=1 --",
        "%' UNION SELECT * FROM voice.webhook_secrets --",
        "\u{0}\u{1}\u{7f}",
        "😀 ́ ̈",
        "",
        "   ?!  ",
        &"delta ".repeat(150),
        &"a".repeat(999),
    ] {
        let found = search(&app, &staff, q, 5).await;
        assert!(found["items"].is_array(), "{q:?}");
        let a = vapi_ok(&app, &kb_request(&c, "call-abuse", &[q])).await;
        assert!(a["documents"].is_array(), "{q:?}: {a}");
    }
    // Words inside hostile input are still just words.
    assert!(
        !search(&app, &staff, "delta & | ! :* <-> (dental", 5).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        search(&app, &staff, "", 5).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Limits of the search route.
    let long = "a".repeat(1001);
    let url = reqwest::Url::parse_with_params(
        &app.url("/api/voice/knowledge/search"),
        [("q", long.as_str())],
    )
    .unwrap();
    let r = app
        .client
        .get(url)
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["field"], "q");
    problem(
        get(&app, "/api/voice/knowledge/search?q=x&limit=21", &staff).await,
        422,
    )
    .await;
    problem(get(&app, "/api/voice/knowledge/search", &staff).await, 400).await;
    // A huge spoken turn is capped, not refused.
    let a = vapi_ok(
        &app,
        &kb_request(&c, "call-abuse", &[&"delta dental ".repeat(20_000)]),
    )
    .await;
    assert!(!a["documents"].as_array().unwrap().is_empty());
    // Everything is still there.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM voice.knowledge_documents WHERE system_key IS NULL"
        )
        .await,
        2
    );
}

/// Deterministic stand-in for an embeddings model: each lower-cased word's first five letters
/// (a crude stem) hashed (FNV-1a) into one of 256 dimensions, counted, L2-normalised. Records
/// what it was asked.
#[derive(Clone, Default)]
struct FakeEmbeddings {
    seen: Arc<Mutex<Vec<Value>>>,
}

fn bag_of_words(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; 256];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let stem: String = w.to_lowercase().chars().take(5).collect();
        let mut h: u32 = 0x811c_9dc5;
        for b in stem.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        v[usize::try_from(h % 256).unwrap()] += 1.0;
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / n).collect()
}

impl Respond for FakeEmbeddings {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        self.seen.lock().unwrap().push(body.clone());
        let Some(inputs) = body["input"].as_array() else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "input must be an array"}}));
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": bag_of_words(t.as_str().unwrap_or(""))}))
            .collect();
        ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
        )
    }
}

/// Loads the question set's documents (and the system documents) into `kb`'s clinic; returns
/// document key → id.
async fn load_question_set(kb: &Kb) -> HashMap<String, String> {
    let docs: Vec<Value> = serde_json::from_str(include_str!("../data/kb/documents.json")).unwrap();
    let mut ids = HashMap::new();
    for d in docs {
        let made = add(
            &kb.app,
            &kb.c.admin,
            &json!({"kind": d["kind"], "title": d["title"], "body": d["body"], "tags": d["tags"]}),
        )
        .await;
        ids.insert(
            d["key"].as_str().unwrap().to_string(),
            made["id"].as_str().unwrap().to_string(),
        );
    }
    let r = post(
        &kb.app,
        "/api/voice/knowledge/refresh",
        &kb.c.admin,
        &json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let system = get_json(&kb.app, "/api/voice/knowledge?kind=system", &kb.c.admin).await;
    for d in system["items"].as_array().unwrap() {
        ids.insert(
            format!("system:{}", d["system_key"].as_str().unwrap()),
            d["id"].as_str().unwrap().to_string(),
        );
    }
    ids
}

/// recall@1 and recall@3 over the question set, and the misses at 3.
async fn recall(kb: &Kb, ids: &HashMap<String, String>) -> (f64, f64, Vec<String>, String) {
    let questions: Vec<Value> =
        serde_json::from_str(include_str!("../data/kb/questions.json")).unwrap();
    let staff = kb.app.auth.token(kb.c.org, Role::Staff);
    let (mut at1, mut at3, mut misses, mut mode) = (0, 0, Vec::new(), String::new());
    for q in &questions {
        let text = q["q"].as_str().unwrap();
        let want = &ids[q["doc"].as_str().unwrap()];
        let found = search(&kb.app, &staff, text, 3).await;
        mode = found["mode"].as_str().unwrap().to_string();
        let got: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["document_id"].as_str().unwrap())
            .collect();
        if got.first() == Some(&want.as_str()) {
            at1 += 1;
        }
        if got.contains(&want.as_str()) {
            at3 += 1;
        } else {
            misses.push(format!("{text} → wanted {}", q["doc"]));
        }
    }
    let n = f64::from(u32::try_from(questions.len()).unwrap());
    (f64::from(at1) / n, f64::from(at3) / n, misses, mode)
}

#[tokio::test]
async fn recall_on_the_question_set_full_text_and_hybrid() {
    let questions: Vec<Value> =
        serde_json::from_str(include_str!("../data/kb/questions.json")).unwrap();
    assert!(
        questions.len() >= 40,
        "the question set has at least 40 questions"
    );

    // Full text alone (no embeddings endpoint configured).
    let kb = setup(&[]).await;
    let ids = load_question_set(&kb).await;
    let (r1, r3, misses, mode) = recall(&kb, &ids).await;
    assert_eq!(mode, "full_text");
    println!(
        "knowledge recall, full text: recall@1 = {r1:.3}, recall@3 = {r3:.3} over {} questions; misses@3: {misses:#?}",
        questions.len()
    );

    // Hybrid: the same documents and questions with the fake embeddings endpoint.
    let fake = FakeEmbeddings::default();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer emb-test-key"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    let uri = server.uri();
    let hybrid = setup(&[
        ("VOICE_KB_EMBEDDINGS_URL", uri.as_str()),
        ("VOICE_KB_EMBEDDINGS_MODEL", "bow-256"),
        ("VOICE_KB_EMBEDDINGS_API_KEY", "emb-test-key"),
    ])
    .await;
    let hids = load_question_set(&hybrid).await;
    let (h1, h3, hmisses, hmode) = recall(&hybrid, &hids).await;
    assert_eq!(hmode, "hybrid");
    println!(
        "knowledge recall, hybrid (RRF of full text and a hashed bag-of-words fake embedding): recall@1 = {h1:.3}, recall@3 = {h3:.3}; misses@3: {hmisses:#?}"
    );

    // What the embeddings endpoint received: the model, batches of chunk texts (heading and
    // content), then one question per search.
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|b| b["model"] == "bow-256" && b["input"].is_array())
    );
    let inputs: Vec<String> = seen
        .iter()
        .flat_map(|b| {
            b["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        inputs.iter().any(|s| s.starts_with(
            "Do you take Delta Dental insurance? (insurance)\nYes. We are in network"
        )),
        "chunks are embedded with their heading"
    );
    assert!(
        inputs.iter().any(|s| s == "Do you take Medicaid?"),
        "questions are embedded as asked"
    );
    let stored = count(&hybrid.app, "SELECT count(*) AS n FROM voice.knowledge_chunks WHERE embedding IS NULL OR embedding_model <> 'bow-256'").await;
    assert_eq!(stored, 0, "every chunk has its vector");

    assert!(
        r3 >= 0.9,
        "full-text recall@3 {r3:.3} < 0.9; misses: {misses:#?}"
    );
}

#[tokio::test]
async fn a_slow_or_failing_embeddings_endpoint_leaves_full_text_within_the_budget() {
    let server = MockServer::start().await;
    let fake = FakeEmbeddings::default();
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    let uri = server.uri();
    let kb = setup(&[
        ("VOICE_KB_EMBEDDINGS_URL", uri.as_str()),
        ("VOICE_KB_TIMEOUT_MS", "300"),
    ])
    .await;
    add(&kb.app, &kb.c.admin, &delta()).await;
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        1,
        "the document was embedded once"
    );
    let ask = kb_request(&kb.c, "call-emb-1", &["Do you take Delta Dental?"]);
    assert!(
        !vapi_ok(&kb.app, &ask).await["documents"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The endpoint now answers after 2 s: the question's vector is given up at two thirds of
    // the budget and full text answers alone, in time.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let a = vapi_ok(&kb.app, &ask).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Delta Dental PPO"),
        "{a}"
    );

    // And when it fails outright.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let a = vapi_ok(&kb.app, &ask).await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Delta Dental PPO"),
        "{a}"
    );
    // A document written meanwhile is still found by full text.
    add(
        &kb.app,
        &kb.c.admin,
        &json!({"title": "Parking", "body": "Free lot behind the building."}),
    )
    .await;
    let a = vapi_ok(
        &kb.app,
        &kb_request(&kb.c, "call-emb-2", &["Where do I park?"]),
    )
    .await;
    assert!(
        a["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Free lot"),
        "{a}"
    );
}
