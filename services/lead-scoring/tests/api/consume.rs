//! Contacts are a fold of their events: the same events delivered twice, or in another order
//! (ended before started, rescheduled before booked, opted out first), give the same final
//! state; an event without a phone number is acknowledged and skipped; org.deleted.v1 purges.

use lead_scoring::domain::features::Features;
use lead_scoring::domain::model::Model;
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{App, caller, count, envelope, json, processed, publisher, spawn};
use crate::script::{Scenario, envelopes, ids, with_fresh_ids};
use tenancy::OrgId;

fn scenario() -> Scenario {
    serde_json::from_value(json!({
        "name": "order",
        "phone": "+15550109999",
        "steps": [
            {"kind": "call", "call": "c1", "at": "2026-11-30T14:00:00Z", "duration": 30,
             "analysis": {"intent": "price_question", "service_of_interest": "Implants", "quoted_price": 3200, "currency": "USD"}},
            {"kind": "call", "call": "c2", "at": "2026-12-01T15:00:00Z", "duration": 200, "booked": true, "name": "Dana Scott",
             "analysis": {"intent": "book", "service_of_interest": "Implants", "new_patient": true}},
            {"kind": "booked", "appointment": "a1", "call": "c2", "service": "Implant consultation", "at": "2026-12-01T15:03:00Z", "name": "Dana Scott"},
            {"kind": "rescheduled", "appointment": "a1", "version": 2, "service": "Implant consultation", "at": "2026-12-01T16:00:00Z"},
            {"kind": "delivered", "at": "2026-12-01T15:04:00Z"},
            {"kind": "failed", "at": "2026-12-01T16:01:00Z"},
            {"kind": "opted_out", "at": "2026-12-02T09:00:00Z"}
        ],
        "expect": {"tier": "warm", "stage": "booked", "action": "none"}
    }))
    .unwrap()
}

/// The contact's final state: its row and its newest score (features and reasons).
async fn state(app: &App, org: uuid::Uuid, phone: &str) -> Value {
    json(
        app,
        &format!(
            "SELECT to_jsonb(x) AS j FROM (SELECT name, first_contact_at, last_contact_at, calls_count, \
             appointments_booked, appointments_kept, appointments_no_show, appointments_cancelled, \
             messages_count, opted_out_at, stage, stage_source, score, tier, next_action, model_version, \
             (SELECT s.features FROM leads.lead_scores s WHERE s.contact_id = c.id ORDER BY s.created_at DESC LIMIT 1) AS features, \
             (SELECT s.reasons FROM leads.lead_scores s WHERE s.contact_id = c.id ORDER BY s.created_at DESC LIMIT 1) AS reasons \
             FROM leads.contacts c WHERE c.org_id = '{org}' AND c.phone_e164 = '{phone}') x"
        ),
    )
    .await
}

#[tokio::test]
async fn the_same_events_twice_or_out_of_order_give_the_same_final_state() {
    let app = spawn().await;
    let p = publisher(&app).await;
    let s = scenario();
    let (a, b, c) = (
        caller(&app, Role::Admin),
        caller(&app, Role::Admin),
        caller(&app, Role::Admin),
    );
    // A: in order, once each.
    let in_order = envelopes(a.org, "UTC", &s);
    for e in &in_order {
        p.publish(e).await;
    }
    // B: newest first (opted out before anything, ended before started, rescheduled before
    // booked), every event delivered twice.
    let reversed: Vec<_> = with_fresh_ids(&in_order, b.org).into_iter().rev().collect();
    for e in &reversed {
        p.publish(e).await;
        p.publish(e).await;
    }
    // C: interleaved, duplicates far apart.
    let shuffled = with_fresh_ids(&in_order, c.org);
    for i in [3, 0, 6, 1, 8, 2, 5, 7, 4, 0, 3] {
        p.publish(&shuffled[i % shuffled.len()]).await;
    }
    for e in &shuffled {
        p.publish(e).await;
    }
    processed(&app, &ids(&in_order)).await;
    processed(&app, &ids(&reversed)).await;
    processed(&app, &ids(&shuffled)).await;

    let sa = state(&app, a.org.as_uuid(), &s.phone).await;
    let sb = state(&app, b.org.as_uuid(), &s.phone).await;
    let sc = state(&app, c.org.as_uuid(), &s.phone).await;
    assert_eq!(sa, sb, "reversed and duplicated");
    assert_eq!(sa, sc, "shuffled and duplicated");
    // And the state is the right one, not just a consistent one.
    assert_eq!(sa["name"], "Dana Scott");
    assert_eq!(sa["calls_count"], 2);
    assert_eq!(sa["appointments_booked"], 1);
    assert_eq!(sa["appointments_cancelled"], 0);
    assert_eq!(sa["messages_count"], 2);
    assert_eq!(sa["stage"], "booked");
    assert!(sa["opted_out_at"].is_string());
    assert_ne!(sa["tier"], "hot", "opted out is never hot: {sa}");
    assert_eq!(
        sa["features"]["appointment_service"],
        "Implant consultation"
    );
    assert_eq!(sa["features"]["calls_in_window"], 2);
    // Re-scoring every stored feature vector with the model version stored beside it
    // reproduces the stored score, tier, action and reasons.
    let all = json(
        &app,
        "SELECT coalesce(jsonb_agg(to_jsonb(s)), '[]') AS j FROM leads.lead_scores s",
    )
    .await;
    assert!(all.as_array().unwrap().len() >= 3);
    for row in all.as_array().unwrap() {
        let model = Model::load(row["model_version"].as_str().unwrap()).unwrap();
        let f: Features = serde_json::from_value(row["features"].clone()).unwrap();
        let again = model.score(&f);
        assert_eq!(Value::from(again.score), row["score"]);
        assert_eq!(again.tier.as_str(), row["tier"]);
        assert_eq!(again.next_action, row["next_action"]);
        assert_eq!(
            serde_json::to_value(&again.reasons).unwrap(),
            row["reasons"]
        );
    }
    // Each event stored once per org, however often it arrived.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM leads.lead_events WHERE org_id = '{}'",
                b.org
            )
        )
        .await,
        i64::try_from(in_order.len()).unwrap()
    );
}

#[tokio::test]
async fn an_event_without_a_phone_is_skipped_and_org_deleted_purges_only_that_org() {
    let app = spawn().await;
    let p = publisher(&app).await;
    let (a, b) = (caller(&app, Role::Admin), caller(&app, Role::Admin));
    let s = scenario();
    let ea = envelopes(a.org, "UTC", &s);
    let eb = with_fresh_ids(&ea, b.org);
    // A withheld number: acknowledged (inbox row), no contact.
    let mut anonymous = serde_json::to_value(events::CallStartedV1 {
        call_id: uuid::Uuid::new_v4(),
        vapi_call_id: "anon".into(),
        agent_id: None,
        direction: events::CallDirection::Inbound,
        caller_number: None,
        started_at: chrono::Utc::now(),
    })
    .unwrap();
    anonymous["caller_number"] = Value::Null;
    let anon = events::Envelope {
        id: uuid::Uuid::new_v4(),
        event_type: "call.started.v1".into(),
        org_id: a.org.as_uuid(),
        occurred_at: chrono::Utc::now(),
        traceparent: None,
        payload: anonymous,
    };
    p.publish(&anon).await;
    for e in ea.iter().chain(&eb) {
        p.publish(e).await;
    }
    processed(&app, &[anon.id]).await;
    processed(&app, &ids(&ea)).await;
    processed(&app, &ids(&eb)).await;
    let contacts =
        |org: OrgId| format!("SELECT count(*) AS n FROM leads.contacts WHERE org_id = '{org}'");
    assert_eq!(count(&app, &contacts(a.org)).await, 1);

    let deleted = envelope(
        a.org,
        &events::OrgDeletedV1 {
            deleted_at: chrono::Utc::now(),
        },
        chrono::Utc::now(),
    );
    p.publish(&deleted).await;
    processed(&app, &[deleted.id]).await;
    for table in [
        "contacts",
        "lead_events",
        "lead_scores",
        "lead_stage_history",
    ] {
        let sql =
            |org: OrgId| format!("SELECT count(*) AS n FROM leads.{table} WHERE org_id = '{org}'");
        assert_eq!(count(&app, &sql(a.org)).await, 0, "{table} of A");
        assert!(count(&app, &sql(b.org)).await > 0, "{table} of B");
    }
}

#[tokio::test]
async fn rescore_rebuilds_scores_with_a_model_version_and_says_what_changed() {
    use runtime::Service as _;
    let app = spawn().await;
    let p = publisher(&app).await;
    let (a, b) = (caller(&app, Role::Admin), caller(&app, Role::Admin));
    let ea = envelopes(a.org, "UTC", &scenario());
    let eb = with_fresh_ids(&ea, b.org);
    for e in ea.iter().chain(&eb) {
        p.publish(e).await;
    }
    processed(&app, &ids(&ea)).await;
    processed(&app, &ids(&eb)).await;
    let before = state(&app, b.org.as_uuid(), "+15550109999").await;
    // A's score as an older model had left it.
    let mut conn = app.db.admin_conn().await.unwrap();
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE leads.contacts SET score = 3, tier = 'cold', next_action = 'none', model_version = 'v0' WHERE org_id = '{}'",
            a.org
        )),
        &mut conn,
    )
    .await
    .unwrap();

    let platform = servicekit::Platform::connect(&app.settings.standard.common).unwrap();
    let db = tenancy::Db::new(platform.pg.clone());
    let model = Model::load("v1").unwrap();
    let report = lead_scoring::core::rescore::rescore(&db, &model, Some(a.org.as_uuid()))
        .await
        .unwrap();
    assert_eq!(
        (report.orgs, report.contacts, report.changes.len()),
        (1, 1, 1)
    );
    let c = &report.changes[0];
    assert_eq!(c.before.0, Some(3));
    assert_eq!(Value::from(c.after.0), before["score"]);
    let text = report.to_string();
    assert!(text.contains("1 changed (1 changed tier)"), "{text}");
    assert!(text.contains("3 cold none (v0) -> "), "{text}");
    assert!(
        !text.contains("+1555"),
        "no phone numbers in the report: {text}"
    );
    let after = state(&app, a.org.as_uuid(), "+15550109999").await;
    assert_eq!(after["score"], before["score"]);
    assert_eq!(after["tier"], before["tier"]);
    assert_eq!(after["model_version"], "v1");
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM leads.lead_scores WHERE org_id = '{}' AND cause = 'rescore'", a.org)).await,
        1
    );
    // Every org, through the command line: nothing left to change.
    let all = lead_scoring::core::rescore::rescore(&db, &model, None)
        .await
        .unwrap();
    assert!(all.orgs >= 2 && all.changes.is_empty(), "{all}");
    lead_scoring::LeadScoring::command(
        app.settings.clone(),
        ["rescore", "--model", "v1", "--org", &a.org.to_string()]
            .map(String::from)
            .to_vec(),
    )
    .await
    .unwrap();
    let unknown = lead_scoring::LeadScoring::command(
        app.settings.clone(),
        ["rescore", "--model", "v9"].map(String::from).to_vec(),
    )
    .await;
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("no scoring model v9")
    );
}

/// A lead's detail is one snapshot: while calls keep arriving, every read shows a newest score
/// computed from exactly the calls its timeline lists. Read with one statement per part under
/// READ COMMITTED, a call committed between the score query and the timeline query showed in
/// the timeline without its score (seen in the platform flow: the end-of-call report in the
/// timeline, the score from before it).
#[tokio::test]
async fn a_lead_read_while_events_arrive_shows_a_score_and_a_timeline_that_agree() {
    let app = spawn().await;
    let p = publisher(&app).await;
    let a = caller(&app, Role::Admin);
    let phone = "+15550104242";
    let start = |i: i64| {
        envelope(
            a.org,
            &events::CallStartedV1 {
                call_id: uuid::Uuid::new_v4(),
                vapi_call_id: format!("snap-{i}"),
                agent_id: None,
                direction: events::CallDirection::Inbound,
                caller_number: Some(phone.into()),
                started_at: chrono::Utc::now() - chrono::Duration::minutes(100 - i),
            },
            chrono::Utc::now(),
        )
    };
    let first = start(0);
    p.publish(&first).await;
    processed(&app, &[first.id]).await;
    let id = crate::helpers::get_json(&app, "/api/leads?q=15550104242", &a.token).await["items"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();

    const CALLS: i64 = 40;
    let publishing = async {
        let mut ids = vec![first.id];
        for i in 1..CALLS {
            let e = start(i);
            ids.push(e.id);
            p.publish(&e).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        processed(&app, &ids).await;
    };
    let reading = async {
        let mut reads = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "not all calls arrived in 60 s"
            );
            let d = crate::helpers::get_json(&app, &format!("/api/leads/{id}"), &a.token).await;
            let in_timeline = d["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["event_type"] == "call.started.v1")
                .count();
            assert_eq!(
                d["features"]["calls"].as_u64().unwrap(),
                u64::try_from(in_timeline).unwrap(),
                "read {reads}: the newest score and the timeline disagree"
            );
            assert_eq!(
                d["lead"]["calls"].as_u64().unwrap(),
                u64::try_from(in_timeline).unwrap()
            );
            reads += 1;
            if in_timeline == usize::try_from(CALLS).unwrap() {
                return reads;
            }
        }
    };
    let ((), reads) = tokio::join!(publishing, reading);
    assert!(reads > 1, "the reads overlapped the arrivals");
}
