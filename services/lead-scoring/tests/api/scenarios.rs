//! The scripted calls of tests/data/scenarios.json, published through the real bus into the real
//! service and Postgres: every caller lands in the expected tier, stage and next action, with
//! reasons whose texts quote their evidence; lead.scored.v1 is published only when a tier or a
//! next action changed.

use serde_json::Value;
use tenancy::Role;

use crate::helpers::{caller, envelope, json, processed, publisher, spawn};
use crate::script::{envelopes, ids, load};

#[tokio::test]
async fn scripted_calls_land_in_the_expected_tiers_with_reasons_naming_their_evidence() {
    let app = spawn().await;
    let p = publisher(&app).await;
    let clinic = caller(&app, Role::Admin);
    let script = load();
    assert!(
        script.scenarios.len() >= 20,
        "the acceptance asks for at least 20 calls"
    );

    // The clinic signed up in New York (its zone decides what is after hours).
    let created = envelope(
        clinic.org,
        &events::OrgCreatedV1 {
            name: "Cedar Point Dental".into(),
            timezone: script.timezone.clone(),
            owner_user_id: uuid::Uuid::new_v4(),
        },
        chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    );
    p.publish(&created).await;
    processed(&app, &[created.id]).await;

    let mut all = Vec::new();
    for s in &script.scenarios {
        let envs = envelopes(clinic.org, &script.timezone, s);
        for e in &envs {
            p.publish(e).await;
        }
        all.extend(ids(&envs));
    }
    processed(&app, &all).await;

    let mut failures = Vec::new();
    for s in &script.scenarios {
        let got = json(
            &app,
            &format!(
                "SELECT to_jsonb(x) AS j FROM (SELECT c.id, c.score, c.tier, c.stage, c.next_action, c.model_version, \
                 (SELECT s.reasons FROM leads.lead_scores s WHERE s.contact_id = c.id ORDER BY s.created_at DESC LIMIT 1) AS reasons \
                 FROM leads.contacts c WHERE c.org_id = '{}' AND c.phone_e164 = '{}') x",
                clinic.org, s.phone
            ),
        )
        .await;
        let e = &s.expect;
        let mut bad = Vec::new();
        for (what, want) in [
            ("tier", &e.tier),
            ("stage", &e.stage),
            ("next_action", &e.action),
        ] {
            if got[what] != want.as_str() {
                bad.push(format!("{what} {} (want {want})", got[what]));
            }
        }
        let score = got["score"].as_u64().unwrap_or(0);
        if e.min_score.is_some_and(|m| score < u64::from(m))
            || e.max_score.is_some_and(|m| score > u64::from(m))
        {
            bad.push(format!(
                "score {score} out of [{:?}, {:?}]",
                e.min_score, e.max_score
            ));
        }
        let reasons = got["reasons"].as_array().cloned().unwrap_or_default();
        let text_of = |code: &str| -> Option<String> {
            reasons
                .iter()
                .find(|r| r["code"] == code)
                .map(|r| r["text"].as_str().unwrap_or("").to_string())
        };
        for (code, fragments) in &e.reasons {
            match text_of(code) {
                None => bad.push(format!("no reason {code}")),
                Some(text) => {
                    for f in fragments {
                        if !text.contains(f.as_str()) {
                            bad.push(format!("reason {code} {text:?} does not quote {f:?}"));
                        }
                    }
                }
            }
        }
        for code in &e.not_reasons {
            if text_of(code).is_some() {
                bad.push(format!("unexpected reason {code}"));
            }
        }
        // Every reason carries the evidence it read.
        for r in &reasons {
            if r["evidence"]
                .as_object()
                .is_none_or(serde_json::Map::is_empty)
            {
                bad.push(format!("reason {} has no evidence", r["code"]));
            }
        }
        if got["model_version"] != "v1" {
            bad.push(format!("model_version {}", got["model_version"]));
        }
        if !bad.is_empty() {
            let texts: Vec<&Value> = reasons.iter().map(|r| &r["text"]).collect();
            failures.push(format!(
                "{} (score {score}, reasons {texts:?}): {}",
                s.name,
                bad.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // lead.scored.v1: one per change of tier or next action, never two alike in a row.
    let published = json(
        &app,
        &format!(
            "SELECT coalesce(jsonb_agg(payload ORDER BY id), '[]') AS j FROM leads.outbox \
             WHERE org_id = '{}' AND event_type = 'lead.scored.v1'",
            clinic.org
        ),
    )
    .await;
    let published = published.as_array().unwrap();
    assert!(published.len() >= script.scenarios.len());
    let mut last: std::collections::HashMap<String, (Value, Value)> = Default::default();
    for p in published {
        let key = p["contact_id"].as_str().unwrap().to_string();
        let now = (p["tier"].clone(), p["next_action"].clone());
        assert_ne!(
            last.get(&key),
            Some(&now),
            "an unchanged lead was re-published: {p}"
        );
        assert_eq!(p["model_version"], "v1");
        last.insert(key, now);
    }
}
