//! The HTTP API: list (sort, filters, search, cursor), detail (reasons with evidence, score and
//! stage history, timeline, notes), the manual-vs-automatic stage rule, notes, the CSV export,
//! bad input, and tenant isolation on every route.

use serde_json::{Value, json};
use tenancy::{OrgId, Role};

use crate::helpers::{
    App, Publisher, caller, get, get_json, post, problem, processed, publisher, same_org, spawn,
};
use crate::script::{Scenario, envelopes, ids};

fn scenario(v: Value) -> Scenario {
    serde_json::from_value(v).unwrap()
}

async fn seed(app: &App, p: &Publisher, org: OrgId, s: &Scenario) {
    let envs = envelopes(org, "UTC", s);
    for e in &envs {
        p.publish(e).await;
    }
    processed(app, &ids(&envs)).await;
}

fn hot() -> Scenario {
    scenario(json!({"name": "hot", "phone": "+15550300001", "steps": [
        {"kind": "call", "at": "2026-12-01T15:00:00Z", "duration": 90, "name": "=cmd|'/C calc'!A0",
         "analysis": {"intent": "emergency", "urgency": "emergency", "service_of_interest": "toothache",
                      "summary": "Caller has severe tooth pain since last night."}}
    ], "expect": {"tier": "hot", "stage": "qualified", "action": "call_back_now"}}))
}

fn warm() -> Scenario {
    scenario(json!({"name": "warm", "phone": "+15550300002", "steps": [
        {"kind": "call", "at": "2026-12-02T15:00:00Z", "duration": 60, "name": "Maria Lopez",
         "analysis": {"intent": "price_question", "service_of_interest": "implants", "quoted_price": 3200}}
    ], "expect": {"tier": "warm", "stage": "qualified", "action": "send_booking_link"}}))
}

fn cold() -> Scenario {
    scenario(json!({"name": "cold", "phone": "+15550300003", "steps": [
        {"kind": "call", "at": "2026-11-20T15:00:00Z", "duration": 90, "name": "Sam Cole"}
    ], "expect": {"tier": "cold", "stage": "contacted", "action": "nurture_7d"}}))
}

async fn seeded() -> (App, Publisher, crate::helpers::Caller) {
    let app = spawn().await;
    let p = publisher(&app).await;
    let admin = caller(&app, Role::Admin);
    for s in [hot(), warm(), cold()] {
        seed(&app, &p, admin.org, &s).await;
    }
    (app, p, admin)
}

fn phones(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["phone"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_list_sorts_filters_searches_and_pages() {
    let (app, _p, admin) = seeded().await;
    let by_score = get_json(&app, "/api/leads", &admin.token).await;
    assert_eq!(
        phones(&by_score),
        ["+15550300001", "+15550300002", "+15550300003"]
    );
    assert_eq!(by_score["items"][0]["tier"], "hot");
    assert_eq!(by_score["items"][0]["next_action"], "call_back_now");
    assert_eq!(by_score["next_cursor"], Value::Null);
    let by_contact = get_json(&app, "/api/leads?sort=last_contact", &admin.token).await;
    assert_eq!(
        phones(&by_contact),
        ["+15550300002", "+15550300001", "+15550300003"]
    );
    // Filters and search.
    let warm = get_json(&app, "/api/leads?tier=warm", &admin.token).await;
    assert_eq!(phones(&warm), ["+15550300002"]);
    let contacted = get_json(&app, "/api/leads?stage=contacted", &admin.token).await;
    assert_eq!(phones(&contacted), ["+15550300003"]);
    let recent = get_json(
        &app,
        "/api/leads?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z",
        &admin.token,
    )
    .await;
    assert_eq!(phones(&recent), ["+15550300001"]);
    let by_name = get_json(&app, "/api/leads?q=maria", &admin.token).await;
    assert_eq!(phones(&by_name), ["+15550300002"]);
    let by_digits = get_json(&app, "/api/leads?q=0300003", &admin.token).await;
    assert_eq!(phones(&by_digits), ["+15550300003"]);
    // LIKE wildcards are literal.
    let wild = get_json(&app, "/api/leads?q=%25", &admin.token).await;
    assert_eq!(phones(&wild), Vec::<String>::new());
    // Pages of one, under both sorts: no gaps, no repeats.
    for sort in ["score", "last_contact"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/api/leads?sort={sort}&limit=1"),
                Some(c) => format!("/api/leads?sort={sort}&limit=1&cursor={c}"),
            };
            let page = get_json(&app, &path, &admin.token).await;
            seen.extend(phones(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let all = get_json(&app, &format!("/api/leads?sort={sort}"), &admin.token).await;
        assert_eq!(seen, phones(&all), "{sort}");
    }
    // Bad input is a precise 422 / 400.
    for (q, field) in [
        ("sort=name", "sort"),
        ("tier=lukewarm", "tier"),
        ("stage=archived", "stage"),
        ("limit=0", "limit"),
        ("cursor=forged", "cursor"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ] {
        let r = get(&app, &format!("/api/leads?{q}"), &admin.token).await;
        assert_eq!(problem(r, 422).await["field"], field, "{q}");
    }
    let long = "x".repeat(101);
    let r = get(&app, &format!("/api/leads?q={long}"), &admin.token).await;
    assert_eq!(problem(r, 422).await["field"], "q");
    let r = get(&app, "/api/leads?colour=red", &admin.token).await;
    assert_eq!(problem(r, 400).await["code"], "invalid_query");
    let r = get(&app, "/api/leads?from=yesterday", &admin.token).await;
    assert_eq!(problem(r, 400).await["code"], "invalid_query");
}

#[tokio::test]
async fn the_detail_explains_the_score_and_shows_the_timeline() {
    let (app, _p, admin) = seeded().await;
    let list = get_json(&app, "/api/leads?tier=hot", &admin.token).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let d = get_json(&app, &format!("/api/leads/{id}"), &admin.token).await;
    assert_eq!(d["lead"]["phone"], "+15550300001");
    assert_eq!(d["lead"]["model_version"], "v1");
    let r0 = &d["reasons"][0];
    assert_eq!(r0["code"], "emergency");
    assert!(r0["text"].as_str().unwrap().contains("toothache"), "{r0}");
    assert_eq!(r0["evidence"]["urgency"], "emergency");
    assert_eq!(d["features"]["intent"], "emergency");
    assert_eq!(d["features"]["intent_source"], "vapi");
    assert_eq!(d["score_history"][0]["tier"], "hot");
    assert_eq!(d["score_history"][0]["cause"], "call.ended.v1");
    let kinds: Vec<&str> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call.ended.v1", "call.started.v1"]);
    assert_eq!(
        d["timeline"][0]["summary"],
        "Caller has severe tooth pain since last night."
    );
    assert!(d["timeline"][0]["text"].as_str().unwrap().contains("90 s"));
    assert_eq!(d["stage_history"][0]["to_stage"], "qualified");
    assert_eq!(d["stage_history"][0]["source"], "automatic");
    let r = get(
        &app,
        &format!("/api/leads/{}", uuid::Uuid::new_v4()),
        &admin.token,
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = get(&app, "/api/leads/not-a-uuid", &admin.token).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_manual_stage_holds_until_an_appointment_after_it_supersedes_it() {
    let (app, p, admin) = seeded().await;
    let staff = same_org(&app, admin.org, Role::Staff);
    let viewer = same_org(&app, admin.org, Role::Viewer);
    let list = get_json(&app, "/api/leads?tier=warm", &admin.token).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/leads/{id}/stage");

    let r = post(
        &app,
        &path,
        &viewer.token,
        &json!({"stage": "lost", "reason": "x"}),
    )
    .await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = post(
        &app,
        &path,
        &staff.token,
        &json!({"stage": "archived", "reason": "x"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "stage");
    let r = post(
        &app,
        &path,
        &staff.token,
        &json!({"stage": "lost", "reason": "  "}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "reason");
    let r = post(&app, &path, &staff.token, &json!({"stage": "lost"})).await;
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .post(app.url(&path))
        .bearer_auth(&staff.token)
        .header("content-type", "application/json")
        .body("{\"stage\":")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 400).await["code"], "malformed_json");

    let r = post(
        &app,
        &path,
        &staff.token,
        &json!({"stage": "lost", "reason": "went to another clinic"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["stage"].as_str(), v["stage_source"].as_str()),
        (Some("lost"), Some("manual"))
    );
    // Moving again to the same stage changes nothing (no second history row).
    post(
        &app,
        &path,
        &staff.token,
        &json!({"stage": "lost", "reason": "again"}),
    )
    .await;

    // A later call re-scores the lead but does not undo the person's move.
    let again = scenario(
        json!({"name": "warm-again", "phone": "+15550300002", "steps": [
        {"kind": "call", "at": chrono::Utc::now().to_rfc3339(), "duration": 150,
         "analysis": {"intent": "book", "service_of_interest": "implants"}}
    ], "expect": {"tier": "hot", "stage": "lost", "action": "call_back_now"}}),
    );
    seed(&app, &p, admin.org, &again).await;
    let d = get_json(&app, &format!("/api/leads/{id}"), &admin.token).await;
    assert_eq!(d["lead"]["stage"], "lost");
    assert_eq!(d["lead"]["stage_source"], "manual");
    assert_eq!(d["lead"]["calls"], 2);
    assert_eq!(d["score_history"][0]["cause"], "call.ended.v1");

    // A booking that happened after the move clearly supersedes it.
    let booked = scenario(
        json!({"name": "warm-booked", "phone": "+15550300002", "steps": [
        {"kind": "booked", "appointment": "a1", "service": "Implant consultation",
         "at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}
    ], "expect": {"tier": "hot", "stage": "booked", "action": "none"}}),
    );
    seed(&app, &p, admin.org, &booked).await;
    let d = get_json(&app, &format!("/api/leads/{id}"), &admin.token).await;
    assert_eq!(d["lead"]["stage"], "booked");
    assert_eq!(d["lead"]["stage_source"], "automatic");
    let moves: Vec<(String, String, String)> = d["stage_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["to_stage"].as_str().unwrap().to_string(),
                s["source"].as_str().unwrap().to_string(),
                s["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(moves.len(), 3, "{moves:?}");
    assert_eq!(moves[0].0, "qualified");
    assert_eq!(
        (moves[1].0.as_str(), moves[1].1.as_str()),
        ("lost", "manual")
    );
    assert!(moves[1].2.starts_with("user:"));
    assert_eq!(d["stage_history"][1]["reason"], "went to another clinic");
    assert_eq!(
        (
            moves[2].0.as_str(),
            moves[2].1.as_str(),
            moves[2].2.as_str()
        ),
        ("booked", "automatic", "appointment.booked.v1")
    );
}

#[tokio::test]
async fn notes_are_added_by_staff_and_shown_newest_first() {
    let (app, _p, admin) = seeded().await;
    let staff = same_org(&app, admin.org, Role::Staff);
    let viewer = same_org(&app, admin.org, Role::Viewer);
    let list = get_json(&app, "/api/leads", &admin.token).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/leads/{id}/notes");
    for body in ["Left a voicemail", "Call back after 3pm"] {
        let r = post(&app, &path, &staff.token, &json!({"body": body})).await;
        assert_eq!(r.status(), 201);
    }
    let r = post(&app, &path, &viewer.token, &json!({"body": "x"})).await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = post(&app, &path, &staff.token, &json!({"body": ""})).await;
    assert_eq!(problem(r, 422).await["field"], "body");
    let r = post(
        &app,
        &path,
        &staff.token,
        &json!({"body": "x".repeat(4001)}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "body");
    let r = post(&app, &path, &staff.token, &json!({"body": 5})).await;
    assert_eq!(r.status(), 422);
    let d = get_json(&app, &format!("/api/leads/{id}"), &viewer.token).await;
    let notes: Vec<&str> = d["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["Call back after 3pm", "Left a voicemail"]);
}

#[tokio::test]
async fn the_csv_export_streams_every_matching_lead_for_admins() {
    let (app, _p, admin) = seeded().await;
    let staff = same_org(&app, admin.org, Role::Staff);
    let r = get(&app, "/api/leads/export.csv", &admin.token).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("leads.csv")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("id,phone,name,email,score,tier"));
    assert!(lines[1].contains("+15550300001"));
    // The caller-supplied name cannot run as a formula in a spreadsheet.
    assert!(lines[1].contains(",'=cmd|'/C calc'!A0,"), "{}", lines[1]);
    let warm = get(&app, "/api/leads/export.csv?tier=warm", &admin.token)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(warm.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    let r = get(&app, "/api/leads/export.csv", &staff.token).await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = get(&app, "/api/leads/export.csv?tier=boiling", &admin.token).await;
    assert_eq!(problem(r, 422).await["field"], "tier");
}

#[tokio::test]
async fn a_second_org_cannot_see_or_touch_the_first_orgs_leads() {
    let (app, _p, a) = seeded().await;
    let b = caller(&app, Role::Owner);
    let list = get_json(&app, "/api/leads", &a.token).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        get_json(&app, "/api/leads", &b.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        get_json(&app, "/api/leads?q=5550300001", &b.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let r = get(&app, &format!("/api/leads/{id}"), &b.token).await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = post(
        &app,
        &format!("/api/leads/{id}/stage"),
        &b.token,
        &json!({"stage": "lost", "reason": "x"}),
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let r = post(
        &app,
        &format!("/api/leads/{id}/notes"),
        &b.token,
        &json!({"body": "x"}),
    )
    .await;
    assert_eq!(problem(r, 404).await["code"], "not_found");
    let csv = get(&app, "/api/leads/export.csv", &b.token)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        1,
        "header only: {csv}"
    );
    // A's lead is untouched.
    let d = get_json(&app, &format!("/api/leads/{id}"), &a.token).await;
    assert_ne!(d["lead"]["stage"], "lost");
    assert_eq!(d["notes"].as_array().unwrap().len(), 0);
    // No token, no leads.
    let r = app.client.get(app.url("/api/leads")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
