//! Answers to `assistant-request` and `transfer-destination-request`.

use chrono::Utc;
use serde_json::{Value, json};
use servicekit::ApiError;

use crate::domain::{message, speak};
use crate::state::VoiceState;
use crate::store::agents::{self, AgentRow, Profile};
use crate::store::numbers::Route;
use crate::webhook::apply;

const NOT_IN_SERVICE: &str = "Sorry, this line is not in service.";

/// The agent answering on the route's number (its assigned agent, else the org's default), the
/// org's profile, and the call row created for the call.
async fn agent_for(
    st: &VoiceState,
    route: &Route,
    msg: &Value,
) -> Result<(Option<AgentRow>, Option<Profile>), ApiError> {
    let org = super::org_of(route);
    let (route, msg) = (route.clone(), msg.clone());
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = apply::ensure_call(tx, org, Some(&route), &msg).await?;
                let mut agent = None;
                if let Some(id) = call.as_ref().and_then(|c| c.agent_id).or(route.agent_id) {
                    agent = agents::find_agent(tx, org, id).await?;
                }
                if agent.is_none() {
                    agent = agents::default_agent(tx, org).await?;
                }
                let profile = agents::find_profile(tx, org).await?;
                Ok::<_, apply::ApplyError>((agent, profile))
            })
        })
        .await
        .map_err(ApiError::from)
}

pub async fn assistant_request(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, ApiError> {
    let Some(route) = route else {
        return Ok(json!({ "error": NOT_IN_SERVICE }));
    };
    // Vapi gives 7.5 s end to end: past our budget, say something rather than nothing.
    let found = tokio::time::timeout(
        st.settings.assistant_request_timeout,
        agent_for(st, route, msg),
    )
    .await;
    let (agent, profile) = match found {
        Ok(r) => r?,
        Err(_) => {
            return Ok(
                json!({ "error": "Sorry, we cannot take your call right now. Please call again shortly." }),
            );
        }
    };
    let Some(agent) = agent else {
        return Ok(json!({ "error": NOT_IN_SERVICE }));
    };
    Ok(assistant_answer(
        &agent,
        profile.as_ref(),
        message::customer_number(msg),
        Utc::now(),
    ))
}

/// `assistantId` + variables for agents synced to Vapi, a full inline assistant otherwise.
pub fn assistant_answer(
    agent: &AgentRow,
    profile: Option<&Profile>,
    caller: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Value {
    let clinic = profile
        .map(|p| p.name.as_str())
        .unwrap_or(agent.name.as_str());
    let tz_name = profile.map(|p| p.timezone.as_str()).unwrap_or("UTC");
    let tz = speak::zone(tz_name);
    let today = speak::today(now, tz);
    // After hours (the agent has opening hours and now is outside them): the after-hours
    // message is said first and the agent takes a message instead of booking.
    let closed = crate::routes::agents::open_hours(&agent.settings)
        .is_some_and(|h| !crate::domain::hours::is_open(&h, now.with_timezone(&tz).naive_local()));
    let after_hours = agent.after_hours_message.clone().unwrap_or_else(|| {
        format!("Thank you for calling {clinic}. We are closed right now, but I can take a message for the team.")
    });
    let variables = json!({
        "clinicName": clinic,
        "timezone": tz_name,
        "today": today.to_string(),
        "todaySpoken": speak::day(today),
        "nowLocal": speak::time_of_day(now, tz),
        "orgId": agent.org_id,
        "agentId": agent.id,
        "callerNumber": caller,
        "afterHoursMessage": agent.after_hours_message,
        "afterHours": closed,
    });
    if let Some(id) = &agent.vapi_assistant_id {
        let mut overrides = json!({ "variableValues": variables });
        if closed {
            overrides["firstMessage"] = json!(after_hours);
        }
        return json!({ "assistantId": id, "assistantOverrides": overrides });
    }
    let first = if closed {
        after_hours
    } else if agent.first_message.is_empty() {
        format!("Thank you for calling {clinic}, how can I help you today?")
    } else {
        agent.first_message.clone()
    };
    let mut prompt = format!(
        "{}\nYou are the receptionist of {clinic}. Today is {} ({}); the clinic's time zone is {tz_name}.",
        agent.system_prompt,
        speak::day(today),
        today
    );
    if closed {
        prompt
            .push_str(" The clinic is closed now: take a message with take_message; do not book.");
    }
    let mut assistant = json!({
        "name": agent.name,
        "firstMessage": first,
        "model": { "provider": "openai", "model": "gpt-4o",
                   "messages": [{ "role": "system", "content": prompt.trim() }] },
        "metadata": { "orgId": agent.org_id, "agentId": agent.id },
    });
    if !agent.voice.is_empty() {
        assistant["voice"] = json!({ "provider": "vapi", "voiceId": agent.voice });
    }
    json!({ "assistant": assistant, "assistantOverrides": { "variableValues": variables } })
}

pub async fn transfer_destination(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, ApiError> {
    let Some(route) = route else {
        return Ok(json!({ "error": "Sorry, I cannot transfer this call." }));
    };
    let (agent, _) = agent_for(st, route, msg).await?;
    Ok(match agent.and_then(|a| a.transfer_number) {
        Some(number) => json!({
            "destination": { "type": "number", "number": number, "message": "Transferring you now." },
            "message": { "type": "request-start", "content": "Transferring you now." }
        }),
        None => {
            json!({ "error": "Sorry, there is nobody to transfer you to right now; I can take a message instead." })
        }
    })
}
