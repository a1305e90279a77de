//! Providers (issue 15, ADR 0021): CRUD with validation, pagination, roles and isolation; the
//! exclusion constraint per provider (the 50-way race gives one winner per provider, three
//! patients book one time with three providers at once); a provider's own hours and day off; a
//! service only one provider offers; DST, minimum notice and booking window per provider.

use chrono::{Duration, Utc};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use tenancy::{OrgId, Role};

use crate::helpers::{
    TestApp, at, caller, get, get_json, open_every_day, post, problem, same_org, service, spawn,
};

type App = TestApp<calendar::Calendar>;

const PROVIDERS: &str = "/api/calendar/providers";

async fn create(app: &App, token: &str, body: Value) -> reqwest::Response {
    post(app, PROVIDERS, token, &body).await
}

/// Creates a provider and returns its id.
async fn provider(app: &App, token: &str, body: Value) -> String {
    let r = create(app, token, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn patch(app: &App, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("{PROVIDERS}/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &App, token: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("{PROVIDERS}/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The org's default provider ("Clinic"), deactivated so only named providers are booked.
async fn retire_default(app: &App, token: &str) {
    let list = get_json(app, PROVIDERS, token).await;
    let default = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["is_default"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = patch(app, token, &default, json!({"active": false})).await;
    assert_eq!(r.status(), 200);
}

fn ibase(org: OrgId) -> String {
    format!("/internal/v1/orgs/{org}")
}

/// Books through the voice agent's API (the schedule is enforced there).
async fn ibook(app: &App, org: OrgId, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("{}/appointments", ibase(org))))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn iget(app: &App, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .send()
        .await
        .unwrap()
}

fn starts(v: &Value) -> Vec<String> {
    v["slots"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_string())
        .collect()
}

fn local_times(v: &Value) -> Vec<String> {
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_start"].as_str().unwrap()[11..16].to_string())
        .collect()
}

/// `n` concurrent `POST /api/calendar/appointments` with `body(i)`; the statuses and bodies.
async fn concurrently(
    app: &App,
    token: &str,
    n: usize,
    body: impl Fn(usize) -> Value,
) -> Vec<(u16, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, url, token, body) = (
            app.client.clone(),
            app.url("/api/calendar/appointments"),
            token.to_string(),
            body(i),
        );
        set.spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn providers_are_created_listed_paged_changed_and_deleted_by_admins_only() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let staff = same_org(&app, admin.org, Role::Staff);
    let cleaning = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;

    // The default provider exists before anyone adds one: today's single grid.
    let list = get_json(&app, PROVIDERS, &staff.token).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["name"], "Clinic");
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(items[0]["weekly_hours"], Value::Null);
    assert_eq!(items[0]["service_ids"], Value::Null);

    let r = create(
        &app,
        &admin.token,
        json!({"name": "  Dr. Anika Patel ", "service_ids": [cleaning],
               "weekly_hours": {"monday": [{"start": "09:00", "end": "13:00"}]},
               "date_overrides": [{"date": "2030-01-07", "hours": []}],
               "google_calendar_id": "patel@example.test"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let patel: Value = r.json().await.unwrap();
    assert_eq!(patel["name"], "Dr. Anika Patel", "trimmed");
    assert_eq!(patel["active"], true);
    assert_eq!(patel["is_default"], false);
    assert_eq!(patel["service_ids"], json!([cleaning]));
    assert_eq!(
        patel["weekly_hours"]["monday"],
        json!([{"start": "09:00", "end": "13:00"}])
    );
    assert_eq!(
        patel["weekly_hours"]["tuesday"],
        json!([]),
        "a day not given is off"
    );
    assert_eq!(
        patel["date_overrides"],
        json!([{"date": "2030-01-07", "hours": []}])
    );
    assert_eq!(patel["google_calendar_id"], "patel@example.test");
    let patel_id = patel["id"].as_str().unwrap().to_string();

    // Staff read but do not write.
    let r = create(&app, &staff.token, json!({"name": "Room 2"})).await;
    assert_eq!(problem(r, 403).await["status"], 403);
    let r = patch(&app, &staff.token, &patel_id, json!({"active": false})).await;
    problem(r, 403).await;
    let r = delete(&app, &staff.token, &patel_id).await;
    problem(r, 403).await;
    let got = get_json(&app, &format!("{PROVIDERS}/{patel_id}"), &staff.token).await;
    assert_eq!(got["name"], "Dr. Anika Patel");

    // Bad input names its field; a duplicate name (any case) is 409.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(121)}), "name"),
        (
            json!({"name": "A", "weekly_hours": {"funday": []}}),
            "weekly_hours",
        ),
        (
            json!({"name": "A", "weekly_hours": {"monday": [{"start": "13:00", "end": "09:00"}]}}),
            "weekly_hours.monday",
        ),
        (
            json!({"name": "A", "date_overrides": [{"date": "2030-02-30", "hours": []}]}),
            "date_overrides",
        ),
        (json!({"name": "A", "service_ids": []}), "service_ids"),
        (
            json!({"name": "A", "service_ids": [uuid::Uuid::new_v4()]}),
            "service_ids",
        ),
        (
            json!({"name": "A", "google_calendar_id": "a b"}),
            "google_calendar_id",
        ),
    ] {
        let p = problem(create(&app, &admin.token, body.clone()).await, 422).await;
        assert_eq!(p["field"], field, "{body} → {p}");
    }
    let r = create(&app, &admin.token, json!({"name": "A", "colour": "red"})).await;
    assert_eq!(r.status(), 422, "unknown fields are refused");
    let p = problem(
        create(&app, &admin.token, json!({"name": "DR. ANIKA PATEL"})).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "provider_name_taken");

    // Pagination: three providers, pages of one, no gaps or repeats.
    let room = provider(&app, &admin.token, json!({"name": "Hygiene Room"})).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{PROVIDERS}?limit=1&cursor={c}"),
            None => format!("{PROVIDERS}?limit=1"),
        };
        let page = get_json(&app, &path, &staff.token).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        seen.extend(
            items
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["Clinic", "Dr. Anika Patel", "Hygiene Room"]);
    let only = get_json(
        &app,
        &format!("{PROVIDERS}?service_id={cleaning}&active=true"),
        &staff.token,
    )
    .await;
    assert_eq!(
        only["items"].as_array().unwrap().len(),
        3,
        "null service_ids = every service"
    );
    let p = problem(
        get(&app, &format!("{PROVIDERS}?limit=0"), &staff.token).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "invalid_query");

    // PATCH: back to the clinic's hours and every service; an empty body is refused.
    let r = patch(
        &app,
        &admin.token,
        &patel_id,
        json!({"weekly_hours": null, "service_ids": null, "google_calendar_id": null}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["weekly_hours"], Value::Null);
    assert_eq!(changed["service_ids"], Value::Null);
    assert_eq!(changed["google_calendar_id"], Value::Null);
    assert_eq!(
        changed["date_overrides"].as_array().unwrap().len(),
        1,
        "kept"
    );
    let p = problem(patch(&app, &admin.token, &patel_id, json!({})).await, 422).await;
    assert_eq!(p["code"], "invalid_field");
    let p = problem(
        patch(
            &app,
            &admin.token,
            &room,
            json!({"name": "dr. anika patel"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "provider_name_taken");

    // Delete: one nobody booked goes; one with an appointment stays (deactivate it instead).
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": cleaning, "provider_id": patel_id, "starts_at": at(3, 9, 0)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let p = problem(delete(&app, &admin.token, &patel_id).await, 409).await;
    assert_eq!(p["code"], "provider_has_appointments");
    assert_eq!(delete(&app, &admin.token, &room).await.status(), 204);
    problem(delete(&app, &admin.token, &room).await, 404).await;
    problem(
        get(&app, &format!("{PROVIDERS}/{room}"), &staff.token).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_second_org_cannot_see_or_touch_the_first_orgs_providers() {
    let app = spawn().await;
    let a = caller(&app, Role::Admin);
    let b = caller(&app, Role::Admin);
    open_every_day(&app, &a.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &a.token, "Cleaning", 30, 0, 0).await;
    let patel = provider(&app, &a.token, json!({"name": "Dr. Patel"})).await;

    let path = format!("{PROVIDERS}/{patel}");
    problem(get(&app, &path, &b.token).await, 404).await;
    problem(
        patch(&app, &b.token, &patel, json!({"active": false})).await,
        404,
    )
    .await;
    problem(delete(&app, &b.token, &patel).await, 404).await;
    let theirs = get_json(&app, PROVIDERS, &b.token).await;
    let names: Vec<_> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["Clinic"], "only its own default");
    // B cannot name A's service or A's provider.
    let p = problem(
        create(&app, &b.token, json!({"name": "X", "service_ids": [s]})).await,
        422,
    )
    .await;
    assert_eq!(p["field"], "service_ids");
    let bs = service(&app, &b.token, "Cleaning", 30, 0, 0).await;
    let r = post(
        &app,
        "/api/calendar/appointments",
        &b.token,
        &json!({"service_id": bs, "provider_id": patel, "starts_at": at(3, 9, 0)}),
    )
    .await;
    problem(r, 404).await;
    let r = iget(
        &app,
        &format!(
            "{}/availability?service_id={bs}&provider_id={patel}&from={}&to={}",
            ibase(b.org),
            at(3, 0, 0),
            at(4, 0, 0)
        ),
    )
    .await;
    problem(r, 404).await;
    // A's provider is untouched.
    let got = get_json(&app, &path, &a.token).await;
    assert_eq!(got["active"], true);
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: Value,
}

#[tokio::test]
async fn fifty_concurrent_bookings_with_two_providers_give_exactly_two_appointments() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    retire_default(&app, &admin.token).await;
    let p1 = provider(&app, &admin.token, json!({"name": "Dr. One"})).await;
    let p2 = provider(&app, &admin.token, json!({"name": "Dr. Two"})).await;

    // No provider asked for: each request goes to a free one; two win, 48 hear alternatives.
    let start = at(5, 10, 0);
    let results = concurrently(
        &app,
        &admin.token,
        50,
        |i| json!({"service_id": s, "starts_at": start, "contact_name": format!("Caller {i}")}),
    )
    .await;
    let mut winners = Vec::new();
    for (status, body) in &results {
        match status {
            201 => winners.push(body["provider_id"].as_str().unwrap().to_string()),
            409 => {
                assert_eq!(body["code"], "appointment_overlap", "{body}");
                let alts = body["alternatives"].as_array().unwrap();
                assert!(!alts.is_empty(), "{body}");
                assert!(
                    alts.iter().all(|a| a["starts_at"] != start.as_str()),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    winners.sort();
    let mut both = vec![p1.clone(), p2.clone()];
    both.sort();
    assert_eq!(winners, both, "one appointment per provider, no more");

    // All fifty ask for Dr. One at another time: one wins.
    let start = at(5, 11, 0);
    let results = concurrently(&app, &admin.token, 50, |i| {
        json!({"service_id": s, "provider_id": p1, "starts_at": start,
               "contact_name": format!("Caller {i}")})
    })
    .await;
    let created: Vec<_> = results.iter().filter(|(st, _)| *st == 201).collect();
    let conflicts = results.iter().filter(|(st, _)| *st == 409).count();
    assert_eq!((created.len(), conflicts), (1, 49));
    assert_eq!(created[0].1["provider_name"], "Dr. One");
    // … and Dr. Two is still free then.
    let avail = get_json(
        &app,
        &format!(
            "/api/calendar/availability?service_id={s}&provider_id={p2}&from={}&to={}",
            at(5, 11, 0),
            at(5, 11, 30)
        ),
        &admin.token,
    )
    .await;
    assert_eq!(starts(&avail), vec![start.clone()]);

    let list = get_json(&app, "/api/calendar/appointments?limit=100", &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn three_patients_book_the_same_time_with_three_providers_at_once() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &admin.token, "Check-up", 30, 0, 0).await;
    let ids = [
        provider(&app, &admin.token, json!({"name": "Dr. Anika Patel"})).await,
        provider(&app, &admin.token, json!({"name": "Dr. Sam Okafor"})).await,
        provider(&app, &admin.token, json!({"name": "Dr. Lena Vogel"})).await,
    ];
    let start = at(4, 9, 0);
    let results = concurrently(&app, &admin.token, 3, |i| {
        json!({"service_id": s, "provider_id": ids[i], "starts_at": start,
               "contact_name": format!("Patient {i}"), "contact_phone": format!("+1555010010{i}")})
    })
    .await;
    assert!(results.iter().all(|(st, _)| *st == 201), "{results:?}");
    let mut got: Vec<_> = results
        .iter()
        .map(|(_, b)| {
            assert_eq!(b["starts_at"], start.as_str());
            b["provider_id"].as_str().unwrap().to_string()
        })
        .collect();
    got.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(got, want);

    // The events carry who each visit is with.
    let mut conn = app.db.admin_conn().await.unwrap();
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT payload FROM calendar.outbox WHERE org_id = '{}' AND event_type = 'appointment.booked.v1'",
        admin.org
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let mut names: Vec<_> = rows
        .iter()
        .map(|r| r.payload["provider_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["Dr. Anika Patel", "Dr. Lena Vogel", "Dr. Sam Okafor"]
    );
    // A fourth patient at that time still gets the clinic's default provider (free), a fifth
    // finds everyone busy.
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": s, "starts_at": start}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["provider_name"], "Clinic");
    let r = post(
        &app,
        "/api/calendar/appointments",
        &admin.token,
        &json!({"service_id": s, "starts_at": start}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
}

#[tokio::test]
async fn a_providers_own_hours_and_day_off_decide_what_it_offers_and_books() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    retire_default(&app, &admin.token).await;
    let day3 = Utc::now().date_naive() + Duration::days(3);
    let day4 = day3 + Duration::days(1);
    let day5 = day4 + Duration::days(1);
    let weekday = |d: chrono::NaiveDate| d.format("%A").to_string().to_lowercase();
    // Afternoons only, never on day 5's weekday, and day 4 off by a date override.
    let mut weekly = serde_json::Map::new();
    for d in (0..7).map(|n| day3 + Duration::days(n)) {
        if d != day5 {
            weekly.insert(weekday(d), json!([{"start": "13:00", "end": "15:00"}]));
        }
    }
    let patel = provider(
        &app,
        &admin.token,
        json!({"name": "Dr. Patel", "weekly_hours": weekly,
               "date_overrides": [{"date": day4.format("%Y-%m-%d").to_string(), "hours": []}]}),
    )
    .await;
    let clinic_hours = provider(&app, &admin.token, json!({"name": "Dr. Follows"})).await;

    let avail = |provider: Option<&str>, days: i64| {
        let p = provider
            .map(|p| format!("&provider_id={p}"))
            .unwrap_or_default();
        format!(
            "/api/calendar/availability?service_id={s}{p}&from={}&to={}",
            at(days, 0, 0),
            at(days + 1, 0, 0)
        )
    };
    let v = get_json(&app, &avail(Some(&patel), 3), &admin.token).await;
    assert_eq!(
        starts(&v),
        vec![at(3, 13, 0), at(3, 13, 30), at(3, 14, 0), at(3, 14, 30)]
    );
    let v = get_json(&app, &avail(Some(&patel), 4), &admin.token).await;
    assert!(starts(&v).is_empty(), "day off by override: {v}");
    let v = get_json(&app, &avail(Some(&patel), 5), &admin.token).await;
    assert!(starts(&v).is_empty(), "weekday off: {v}");
    // Across providers, the one on the clinic's hours fills the day.
    let v = get_json(&app, &avail(None, 4), &admin.token).await;
    assert_eq!(starts(&v).len(), 20, "08:00–18:00 in half hours");

    // The voice agent's API enforces the provider's hours.
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": s, "provider_id": patel, "starts_at": at(3, 10, 0)}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "slot_not_offered");
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": s, "provider_id": patel, "starts_at": at(4, 13, 0)}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "slot_not_offered");
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "provider_id": patel, "starts_at": at(3, 13, 30)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let booked: Value = r.json().await.unwrap();
    assert_eq!(booked["provider_name"], "Dr. Patel");
    // Without a provider, 10:00 goes to the one who works then.
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "starts_at": at(3, 10, 0)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["provider_id"],
        clinic_hours.as_str()
    );
    // Moving Dr. Patel's visit keeps Dr. Patel's hours.
    let id = booked["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url(&format!(
            "{}/appointments/{id}/reschedule",
            ibase(admin.org)
        )))
        .bearer_auth(app.auth.service_token("voice-webhook"))
        .json(&json!({"starts_at": at(3, 11, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r, 422).await["code"], "slot_not_offered");
    // A deactivated provider is not bookable by name.
    let r = patch(&app, &admin.token, &patel, json!({"active": false})).await;
    assert_eq!(r.status(), 200);
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": s, "provider_id": patel, "starts_at": at(3, 14, 0)}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "provider_not_eligible");
}

#[tokio::test]
async fn a_service_only_one_provider_offers_goes_to_that_provider() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let cleaning = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    let implant = service(&app, &admin.token, "Implant", 60, 0, 0).await;
    retire_default(&app, &admin.token).await;
    let surgeon = provider(
        &app,
        &admin.token,
        json!({"name": "Dr. Surgeon", "service_ids": [implant, cleaning]}),
    )
    .await;
    let hygienist = provider(
        &app,
        &admin.token,
        json!({"name": "Hygienist", "service_ids": [cleaning]}),
    )
    .await;

    // Asking for the hygienist's implant slots is refused; the listing says who does what.
    let r = get(
        &app,
        &format!(
            "/api/calendar/availability?service_id={implant}&provider_id={hygienist}&from={}&to={}",
            at(3, 0, 0),
            at(4, 0, 0)
        ),
        &admin.token,
    )
    .await;
    let p = problem(r, 422).await;
    assert_eq!(p["code"], "provider_not_eligible");
    assert_eq!(p["field"], "provider_id");
    let v = get_json(
        &app,
        &format!("{PROVIDERS}?service_id={implant}&active=true"),
        &admin.token,
    )
    .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);

    // Implant at 09:00 goes to the surgeon; a second implant then has nobody.
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": implant, "starts_at": at(3, 9, 0)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["provider_id"],
        surgeon.as_str()
    );
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": implant, "starts_at": at(3, 9, 0)}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    // The implant's hour is gone from implant availability but cleaning is still open (the
    // hygienist).
    let v = get_json(
        &app,
        &format!(
            "/api/calendar/availability?service_id={implant}&from={}&to={}",
            at(3, 9, 0),
            at(3, 10, 0)
        ),
        &admin.token,
    )
    .await;
    assert!(starts(&v).is_empty(), "{v}");
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": cleaning, "starts_at": at(3, 9, 0)}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["provider_id"],
        hygienist.as_str()
    );

    // When nobody active provides a service, it cannot be booked.
    let r = patch(&app, &admin.token, &surgeon, json!({"active": false})).await;
    assert_eq!(r.status(), 200);
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": implant, "starts_at": at(3, 11, 0)}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "no_provider");
}

/// The next local date after `after` on which New York moves its clocks forward.
fn next_spring_forward(after: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::{Offset, TimeZone};
    let tz = chrono_tz::America::New_York;
    let offset = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .offset()
            .fix()
            .local_minus_utc()
    };
    let mut d = after;
    loop {
        let next = d.succ_opt().unwrap();
        if offset(next) > offset(d) {
            return next;
        }
        d = next;
    }
}

#[tokio::test]
async fn dst_minimum_notice_and_the_booking_window_hold_per_provider() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    let nine_to_five = json!([{"start": "09:00", "end": "17:00"}]);
    let put = |notice: i64, window: i64| {
        json!({
            "timezone": "America/New_York", "slot_interval_minutes": null,
            "min_notice_minutes": notice, "booking_window_days": window,
            "default_buffer_before_minutes": 0, "default_buffer_after_minutes": 0, "hold_minutes": 5,
            "weekly_hours": {"monday": nine_to_five, "tuesday": nine_to_five, "wednesday": nine_to_five,
                             "thursday": nine_to_five, "friday": nine_to_five, "saturday": nine_to_five,
                             "sunday": nine_to_five},
            "date_overrides": []
        })
    };
    put_settings(&app, &admin.token, put(0, 730)).await;
    let s = service(&app, &admin.token, "Consultation", 30, 0, 0).await;
    retire_default(&app, &admin.token).await;
    // The night owl works 00:30–04:00 every day (its own hours, not the clinic's 9–5).
    let night = json!([{"start": "00:30", "end": "04:00"}]);
    let owl = provider(
        &app,
        &admin.token,
        json!({"name": "Night Owl", "weekly_hours": {"monday": night, "tuesday": night,
            "wednesday": night, "thursday": night, "friday": night, "saturday": night, "sunday": night}}),
    )
    .await;
    let spring = next_spring_forward(Utc::now().date_naive() + Duration::days(1));
    let tz = chrono_tz::America::New_York;
    let local_midnight = |d: chrono::NaiveDate| {
        use chrono::TimeZone;
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
            .to_rfc3339()
    };
    let url = |d: chrono::NaiveDate, p: bool| {
        let p = if p {
            format!("&provider_id={owl}")
        } else {
            String::new()
        };
        format!(
            "/api/calendar/availability?service_id={s}{p}&from={}&to={}",
            urlencode(&local_midnight(d)),
            urlencode(&local_midnight(d.succ_opt().unwrap()))
        )
    };
    // Spring forward: 02:00–03:00 does not exist; each remaining local slot once.
    for with_provider in [true, false] {
        let v = get_json(&app, &url(spring, with_provider), &admin.token).await;
        assert_eq!(
            local_times(&v),
            vec!["00:30", "01:00", "01:30", "03:00", "03:30"],
            "{v}"
        );
    }

    // Minimum notice and the booking window cut the provider's hours as they cut the clinic's.
    put_settings(&app, &admin.token, put(24 * 60, 3)).await;
    let from = Utc::now();
    let to = from + Duration::days(10);
    let v = get_json(
        &app,
        &format!(
            "/api/calendar/availability?service_id={s}&provider_id={owl}&from={}&to={}",
            urlencode(&from.to_rfc3339()),
            urlencode(&to.to_rfc3339())
        ),
        &admin.token,
    )
    .await;
    let slots = starts(&v);
    assert!(!slots.is_empty(), "{v}");
    let window_end = {
        let today = from.with_timezone(&tz).date_naive();
        local_midnight(today + Duration::days(3))
    };
    for st in &slots {
        let t = chrono::DateTime::parse_from_rfc3339(st).unwrap();
        assert!(t >= from + Duration::hours(24), "inside the notice: {st}");
        assert!(
            t < chrono::DateTime::parse_from_rfc3339(&window_end).unwrap(),
            "past the window: {st}"
        );
    }
    // Booking inside the notice or past the window with the provider is refused.
    let soon = (from + Duration::hours(2)).to_rfc3339();
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": s, "provider_id": owl, "starts_at": soon}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "slot_not_offered");
    let late = {
        use chrono::TimeZone;
        let d = from.with_timezone(&tz).date_naive() + Duration::days(5);
        tz.from_local_datetime(&d.and_hms_opt(1, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
            .to_rfc3339()
    };
    let p = problem(
        ibook(
            &app,
            admin.org,
            json!({"service_id": s, "provider_id": owl, "starts_at": late}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "slot_not_offered");
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "provider_id": owl, "starts_at": slots[0]}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

async fn put_settings(app: &App, token: &str, body: Value) {
    let r = app
        .client
        .put(app.url("/api/calendar/settings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_hold_takes_a_provider_and_the_booking_that_converts_it_keeps_that_provider() {
    let app = spawn().await;
    let admin = caller(&app, Role::Admin);
    open_every_day(&app, &admin.token, "UTC", "08:00", "18:00").await;
    let s = service(&app, &admin.token, "Cleaning", 30, 0, 0).await;
    retire_default(&app, &admin.token).await;
    let one = provider(&app, &admin.token, json!({"name": "Dr. One"})).await;
    let two = provider(&app, &admin.token, json!({"name": "Dr. Two"})).await;
    let hold = |body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("{}/holds", ibase(admin.org))))
                .bearer_auth(app.auth.service_token("voice-webhook"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let start = at(3, 9, 0);
    // Two holds at one time: one per provider, the third finds both held.
    let r = hold(json!({"service_id": s, "starts_at": start})).await;
    assert_eq!(r.status(), 201);
    let h1: Value = r.json().await.unwrap();
    assert_eq!(
        h1["provider_id"],
        one.as_str(),
        "least loaded, then added first"
    );
    let r = hold(json!({"service_id": s, "starts_at": start})).await;
    assert_eq!(r.status(), 201);
    let h2: Value = r.json().await.unwrap();
    assert_eq!(h2["provider_name"], "Dr. Two");
    let r = hold(json!({"service_id": s, "starts_at": start})).await;
    assert_eq!(problem(r, 409).await["code"], "slot_unavailable");
    // Booking with the second hold and no provider named converts it: Dr. Two.
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "starts_at": start, "hold_id": h2["hold_id"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let booked: Value = r.json().await.unwrap();
    assert_eq!(booked["id"], h2["hold_id"]);
    assert_eq!(booked["provider_id"], two.as_str());
    // A hold named for another provider than the one asked for is not converted: Dr. Two is
    // taken, so the booking is refused and the first hold stays Dr. One's.
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "provider_id": two, "starts_at": start, "hold_id": h1["hold_id"]}),
    )
    .await;
    assert_eq!(problem(r, 409).await["code"], "appointment_overlap");
    let r = ibook(
        &app,
        admin.org,
        json!({"service_id": s, "provider_id": one, "starts_at": start, "hold_id": h1["hold_id"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], h1["hold_id"]);
}
