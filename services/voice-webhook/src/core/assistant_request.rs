//! Answers to `assistant-request` (which assistant takes the call: the number's agent, inline
//! or by Vapi id, with the clinic's variables and its after-hours behaviour) and
//! `transfer-destination-request`. The clinic's zone and hours are calendar's (`core::clinic`);
//! the inline assistant carries the agent's tools and the server messages we act on.

use chrono::Utc;
use serde_json::{Value, json};

use crate::core::clinic::{self, ClinicNow};
use crate::core::{call_record, vapi_sync};
use crate::domain::{message, speak};
use crate::state::VoiceState;
use crate::store::agents::{self, AgentRow, Profile};
use crate::store::error::StoreError;
use crate::store::numbers::Route;

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(AnswerError);

const NOT_IN_SERVICE: &str = "Sorry, this line is not in service.";

/// The agent answering on the route's number (its assigned agent, else the org's default), the
/// org's profile, and the call row created for the call.
async fn agent_for(
    st: &VoiceState,
    route: &Route,
    msg: &Value,
) -> Result<(Option<AgentRow>, Option<Profile>), AnswerError> {
    let org = route.org_id;
    let (route, msg) = (route.clone(), msg.clone());
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let call = call_record::ensure_call(tx, org, Some(&route), &msg).await?;
                let mut agent = None;
                if let Some(id) = call.as_ref().and_then(|c| c.agent_id).or(route.agent_id) {
                    agent = agents::find_agent(tx, org, id).await?;
                }
                if agent.is_none() {
                    agent = agents::default_agent(tx, org).await?;
                }
                let profile = agents::find_profile(tx, org).await?;
                Ok::<_, AnswerError>((agent, profile))
            })
        })
        .await
}

pub async fn assistant_request(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, AnswerError> {
    let Some(route) = route else {
        return Ok(json!({ "error": NOT_IN_SERVICE }));
    };
    // Vapi gives 7.5 s end to end: past our budget, say something rather than nothing. The
    // clinic's zone and hours are asked of calendar meanwhile (bounded by their own timeout).
    let (found, answer) = tokio::join!(
        tokio::time::timeout(
            st.settings.assistant_request_timeout,
            agent_for(st, route, msg),
        ),
        clinic::ask_calendar(st, route.org_id),
    );
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
    // The call may ask the knowledge base soon: bring calendar's facts up to date meanwhile.
    crate::core::knowledge::refresh_if_stale(st, route.org_id);
    let now = clinic::resolve(answer.as_ref(), profile.as_ref());
    let name = profile.as_ref().map(|p| p.name.clone());
    if let Some(a) = answer {
        // Off the answer's path: the fallback for a later call when calendar is away.
        let (st, org) = (st.clone(), route.org_id);
        tokio::spawn(async move {
            if let Err(e) = clinic::remember(&st, org, &a, profile.as_ref()).await {
                tracing::warn!(error = %e, "keeping calendar's clinic answer failed");
            }
        });
    }
    Ok(assistant_answer(
        &agent,
        name.as_deref(),
        &now,
        message::customer_number(msg),
        Utc::now(),
        st.settings.public_webhook_url.as_deref(),
        vapi_sync::recorded_credential(st).await.as_deref(),
    ))
}

/// `assistantId` + variables for agents synced to Vapi, a full inline assistant otherwise (with
/// the agent's tools, our server URL and the server messages we act on). `clinic` gives the
/// zone "today" is said in and the hours that decide the after-hours behaviour.
pub fn assistant_answer(
    agent: &AgentRow,
    clinic_name: Option<&str>,
    clinic: &ClinicNow,
    caller: Option<&str>,
    now: chrono::DateTime<Utc>,
    server_url: Option<&str>,
    credential_id: Option<&str>,
) -> Value {
    let name = clinic_name.unwrap_or(agent.name.as_str());
    let tz_name = clinic.tz().name();
    let tz = clinic.tz();
    let today = speak::today(now, tz);
    // After hours (by the clinic's hours in calendar): the after-hours message is said first
    // and the agent takes a message instead of booking.
    let closed = clinic.closed_at(now);
    let after_hours = agent.after_hours_message.clone().unwrap_or_else(|| {
        format!("Thank you for calling {name}. We are closed right now, but I can take a message for the team.")
    });
    let variables = json!({
        "clinicName": name,
        "timezone": tz_name,
        "today": today.to_string(),
        "todaySpoken": speak::day(today),
        "nowLocal": speak::time_of_day(now, tz),
        "orgId": agent.org_id,
        "agentId": agent.id,
        "callerNumber": caller,
        "afterHoursMessage": agent.after_hours_message,
        "afterHours": closed,
        "hoursSource": clinic.source.as_str(),
    });
    if let Some(id) = &agent.vapi_assistant_id {
        let mut overrides = json!({ "variableValues": variables,
                                    "serverMessages": vapi_sync::SERVER_MESSAGES,
                                    "analysisPlan": vapi_sync::analysis_plan() });
        if closed {
            overrides["firstMessage"] = json!(after_hours);
        }
        return json!({ "assistantId": id, "assistantOverrides": overrides });
    }
    let first = if closed {
        after_hours
    } else if agent.first_message.is_empty() {
        format!("Thank you for calling {name}, how can I help you today?")
    } else {
        agent.first_message.clone()
    };
    let mut prompt = format!(
        "{}\nYou are the receptionist of {name}. Today is {} ({}); the clinic's time zone is {tz_name}.",
        agent.system_prompt,
        speak::day(today),
        today
    );
    if closed {
        prompt
            .push_str(" The clinic is closed now: take a message with take_message; do not book.");
    }
    // The agent's enabled tools; after hours only the message tool.
    let tools: Vec<Value> = vapi_sync::definitions(server_url, credential_id)
        .into_iter()
        .filter(|(n, _)| agent.enabled_tools.contains(n))
        .filter(|(n, _)| !closed || n == "take_message")
        .map(|(_, def)| def)
        .collect();
    let mut assistant = json!({
        "name": agent.name.chars().take(40).collect::<String>(),
        "firstMessage": first,
        "model": { "provider": "openai", "model": "gpt-4o",
                   "messages": [{ "role": "system", "content": prompt.trim() }],
                   "tools": tools },
        "serverMessages": vapi_sync::SERVER_MESSAGES,
        "analysisPlan": vapi_sync::analysis_plan(),
        "metadata": { "orgId": agent.org_id, "agentId": agent.id },
    });
    if let Some(url) = server_url {
        assistant["server"] = vapi_sync::server(url, credential_id);
        assistant["model"]["knowledgeBase"] = vapi_sync::knowledge_base(url, credential_id);
    }
    if !agent.voice.is_empty() {
        assistant["voice"] = json!({ "provider": "vapi", "voiceId": agent.voice });
    }
    json!({ "assistant": assistant, "assistantOverrides": { "variableValues": variables } })
}

/// Where `transferCall` goes: the agent's transfer number while the clinic is open by its hours
/// in calendar (unknown hours count as open); after hours nobody is at the desk, so the caller
/// is offered a message instead.
pub async fn transfer_destination(
    st: &VoiceState,
    route: Option<&Route>,
    msg: &Value,
) -> Result<Value, AnswerError> {
    let Some(route) = route else {
        return Ok(json!({ "error": "Sorry, I cannot transfer this call." }));
    };
    let ((agent, _), now) = tokio::try_join!(agent_for(st, route, msg), async {
        Ok(clinic::current(st, route.org_id).await?)
    })?;
    let Some(number) = agent.and_then(|a| a.transfer_number) else {
        return Ok(
            json!({ "error": "Sorry, there is nobody to transfer you to right now; I can take a message instead." }),
        );
    };
    if now.closed_at(Utc::now()) {
        return Ok(
            json!({ "error": "Sorry, the team is not in right now, so I cannot transfer you; I can take a message instead." }),
        );
    }
    Ok(json!({
        "destination": { "type": "number", "number": number, "message": "Transferring you now." },
        "message": { "type": "request-start", "content": "Transferring you now." }
    }))
}
