//! The call row of a Vapi message: created on first sight (with our phone number and its
//! agent, else the org's default agent), and its Vapi call id remembered in the routing table
//! so later messages of the call find the org.

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde_json::Value;
use tenancy::OrgId;

use crate::domain::call::{CallDirection, CallStatus};
use crate::domain::message;
use crate::store::calls::{self, CallRow, NewCall};
use crate::store::numbers::{self, Route};

/// The call for the message's Vapi call id; `None` when the message names no call.
pub async fn ensure_call(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    route: Option<&Route>,
    msg: &Value,
) -> QueryResult<Option<CallRow>> {
    let Some(vapi_id) = message::call_id(msg) else {
        return Ok(None);
    };
    if let Some(existing) = calls::find_call_by_vapi(tx, org, vapi_id).await? {
        return Ok(Some(existing));
    }
    let number_id = route.and_then(|r| r.phone_number_id);
    // A number's route carries the agent assigned to it (kept in step by the numbers API).
    let mut agent_id = route.and_then(|r| r.agent_id);
    if agent_id.is_none() {
        agent_id = crate::store::agents::default_agent(tx, org)
            .await?
            .map(|a| a.id);
    }
    let dir = message::direction(msg);
    let clinic = message::clinic_number(msg).map(str::to_string);
    let other = message::customer_number(msg).map(str::to_string);
    let (from, to) = if dir == CallDirection::Outbound {
        (clinic, other)
    } else {
        (other, clinic)
    };
    let row = calls::ensure_call(
        tx,
        &NewCall {
            org_id: org,
            vapi_call_id: vapi_id.to_string(),
            agent_id,
            phone_number_id: number_id,
            direction: dir,
            from_number: from,
            to_number: to,
            caller_name: message::customer_name(msg).map(str::to_string),
            status: CallStatus::Queued,
        },
    )
    .await?;
    numbers::remember(tx, numbers::ROUTE_CALL, vapi_id, org, row.agent_id).await?;
    Ok(Some(row))
}
