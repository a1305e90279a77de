//! Issue 11 items 11 and 9 (voice half), against the REAL calendar service:
//! * the tools act only for the number Vapi reports for the call: a phone number or another
//!   patient's appointment id in the model's arguments reveals and changes nothing of theirs
//!   (asserted on calendar's own rows and on what the caller hears), and a withheld number is
//!   refused aloud for finding, cancelling and rescheduling;
//! * calendar's refusals are spoken as what they are (closed that day, outside the hours it
//!   offers, off its start times, taken, in the past), never as "I can't reach the booking
//!   system", which is only for a calendar that cannot answer.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use tenancy::Role;

use crate::helpers::{
    App, CALLER, Clinic, call, clinic, message, org_created, seeded_service, spawn_shared, vapi_ok,
};

const VICTIM: &str = "+15550142299";
const UNREACHABLE: &str = "can't reach the booking system";

/// Voice and calendar for one clinic in `tz`, calendar's hours set by the clinic's admin.
struct Setup {
    app: App,
    cal: testkit::TestApp<calendar::Calendar>,
    c: Clinic,
    token: String,
    internal: String,
    service_id: String,
    tz: Tz,
}

async fn setup(tz_name: &str, settings: Value) -> Setup {
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
    let c = clinic(&app, "Harbour Physio", tz_name, "+15550123400").await;
    org_created(&cal, c.org, "Harbour Physio", tz_name).await;
    let internal = format!("{}/internal/v1/orgs/{}", cal.address, c.org);
    let service_id = seeded_service(&cal, c.org, &token, "Cleaning").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = auth.token(c.org, Role::Admin);
    let r = cal
        .client
        .put(cal.url("/api/calendar/settings"))
        .bearer_auth(&admin)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    Setup {
        app,
        cal,
        c,
        token,
        internal,
        service_id,
        tz: tz_name.parse().unwrap(),
    }
}

impl Setup {
    /// One tool call on `call_id` (the caller is `CALLER` unless `customer` says otherwise);
    /// returns the sentence Vapi would speak (result or error).
    async fn tool(
        &self,
        call_id: &str,
        id: &str,
        name: &str,
        args: Value,
        customer: Option<Value>,
    ) -> String {
        let mut extra = json!({"toolCallList": [{"id": id, "type": "function",
            "function": {"name": name, "arguments": args}}]});
        if let Some(cu) = customer {
            extra["customer"] = cu;
        }
        let a = vapi_ok(
            &self.app,
            &message(
                "tool-calls",
                &call(call_id, &self.c.vapi_number_id),
                &self.c.number,
                extra,
            ),
        )
        .await;
        let r = &a["results"][0];
        r["result"]
            .as_str()
            .or_else(|| r["error"].as_str())
            .unwrap_or_else(|| panic!("{a}"))
            .to_string()
    }

    /// Books through calendar's internal API (as another call would have).
    async fn book_direct(&self, start: DateTime<Utc>, phone: &str, name: &str) -> Value {
        let r = self
            .cal
            .client
            .post(format!("{}/appointments", self.internal))
            .bearer_auth(&self.token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(
                &json!({"service_id": self.service_id, "starts_at": start, "contact_name": name,
                "contact_phone": phone, "source": "voice"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    /// The open starts on local date `d` (calendar's own answer).
    async fn slots_on(&self, d: NaiveDate) -> Vec<DateTime<Utc>> {
        let from = self.local(d, 0, 0);
        let to = from + Duration::days(1);
        let v: Value = self
            .cal
            .client
            .get(format!(
                "{}/availability?service_id={}&from={}&to={}",
                self.internal,
                self.service_id,
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["starts_at"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    fn local(&self, d: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
        self.tz
            .from_local_datetime(&d.and_hms_opt(h, m, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn wall(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// calendar's row for appointment `id`: (status, starts_at, contact_phone).
    async fn row(&self, id: &str) -> (String, DateTime<Utc>, Option<String>) {
        use diesel_async::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct R {
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            starts_at: DateTime<Utc>,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            contact_phone: Option<String>,
        }
        let mut conn = self.cal.db.admin_conn().await.unwrap();
        let r = diesel::sql_query(format!(
            "SELECT status::text AS status, starts_at, contact_phone FROM calendar.appointments WHERE id = '{id}'"
        ))
        .get_result::<R>(&mut conn)
        .await
        .unwrap();
        (r.status, r.starts_at, r.contact_phone)
    }
}

/// Every day 08:15–13:45 (odd times; on the 45-minute grid of Cleaning, so calendar's own
/// item-9 grid fix does not matter here), notice 0, a month ahead; one date closed.
fn odd_hours(tz: &str, closed: NaiveDate) -> Value {
    let day = json!([{"start": "08:15", "end": "13:45"}]);
    json!({"timezone": tz, "slot_interval_minutes": null, "min_notice_minutes": 0, "booking_window_days": 30,
        "default_buffer_before_minutes": 0, "default_buffer_after_minutes": 0, "hold_minutes": 5,
        "weekly_hours": {"monday": day, "tuesday": day, "wednesday": day, "thursday": day,
                         "friday": day, "saturday": day, "sunday": day},
        "date_overrides": [{"date": closed.to_string(), "hours": []}]})
}

async fn count_cal(s: &Setup, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = s.cal.db.admin_conn().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn tools_act_only_for_the_calling_number() {
    let tz = "America/Chicago";
    let today = Utc::now()
        .with_timezone(&tz.parse::<Tz>().unwrap())
        .date_naive();
    let s = setup(tz, odd_hours(tz, today + Duration::days(20))).await;
    let day = today + Duration::days(3);
    let slots = s.slots_on(day).await;
    assert!(slots.len() >= 3, "{slots:?}");
    // Another patient of the same clinic has an appointment.
    let theirs = s.book_direct(slots[0], VICTIM, "Avery Victim").await;
    let theirs_id = theirs["id"].as_str().unwrap().to_string();
    let before = s.row(&theirs_id).await;
    let theirs_when = theirs["starts_at"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap();
    let spoken_time = theirs_when
        .with_timezone(&s.tz)
        .format("%-I:%M %p")
        .to_string();

    // 1. Finding with their number in the arguments reveals nothing of theirs.
    let said = s
        .tool(
            "call-scope-1",
            "scope_find",
            "find_my_appointments",
            json!({"phone": VICTIM}),
            None,
        )
        .await;
    assert_eq!(
        said,
        "I can't find any upcoming appointments for this number."
    );
    assert!(!said.contains(&spoken_time), "{said}");

    // 2. Cancelling with their number, or with their (valid, same-clinic) appointment id.
    let said = s
        .tool(
            "call-scope-1",
            "scope_cancel_phone",
            "cancel_appointment",
            json!({"phone": VICTIM}),
            None,
        )
        .await;
    assert!(
        !said.contains("is cancelled") && !said.contains(UNREACHABLE),
        "{said}"
    );
    let said = s
        .tool(
            "call-scope-1",
            "scope_cancel_id",
            "cancel_appointment",
            json!({"appointment_id": theirs_id}),
            None,
        )
        .await;
    assert_eq!(
        said,
        "I can't find that appointment under the number you're calling from."
    );

    // 3. Rescheduling their appointment by id.
    let said = s
        .tool(
            "call-scope-1",
            "scope_move_id",
            "reschedule_appointment",
            json!({"appointment_id": theirs_id, "start": s.wall(slots[2])}),
            None,
        )
        .await;
    assert_eq!(
        said,
        "I can't find that appointment under the number you're calling from."
    );
    assert_eq!(
        s.row(&theirs_id).await,
        before,
        "their appointment is untouched in calendar"
    );

    // 4. Booking with their number in the arguments books for the caller, not for them.
    let said = s
        .tool("call-scope-1", "scope_book", "book_appointment",
            json!({"service": "Cleaning", "start": s.wall(slots[1]), "patient_name": "Jordan Reyes", "phone": VICTIM}), None)
        .await;
    assert!(
        said.starts_with("Booked Cleaning for Jordan Reyes"),
        "{said}"
    );
    let q = |phone: &str| {
        format!(
            "SELECT count(*) AS n FROM calendar.appointments WHERE org_id = '{}' AND contact_phone = '{phone}' AND status = 'booked'",
            s.c.org
        )
    };
    assert_eq!(
        count_cal(&s, &q(VICTIM)).await,
        1,
        "nothing new under their number"
    );
    assert_eq!(
        count_cal(&s, &q(CALLER)).await,
        1,
        "the booking is the caller's"
    );

    // 5. The caller's own appointment is theirs to find and move (the happy path next door).
    let said = s
        .tool(
            "call-scope-1",
            "scope_find_mine",
            "find_my_appointments",
            json!({}),
            None,
        )
        .await;
    assert!(said.starts_with("You have Cleaning on "), "{said}");
    let said = s
        .tool(
            "call-scope-1",
            "scope_move_mine",
            "reschedule_appointment",
            json!({"start": s.wall(slots[2])}),
            None,
        )
        .await;
    assert!(said.starts_with("Your Cleaning is moved to "), "{said}");
    assert_eq!(
        s.row(&theirs_id).await,
        before,
        "their appointment is still untouched"
    );

    // 6. A withheld number: finding, cancelling and rescheduling are refused aloud, and
    //    calendar is not asked for the number the model names.
    let withheld = Some(json!({"number": "anonymous"}));
    for (id, tool, args) in [
        (
            "anon_find",
            "find_my_appointments",
            json!({"phone": VICTIM}),
        ),
        (
            "anon_cancel",
            "cancel_appointment",
            json!({"appointment_id": theirs_id}),
        ),
        (
            "anon_move",
            "reschedule_appointment",
            json!({"phone": VICTIM, "start": s.wall(slots[2])}),
        ),
    ] {
        let said = s
            .tool("call-scope-anon", id, tool, args, withheld.clone())
            .await;
        assert!(said.contains("withheld"), "{tool}: {said}");
        assert!(!said.contains(&spoken_time), "{tool}: {said}");
    }
    assert_eq!(s.row(&theirs_id).await, before);
}

#[tokio::test]
async fn calendar_refusals_are_spoken_as_what_they_are() {
    let tz = "Australia/Adelaide"; // +09:30/+10:30: half-hour offset
    let today = Utc::now()
        .with_timezone(&tz.parse::<Tz>().unwrap())
        .date_naive();
    let closed = today + Duration::days(4);
    let s = setup(tz, odd_hours(tz, closed)).await;
    let open = today + Duration::days(3);
    let slots = s.slots_on(open).await;
    assert!(slots.len() >= 2, "{slots:?}");
    let book = |id: &'static str, start: String| {
        let s = &s;
        async move {
            s.tool(
                "call-refusals",
                id,
                "book_appointment",
                json!({"service": "Cleaning", "start": start, "patient_name": "Jordan Reyes"}),
                None,
            )
            .await
        }
    };

    // Closed that day.
    let said = book("refuse_closed", format!("{closed}T10:00")).await;
    assert!(!said.contains(UNREACHABLE), "{said}");
    assert!(said.contains("has no openings on"), "{said}");
    assert!(
        said.contains(&closed.format("%A %-d %B").to_string()),
        "{said}"
    );

    // Outside the hours offered that day (after 13:45).
    let said = book("refuse_late", format!("{open}T16:00")).await;
    assert!(!said.contains(UNREACHABLE), "{said}");
    assert!(said.contains("outside the clinic's hours"), "{said}");
    let first = slots[0]
        .with_timezone(&s.tz)
        .format("%-I:%M %p")
        .to_string();
    assert!(said.contains(&first), "the hours offered are said: {said}");

    // Between the offered starts (a minute past the first one).
    let said = book("refuse_grid", s.wall(slots[0] + Duration::minutes(1))).await;
    assert!(!said.contains(UNREACHABLE), "{said}");
    assert!(said.contains("not one of the start times"), "{said}");

    // In the past.
    let said = book(
        "refuse_past",
        format!("{}T10:00", today - Duration::days(1)),
    )
    .await;
    assert!(!said.contains(UNREACHABLE), "{said}");
    assert!(said.contains("has already passed"), "{said}");

    // Taken: the same slot twice.
    let first_booking = book("take_1", s.wall(slots[1])).await;
    assert!(
        first_booking.starts_with("Booked Cleaning"),
        "{first_booking}"
    );
    let said = book("take_2", s.wall(slots[1])).await;
    assert!(!said.contains(UNREACHABLE), "{said}");
    assert!(said.contains("no longer available"), "{said}");
    assert_eq!(
        count_cal(
            &s,
            &format!(
                "SELECT count(*) AS n FROM calendar.appointments WHERE org_id = '{}'",
                s.c.org
            )
        )
        .await,
        1,
        "only the one booking"
    );
}
