//! One clinic time zone and one set of opening hours (issue 11 item 14a), end to end against the
//! REAL calendar: an admin changes them in calendar's settings, and voice's next call follows —
//! "today" in the prompt, the after-hours greeting, the transfer rule.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{call, clinic, eventually, message, org_created, spawn_shared, vapi_ok};

fn settings(tz: &str, day: Value) -> Value {
    json!({"timezone": tz, "slot_interval_minutes": null, "min_notice_minutes": 0,
           "booking_window_days": 60, "default_buffer_before_minutes": 0,
           "default_buffer_after_minutes": 0, "hold_minutes": 5,
           "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day,
                            "friday": day, "saturday": day, "sunday": day},
           "date_overrides": []})
}

#[tokio::test]
async fn voice_follows_the_zone_and_hours_an_admin_sets_in_calendar() {
    let auth = Arc::new(testkit::TestAuth::start().await);
    let cal = testkit::spawn_app_with::<calendar::Calendar>(
        auth.clone(),
        &[("BUS_RELAY_POLL_MS", "100")],
    )
    .await;
    let token = auth.service_token("voice-webhook");
    let app = spawn_shared(
        auth.clone(),
        &[
            ("CALENDAR_INTERNAL_URL", cal.address.as_str()),
            ("CALENDAR_SERVICE_TOKEN", token.as_str()),
        ],
    )
    .await;
    // Signed up in New York: voice and calendar both learn that from org.created.v1.
    let c = clinic(
        &app,
        "Cedar Point Dental",
        "America/New_York",
        "+15550123400",
    )
    .await;
    org_created(&cal, c.org, "Cedar Point Dental", "America/New_York").await;
    let admin = auth.token(c.org, Role::Admin);
    let put = async |body: Value| {
        let r = cal
            .client
            .put(cal.url("/api/calendar/settings"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    };
    // Wait until calendar has applied org.created (its zone is then New York, not the default).
    eventually(
        || async {
            cal.client
                .get(cal.url("/api/calendar/settings"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        },
        |v| v["timezone"] == "America/New_York",
    )
    .await;
    let ask = |id: &str| {
        message(
            "assistant-request",
            &call(id, &c.vapi_number_id),
            &c.number,
            json!({}),
        )
    };

    // The clinic moves to UTC+14, open around the clock.
    put(settings(
        "Pacific/Kiritimati",
        json!([{"start": "00:00", "end": "24:00"}]),
    ))
    .await;
    let a = vapi_ok(&app, &ask("call-cs-1")).await;
    let vars = &a["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Pacific/Kiritimati", "{a}");
    let kiritimati = Utc::now()
        .with_timezone(&chrono_tz::Pacific::Kiritimati)
        .date_naive()
        .to_string();
    assert_eq!(vars["today"], kiritimati);
    assert!(
        a["assistant"]["model"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains(&kiritimati[..4])
    );
    assert_eq!(vars["afterHours"], false);

    // Then to UTC−11 and closed every day: another "today", the after-hours greeting.
    put(settings("Pacific/Pago_Pago", json!([]))).await;
    let a = vapi_ok(&app, &ask("call-cs-2")).await;
    let vars = &a["assistantOverrides"]["variableValues"];
    assert_eq!(vars["timezone"], "Pacific/Pago_Pago", "{a}");
    assert_eq!(
        vars["today"],
        Utc::now()
            .with_timezone(&chrono_tz::Pacific::Pago_Pago)
            .date_naive()
            .to_string()
    );
    assert_eq!(vars["afterHours"], true);
    assert!(
        a["assistant"]["firstMessage"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{a}"
    );
}
