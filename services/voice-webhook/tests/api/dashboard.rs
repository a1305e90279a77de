//! The dashboard API: agents and numbers CRUD with roles and precise errors, calls list filters
//! and pagination, analytics in clinic time — and org B can neither read nor touch org A's calls,
//! transcripts, agents or numbers, while a webhook for A's number never writes under B.

use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{call, clinic, count, get, get_json, message, post, problem, spawn, vapi_ok};

#[tokio::test]
async fn agents_and_numbers_crud_with_roles_and_precise_errors() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let staff = app.auth.token(c.org, Role::Staff);
    let r = post(
        &app,
        "/api/voice/agents",
        &staff,
        &json!({"name": "Night shift"}),
    )
    .await;
    assert_eq!(problem(r, 403).await["code"], "insufficient_role");
    let r = post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Night shift", "enabled_tools": ["take_message", "fly"]}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "enabled_tools");
    let r = post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Night shift", "org_id": c.org.to_string()}),
    )
    .await;
    problem(r, 422).await;
    let r = post(&app, "/api/voice/agents", &c.admin, &json!({"name": "  "})).await;
    assert_eq!(problem(r, 422).await["field"], "name");
    let r = post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Night shift", "transfer_number": "555-1234"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "transfer_number");
    let r = post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Night shift", "enabled_tools": ["take_message"],
        "after_hours_message": "We are closed; leave a message."}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let night: Value = r.json().await.unwrap();
    assert_eq!(night["enabled_tools"], json!(["take_message"]));
    assert_eq!(night["is_default"], false);
    let list = get_json(&app, "/api/voice/agents", &staff).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Numbers: E.164 only, one owner, reassignable to another agent of the org.
    let r = post(
        &app,
        "/api/voice/numbers",
        &c.admin,
        &json!({"number": "0123"}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "number");
    let r = post(
        &app,
        "/api/voice/numbers",
        &c.admin,
        &json!({"number": c.number}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "number_taken");
    let r = post(
        &app,
        "/api/voice/numbers",
        &c.admin,
        &json!({"number": "+15550123401", "agent_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(problem(r, 422).await["field"], "agent_id");
    let r = app.client.put(app.url(&format!("/api/voice/numbers/{}", c.number_id))).bearer_auth(&c.admin)
        .json(&json!({"number": c.number, "vapi_phone_number_id": c.vapi_number_id, "agent_id": night["id"]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The number now answers with the night agent.
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-night", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["agentId"],
        night["id"]
    );
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["afterHoursMessage"],
        "We are closed; leave a message."
    );

    // Deleting the number stops routing it.
    let r = app
        .client
        .delete(app.url(&format!("/api/voice/numbers/{}", c.number_id)))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let a = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-gone", &c.vapi_number_id),
            &c.number,
            json!({}),
        ),
    )
    .await;
    assert!(a["error"].is_string(), "{a}");
}

#[tokio::test]
async fn org_b_cannot_see_or_touch_org_a_and_a_webhook_for_a_never_writes_under_b() {
    let app = spawn().await;
    let a = clinic(&app, "Clinic A", "America/New_York", "+15550123400").await;
    let b = clinic(&app, "Clinic B", "Europe/Berlin", "+4930123456").await;
    let call_a = call("call-iso-a", &a.vapi_number_id);
    vapi_ok(
        &app,
        &message(
            "status-update",
            &call_a,
            &a.number,
            json!({"status": "in-progress"}),
        ),
    )
    .await;
    vapi_ok(
        &app,
        &message(
            "end-of-call-report",
            &call_a,
            &a.number,
            json!({"endedReason": "customer-ended-call",
        "artifact": {"transcript": "secret words"}, "analysis": {"summary": "A's summary"}}),
        ),
    )
    .await;
    // Everything of the call was written under A only.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.calls WHERE org_id = '{}'",
                a.org
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.calls WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.call_transcripts WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM voice.webhook_deliveries WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        0
    );

    let calls_a = get_json(&app, "/api/voice/calls", &a.admin).await;
    let call_id = calls_a["items"][0]["id"].as_str().unwrap().to_string();
    let b_owner = app.auth.token(b.org, Role::Owner);
    // By list and search …
    assert_eq!(
        get_json(&app, "/api/voice/calls", &b_owner).await["items"],
        json!([])
    );
    assert_eq!(
        get_json(
            &app,
            &format!("/api/voice/calls?phone=%2B{}", &crate::helpers::CALLER[1..]),
            &b_owner
        )
        .await["items"],
        json!([])
    );
    let agents_b = get_json(&app, "/api/voice/agents", &b_owner).await;
    assert!(
        agents_b["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != a.agent_id.as_str())
    );
    let numbers_b = get_json(&app, "/api/voice/numbers", &b_owner).await;
    assert!(
        numbers_b["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != a.number_id.as_str())
    );
    // … and by id: reading, changing, deleting.
    for path in [
        format!("/api/voice/calls/{call_id}"),
        format!("/api/voice/agents/{}", a.agent_id),
        format!("/api/voice/numbers/{}", a.number_id),
    ] {
        assert_eq!(
            problem(get(&app, &path, &b_owner).await, 404).await["code"],
            "not_found",
            "{path}"
        );
        let r = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&b_owner)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 404 || r.status() == 405,
            "{path}: {}",
            r.status()
        );
    }
    let r = app
        .client
        .put(app.url(&format!("/api/voice/agents/{}", a.agent_id)))
        .bearer_auth(&b_owner)
        .json(&json!({"name": "Hijacked"}))
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    let r = app
        .client
        .put(app.url(&format!("/api/voice/numbers/{}", a.number_id)))
        .bearer_auth(&b_owner)
        .json(&json!({"number": "+15550123400"}))
        .send()
        .await
        .unwrap();
    problem(r, 404).await;
    // B cannot claim A's number for itself.
    let r = post(
        &app,
        "/api/voice/numbers",
        &b_owner,
        &json!({"number": a.number}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "number_taken");
    // B's number cannot be assigned A's agent.
    let r = app
        .client
        .put(app.url(&format!("/api/voice/numbers/{}", b.number_id)))
        .bearer_auth(&b_owner)
        .json(&json!({"number": b.number, "agent_id": a.agent_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["field"], "agent_id");
    // A still sees its own call with the transcript.
    let detail = get_json(&app, &format!("/api/voice/calls/{call_id}"), &a.admin).await;
    assert_eq!(detail["transcript"], "secret words");
}

#[tokio::test]
async fn calls_filter_paginate_and_add_up_in_clinic_time() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    for i in 0..5 {
        let call = call(&format!("call-page-{i}"), &c.vapi_number_id);
        if i % 2 == 0 {
            vapi_ok(
                &app,
                &message(
                    "status-update",
                    &call,
                    &c.number,
                    json!({"status": "in-progress"}),
                ),
            )
            .await;
        }
        vapi_ok(&app, &message("end-of-call-report", &call, &c.number, json!({"endedReason": if i % 2 == 0 { "customer-ended-call" } else { "customer-did-not-answer" },
            "startedAt": "2026-11-22T14:20:00Z", "endedAt": "2026-11-22T14:21:00Z", "cost": 0.5, "artifact": {}, "analysis": {}}))).await;
    }
    let page1 = get_json(&app, "/api/voice/calls?limit=2", &c.admin).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = get_json(
        &app,
        &format!("/api/voice/calls?limit=2&cursor={cursor}"),
        &c.admin,
    )
    .await;
    let page3 = get_json(
        &app,
        &format!(
            "/api/voice/calls?limit=2&cursor={}",
            page2["next_cursor"].as_str().unwrap()
        ),
        &c.admin,
    )
    .await;
    assert_eq!(page3["items"].as_array().unwrap().len(), 1);
    assert!(page3["next_cursor"].is_null());
    let mut ids: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 5, "no call twice, none missing");
    let missed = get_json(
        &app,
        "/api/voice/calls?ended_reason=customer-did-not-answer",
        &c.admin,
    )
    .await;
    assert_eq!(missed["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        get_json(&app, "/api/voice/calls?direction=outbound", &c.admin).await["items"],
        json!([])
    );
    let r = get(&app, "/api/voice/calls?direction=sideways", &c.admin).await;
    assert_eq!(problem(r, 422).await["field"], "direction");
    let r = get(&app, "/api/voice/calls?cursor=nonsense", &c.admin).await;
    assert_eq!(problem(r, 422).await["field"], "cursor");

    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let stats = get_json(
        &app,
        &format!("/api/voice/analytics?from={today}&to={today}"),
        &c.admin,
    )
    .await;
    assert_eq!(stats["timezone"], "America/New_York");
    assert_eq!(stats["calls"], 5);
    assert_eq!(stats["days"][0]["day"], today.to_string());
    assert_eq!(stats["days"][0]["average_duration_seconds"], 60.0);
    assert_eq!(stats["cost_usd"], 2.5);
    assert_eq!(stats["booking_conversion"], 0.0);
    let r = get(
        &app,
        &format!("/api/voice/analytics?from={today}&to=2020-01-01"),
        &c.admin,
    )
    .await;
    problem(r, 422).await;
}

#[tokio::test]
async fn org_deleted_purges_everything_voice_holds_for_that_org_only() {
    let app = spawn().await;
    let a = clinic(&app, "Clinic A", "America/New_York", "+15550123400").await;
    let b = clinic(&app, "Clinic B", "America/New_York", "+15550123401").await;
    for c in [&a, &b] {
        let call = call(&format!("call-purge-{}", c.org), &c.vapi_number_id);
        vapi_ok(
            &app,
            &message(
                "status-update",
                &call,
                &c.number,
                json!({"status": "in-progress"}),
            ),
        )
        .await;
        vapi_ok(&app, &message("end-of-call-report", &call, &c.number, json!({"endedReason": "customer-ended-call", "artifact": {"transcript": "t"}, "analysis": {}}))).await;
        vapi_ok(
            &app,
            &message(
                "tool-calls",
                &call,
                &c.number,
                json!({"toolCallList": [{"id": format!("msg-{}", c.org), "type": "function",
            "function": {"name": "take_message", "arguments": {"message": "call me"}}}]}),
            ),
        )
        .await;
    }
    let tables = [
        "org_profiles",
        "agents",
        "phone_numbers",
        "routes",
        "calls",
        "call_transcripts",
        "tool_invocations",
        "call_messages",
        "webhook_deliveries",
    ];
    let rows = |org: tenancy::OrgId| {
        let app = &app;
        async move {
            let mut n = 0;
            for t in tables {
                n += count(
                    app,
                    &format!("SELECT count(*) AS n FROM voice.{t} WHERE org_id = '{org}'"),
                )
                .await;
            }
            n
        }
    };
    assert!(rows(a.org).await >= i64::try_from(tables.len()).unwrap());
    let before_b = rows(b.org).await;
    {
        let mut conn = app.db.service_conn().await.unwrap();
        bus::enqueue(
            &mut conn,
            a.org,
            &events::payloads::OrgDeletedV1 {
                deleted_at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    }
    let left = crate::helpers::eventually(|| rows(a.org), |n| *n == 0).await;
    assert_eq!(left, 0, "everything of A is gone");
    assert_eq!(rows(b.org).await, before_b, "B is untouched");
    // A's number no longer routes anywhere.
    let ans = vapi_ok(
        &app,
        &message(
            "assistant-request",
            &call("call-after-purge", &a.vapi_number_id),
            &a.number,
            json!({}),
        ),
    )
    .await;
    assert!(ans["error"].is_string(), "{ans}");
}

#[tokio::test]
async fn a_deleted_agents_numbers_fall_back_to_the_default_agent() {
    let app = spawn().await;
    let c = clinic(
        &app,
        "Cedar Point Physio",
        "America/New_York",
        "+15550123400",
    )
    .await;
    let r = post(
        &app,
        "/api/voice/agents",
        &c.admin,
        &json!({"name": "Temp"}),
    )
    .await;
    let temp: Value = r.json().await.unwrap();
    let r = app.client.put(app.url(&format!("/api/voice/numbers/{}", c.number_id))).bearer_auth(&c.admin)
        .json(&json!({"number": c.number, "vapi_phone_number_id": c.vapi_number_id, "agent_id": temp["id"]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ask = |id: &str| {
        message(
            "assistant-request",
            &call(id, &c.vapi_number_id),
            &c.number,
            json!({}),
        )
    };
    let a = vapi_ok(&app, &ask("call-temp-1")).await;
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["agentId"],
        temp["id"]
    );
    let r = app
        .client
        .delete(app.url(&format!(
            "/api/voice/agents/{}",
            temp["id"].as_str().unwrap()
        )))
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let a = vapi_ok(&app, &ask("call-temp-2")).await;
    assert_eq!(
        a["assistantOverrides"]["variableValues"]["agentId"],
        c.agent_id.as_str()
    );
    let n = get_json(
        &app,
        &format!("/api/voice/numbers/{}", c.number_id),
        &c.admin,
    )
    .await;
    assert!(n["agent_id"].is_null());
}
