//! Issue 11 item 17: a consumer applies appointment events by version, so two reschedules
//! delivered newest first leave the newest time. Calendar really produces the events (booked,
//! rescheduled twice); a consumer-side projection table in a real Postgres receives the two
//! reschedules in reverse order through `events::ordering` and keeps v3. (No consumer service
//! exists yet: messaging and lead-scoring will use the same rule.)

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use events::ordering::{UPSERT_IF_NEWER_SQL, should_apply};
use events::{AppointmentRescheduledV1, Envelope};
use serde_json::{Value, json};
use tenancy::Role;

#[derive(QueryableByName)]
struct Outboxed {
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Jsonb)]
    payload: Value,
}

#[derive(QueryableByName, Debug)]
struct Projected {
    #[diesel(sql_type = Timestamptz)]
    starts_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

fn at(days: i64, hh: u32) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days))
        .and_hms_opt(hh, 0, 0)
        .unwrap()
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Applies one rescheduled event to the projection; returns the rows the statement changed.
async fn apply(conn: &mut diesel_async::AsyncPgConnection, e: &AppointmentRescheduledV1) -> usize {
    let a = &e.appointment;
    diesel::sql_query(UPSERT_IF_NEWER_SQL)
        .bind::<SqlUuid, _>(a.appointment_id)
        .bind::<Timestamptz, _>(a.starts_at)
        .bind::<Timestamptz, _>(a.ends_at)
        .bind::<Text, _>("booked")
        .bind::<BigInt, _>(a.version)
        .execute(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_reschedules_delivered_in_reverse_order_leave_the_newest_time() {
    let cal = testkit::spawn_app::<calendar::Calendar>().await;
    let org = tenancy::OrgId::new_random();
    let admin = cal.auth.token(org, Role::Admin);
    let post = |path: String, body: Value| {
        let r = cal
            .client
            .post(cal.url(&path))
            .bearer_auth(&admin)
            .json(&body)
            .send();
        async move { r.await.unwrap() }
    };
    let r = post(
        "/api/calendar/services".into(),
        json!({"name": "Cleaning", "duration_minutes": 30}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let service = r.json::<Value>().await.unwrap()["id"].clone();
    let r = post(
        "/api/calendar/appointments".into(),
        json!({"service_id": service, "starts_at": at(5, 10)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for hh in [12, 14] {
        let r = post(
            format!("/api/calendar/appointments/{id}/reschedule"),
            json!({"starts_at": at(5, hh)}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }

    // The two reschedules calendar enqueued, as a consumer decodes them.
    let mut conn = cal.db.admin_conn().await.unwrap();
    let rows: Vec<Outboxed> = diesel::sql_query(format!(
        "SELECT event_type, payload FROM calendar.outbox WHERE org_id = '{org}' ORDER BY id"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let rescheduled: Vec<AppointmentRescheduledV1> = rows
        .into_iter()
        .filter(|r| r.event_type == "appointment.rescheduled.v1")
        .map(|r| {
            Envelope {
                id: uuid::Uuid::new_v4(),
                event_type: r.event_type,
                org_id: org.as_uuid(),
                occurred_at: chrono::Utc::now(),
                traceparent: None,
                payload: r.payload,
            }
            .into_event::<AppointmentRescheduledV1>()
            .unwrap()
            .payload
        })
        .collect();
    assert_eq!(rescheduled.len(), 2);
    let (v2, v3) = (&rescheduled[0], &rescheduled[1]);
    assert_eq!((v2.appointment.version, v3.appointment.version), (2, 3));
    assert_eq!(
        v3.appointment
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at(5, 14)
    );

    // A consumer's projection in a real Postgres receives v3, then v2 (and v3 again).
    conn.batch_execute(
        "CREATE TABLE appointment_projection (appointment_id uuid PRIMARY KEY,
            starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, status text NOT NULL,
            version bigint NOT NULL)",
    )
    .await
    .unwrap();
    assert_eq!(apply(&mut conn, v3).await, 1);
    assert_eq!(
        apply(&mut conn, v2).await,
        0,
        "the older reschedule is skipped"
    );
    assert_eq!(
        apply(&mut conn, v3).await,
        0,
        "a redelivery changes nothing"
    );
    let got: Projected = diesel::sql_query(
        "SELECT starts_at, version FROM appointment_projection WHERE appointment_id = $1",
    )
    .bind::<SqlUuid, _>(v3.appointment.appointment_id)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(got.version, 3);
    assert_eq!(got.starts_at, v3.appointment.starts_at);

    // The same rule in memory.
    let mut stored: Option<i64> = None;
    let mut starts = None;
    for e in [v3, v2] {
        if should_apply(stored, e.appointment.version) {
            stored = Some(e.appointment.version);
            starts = Some(e.appointment.starts_at);
        }
    }
    assert_eq!(starts, Some(v3.appointment.starts_at));
}
