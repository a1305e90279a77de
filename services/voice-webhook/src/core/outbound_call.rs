//! Outbound calls through Vapi (`POST /call`) with a per-org concurrency limit: the call row is
//! created first (under an org lock, so the count cannot race), then Vapi is asked; a refusal
//! deletes the row again.

use chrono::Utc;
use serde_json::{Value, json};
use tenancy::OrgId;
use uuid::Uuid;

use crate::clients::vapi::VapiError;
use crate::core::assistant_request::assistant_answer;
use crate::core::clinic;
use crate::domain::call::{CallDirection, CallStatus};
use crate::domain::fields::{self, InvalidField};
use crate::state::VoiceState;
use crate::store::calls::{self as store, NewCall};
use crate::store::error::StoreError;
use crate::store::{agents, numbers};

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("VAPI_API_KEY is not set")]
    VapiNotConfigured,
    /// The org has `MAX_OUTBOUND_CALLS` calls under way.
    #[error("too many concurrent outbound calls")]
    TooMany,
    #[error("vapi refused the call: {0}")]
    VapiUnavailable(#[source] VapiError),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(OutboundError);

/// Who to call, from which of our numbers, with which agent.
#[derive(Debug, Clone)]
pub struct OutboundInput {
    pub agent_id: Uuid,
    pub number_id: Uuid,
    pub customer_number: String,
    pub customer_name: Option<String>,
}

/// A started call: our id and Vapi's (as Vapi answered it).
#[derive(Debug, Clone)]
pub struct Started {
    pub id: Uuid,
    pub vapi_call_id: Option<Value>,
    pub status: CallStatus,
}

pub async fn start(
    st: &VoiceState,
    org: OrgId,
    b: OutboundInput,
) -> Result<Started, OutboundError> {
    let customer = fields::e164("customer_number", &b.customer_number)?;
    let name = fields::text("customer_name", b.customer_name, 200, false)?;
    let Some(vapi) = st.vapi.clone() else {
        return Err(OutboundError::VapiNotConfigured);
    };
    let limit = i64::from(st.settings.max_outbound_calls);
    let placeholder = format!("pending:{}", Uuid::new_v4());
    let (agent, number, call) = {
        let (placeholder, customer, name) = (placeholder.clone(), customer.clone(), name.clone());
        st.db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    // One outbound start per org at a time, so the count below cannot race.
                    store::lock_outbound(tx, org).await?;
                    let agent =
                        agents::find_agent(tx, org, b.agent_id)
                            .await?
                            .ok_or_else(|| {
                                InvalidField::new("agent_id", "no such agent in this org")
                            })?;
                    let number = numbers::find_number(tx, org, b.number_id)
                        .await?
                        .ok_or_else(|| {
                            InvalidField::new("number_id", "no such number in this org")
                        })?;
                    if number.vapi_phone_number_id.is_none() {
                        return Err(InvalidField::new(
                            "number_id",
                            "this number is not imported into Vapi",
                        )
                        .into());
                    }
                    if store::active_outbound(tx, org).await? >= limit {
                        return Err(OutboundError::TooMany);
                    }
                    let call = store::ensure_call(
                        tx,
                        &NewCall {
                            org_id: org,
                            vapi_call_id: placeholder,
                            agent_id: Some(agent.id),
                            phone_number_id: Some(number.id),
                            direction: CallDirection::Outbound,
                            from_number: Some(number.number.clone()),
                            to_number: Some(customer),
                            caller_name: Some(name).filter(|n| !n.is_empty()),
                            status: CallStatus::Queued,
                        },
                    )
                    .await?;
                    Ok::<_, OutboundError>((agent, number, call))
                })
            })
            .await?
    };
    // The clinic's zone for "today"; an outbound call is never answered as after hours.
    let mut clinic = clinic::current(st, org).await?;
    clinic.hours = None;
    let answer = assistant_answer(
        &agent,
        None,
        &clinic,
        Some(&customer),
        Utc::now(),
        st.settings.public_webhook_url.as_deref(),
        crate::core::vapi_sync::recorded_credential(st)
            .await
            .as_deref(),
    );
    let mut body = json!({
        "phoneNumberId": number.vapi_phone_number_id,
        "customer": { "number": customer },
        "metadata": { "orgId": org.as_uuid(), "callId": call.id },
    });
    if !name.is_empty() {
        body["customer"]["name"] = json!(name);
    }
    for k in ["assistantId", "assistant", "assistantOverrides"] {
        if let Some(v) = answer.get(k) {
            body[k] = v.clone();
        }
    }
    let created = vapi.create_call(&body).await;
    let call_id = call.id;
    match created {
        Ok(v) => {
            let vapi_id = v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let agent_id = agent.id;
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        store::set_vapi_call_id(tx, org, call_id, &vapi_id).await?;
                        numbers::remember(tx, numbers::ROUTE_CALL, &vapi_id, org, Some(agent_id))
                            .await?;
                        Ok::<_, OutboundError>(())
                    })
                })
                .await?;
            Ok(Started {
                id: call_id,
                vapi_call_id: v.get("id").cloned(),
                status: CallStatus::Queued,
            })
        }
        Err(e) => {
            st.db
                .tenant_tx(org, |tx| {
                    Box::pin(async move {
                        store::delete_call(tx, org, call_id)
                            .await
                            .map_err(OutboundError::from)
                    })
                })
                .await?;
            Err(OutboundError::VapiUnavailable(e))
        }
    }
}
