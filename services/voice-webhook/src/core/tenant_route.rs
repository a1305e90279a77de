//! Which org (and which of its numbers and agents) a Vapi message belongs to, through voice's
//! routing table: Vapi's phone number id, the clinic's number, the assistant id, then a call
//! seen before.

use serde_json::Value;

use crate::domain::message;
use crate::state::VoiceState;
use crate::store::error::StoreError;
use crate::store::numbers::{self, Route};

/// The route of a message, `None` when no key of it is known.
pub async fn resolve(st: &VoiceState, msg: &Value) -> Result<Option<Route>, StoreError> {
    let owned = route_candidates(msg);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // One read of a system table: no transaction needed (one round trip instead of four).
    let mut conn = servicekit::db::checkout(st.db.pool()).await?;
    Ok(numbers::resolve(&mut conn, &refs).await?)
}

/// The routing keys of a message, most specific first.
pub fn route_candidates(msg: &Value) -> Vec<(&'static str, String)> {
    let mut c = Vec::with_capacity(4);
    if let Some(v) = message::phone_number_id(msg) {
        c.push((numbers::ROUTE_VAPI_NUMBER, v.to_string()));
    }
    if let Some(v) = message::clinic_number(msg) {
        c.push((numbers::ROUTE_NUMBER, v.to_string()));
    }
    if let Some(v) = message::assistant_id(msg) {
        c.push((numbers::ROUTE_ASSISTANT, v.to_string()));
    }
    if let Some(v) = message::call_id(msg) {
        c.push((numbers::ROUTE_CALL, v.to_string()));
    }
    c
}
