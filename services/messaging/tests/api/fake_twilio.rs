//! A fake Twilio REST API (wiremock) that keeps the messages it created: `GET /Accounts/{sid}.json`
//! (credential check), `POST …/Messages.json` (form encoded, basic auth; scripted answers: 429,
//! 500, an error code, or a timeout *after* creating the message) and `GET …/Messages.json?To=`
//! (the lookup). Every request is recorded by wiremock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use testkit::wiremock::matchers::{method, path_regex};
use testkit::wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "auth-token-0123456789abcdef";
pub const OTHER_ACCOUNT_SID: &str = "ACfedcba9876543210fedcba9876543210";
pub const OTHER_AUTH_TOKEN: &str = "other-token-0123456789abcdef";
pub const FROM: &str = "+15005550006";

/// What the next create answers.
#[derive(Debug, Clone)]
pub enum Next {
    Status(u16),
    Error(u16, i64),
    /// Creates the message, then answers too late for the client's timeout.
    CreateThenTimeout,
    /// Answers too late and never creates the message.
    TimeoutWithoutCreate,
}

#[derive(Default)]
pub struct State {
    pub created: Vec<Value>,
    pub script: VecDeque<Next>,
    /// When each message was created (`To`, instant), for latency measurements.
    pub created_at: Vec<(String, std::time::Instant)>,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

fn authorized(r: &Request) -> Option<(String, String)> {
    let h = r.headers.get("authorization")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(h.strip_prefix("Basic ")?)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    let ok =
        (u == ACCOUNT_SID && p == AUTH_TOKEN) || (u == OTHER_ACCOUNT_SID && p == OTHER_AUTH_TOKEN);
    ok.then(|| (u.to_string(), p.to_string()))
}

fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .set_body_json(json!({"code": 20003, "message": "Authenticate", "status": 401}))
}

struct Accounts;
impl Respond for Accounts {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        match authorized(r) {
            Some((sid, _)) => {
                ResponseTemplate::new(200).set_body_json(json!({"sid": sid, "status": "active"}))
            }
            None => unauthorized(),
        }
    }
}

struct Create(Arc<Mutex<State>>);
impl Respond for Create {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        if authorized(r).is_none() {
            return unauthorized();
        }
        let form: Vec<(String, String)> = form_urlencoded::parse(&r.body).into_owned().collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut st = self.0.lock().unwrap();
        let next = st.script.pop_front();
        match next {
            Some(Next::Status(s)) => {
                return ResponseTemplate::new(s).set_body_json(json!({"code": if s == 429 { 20429 } else { 20500 }, "message": "try later", "status": s}));
            }
            Some(Next::Error(s, code)) => {
                return ResponseTemplate::new(s).set_body_json(json!({"code": code, "message": format!("error {code}"), "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": s}));
            }
            Some(Next::TimeoutWithoutCreate) => {
                return ResponseTemplate::new(500).set_delay(Duration::from_millis(2500));
            }
            _ => {}
        }
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        let msg = json!({
            "sid": sid, "account_sid": ACCOUNT_SID, "to": get("To"), "from": get("From"),
            "messaging_service_sid": get("MessagingServiceSid"),
            "body": get("Body"), "status": "queued", "direction": "outbound-api",
            "num_segments": "1", "error_code": null, "error_message": null,
            "status_callback": get("StatusCallback"),
            "date_created": "Thu, 03 Dec 2026 12:00:00 +0000",
        });
        st.created.push(msg.clone());
        st.created_at
            .push((get("To").unwrap_or_default(), std::time::Instant::now()));
        let t = ResponseTemplate::new(201).set_body_json(msg);
        if matches!(next, Some(Next::CreateThenTimeout)) {
            t.set_delay(Duration::from_millis(2500))
        } else {
            t
        }
    }
}

struct List(Arc<Mutex<State>>);
impl Respond for List {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        if authorized(r).is_none() {
            return unauthorized();
        }
        let to = r
            .url
            .query_pairs()
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.into_owned());
        let st = self.0.lock().unwrap();
        let msgs: Vec<Value> = st
            .created
            .iter()
            .rev()
            .filter(|m| to.is_none() || m["to"].as_str() == to.as_deref())
            .cloned()
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"messages": msgs, "page": 0, "page_size": 50}))
    }
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("GET"))
            .and(path_regex(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$"))
            .respond_with(Accounts)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$",
            ))
            .respond_with(Create(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$",
            ))
            .respond_with(List(state.clone()))
            .mount(&server)
            .await;
        FakeTwilio {
            server: Arc::new(server),
            state,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn script(&self, next: Vec<Next>) {
        self.state.lock().unwrap().script.extend(next);
    }

    /// The messages Twilio created, oldest first.
    pub fn created(&self) -> Vec<Value> {
        self.state.lock().unwrap().created.clone()
    }

    /// The create requests received (form pairs), including refused ones.
    pub async fn create_requests(&self) -> Vec<Vec<(String, String)>> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/Messages.json"))
            .map(|r| form_urlencoded::parse(&r.body).into_owned().collect())
            .collect()
    }

    pub async fn lookups(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path().ends_with("/Messages.json"))
            .count()
    }
}
