//! "Automatic tool registration": the global Vapi tools (one per voice tool, with its JSON
//! schema and our server URL) are upserted by name and their ids recorded in `vapi_tools`.
//! Listing Vapi's tools first means a lost local record never creates a duplicate.

use diesel::{ExpressionMethods as _, QueryDsl as _};
use diesel_async::RunQueryDsl as _;
use serde_json::{Value, json};

use crate::state::VoiceState;
use crate::store::schema::vapi_tools;

/// The function tool definitions voice serves (spec §6 body shape).
pub fn definitions(server_url: Option<&str>) -> Vec<(String, Value)> {
    let string = |d: &str| json!({ "type": "string", "description": d });
    let tools = [
        (
            "check_availability",
            "List open appointment times for a service, on a given day or the next ones.",
            json!({ "service": string("Service name"), "date": { "type": "string", "format": "date", "description": "Day wanted (YYYY-MM-DD), optional" } }),
            vec!["service"],
        ),
        (
            "book_appointment",
            "Book an appointment at a time the caller accepted.",
            json!({ "service": string("Service name"), "start": string("Start time, ISO 8601 with offset"), "patient_name": string("Caller's full name"), "notes": string("Anything the clinic should know") }),
            vec!["service", "start", "patient_name"],
        ),
        (
            "reschedule_appointment",
            "Move the caller's appointment to a new time.",
            json!({ "appointment_id": string("Appointment id, when known"), "start": string("New start time, ISO 8601 with offset") }),
            vec!["start"],
        ),
        (
            "cancel_appointment",
            "Cancel the caller's appointment.",
            json!({ "appointment_id": string("Appointment id, when known"), "reason": string("Why") }),
            vec![],
        ),
        (
            "find_my_appointments",
            "List the caller's upcoming appointments.",
            json!({}),
            vec![],
        ),
        (
            "take_message",
            "Take a message for the clinic's staff.",
            json!({ "message": string("The message"), "name": string("Caller's name"), "callback_number": string("Number to call back") }),
            vec!["message"],
        ),
    ];
    tools
        .into_iter()
        .map(|(name, description, properties, required)| {
            let mut def = json!({
                "type": "function",
                "function": { "name": name, "description": description,
                              "parameters": { "type": "object", "properties": properties, "required": required } },
                "messages": [{ "type": "request-response-delayed", "timingMilliseconds": 2000, "content": "One moment while I check." }],
                "parameters": [{ "key": "caller", "value": "{{ customer.number }}" }],
            });
            if let Some(url) = server_url {
                def["server"] = json!({ "url": url, "timeoutSeconds": 8 });
            }
            (name.to_string(), def)
        })
        .collect()
}

/// Creates missing tools, updates changed ones, records ids; returns a one-line report.
pub async fn sync_tools(st: &VoiceState) -> anyhow::Result<String> {
    let vapi = st
        .vapi
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("VAPI_API_KEY is not set"))?;
    let remote = vapi.list_tools().await?;
    let recorded: Vec<(String, String, Value)> = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_tools::table
                    .select((
                        vapi_tools::name,
                        vapi_tools::vapi_tool_id,
                        vapi_tools::definition,
                    ))
                    .load::<(String, String, Value)>(tx)
                    .await
                    .map_err(anyhow_db)
            })
        })
        .await?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for (name, def) in definitions(st.settings.public_webhook_url.as_deref()) {
        let remote_id = remote
            .iter()
            .find(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name.as_str()))
            .and_then(|t| t.get("id").and_then(Value::as_str))
            .map(str::to_string);
        let mine = recorded.iter().find(|(n, _, _)| *n == name);
        let id = match remote_id {
            None => {
                created += 1;
                let made = vapi.create_tool(&def).await?;
                made.get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("vapi created tool {name} without an id"))?
            }
            Some(id) if mine.is_some_and(|(_, rid, d)| *rid == id && *d == def) => {
                unchanged += 1;
                id
            }
            Some(id) => {
                updated += 1;
                let mut patch = def.clone();
                if let Some(o) = patch.as_object_mut() {
                    o.remove("type"); // a tool's type cannot change
                }
                vapi.update_tool(&id, &patch).await?;
                id
            }
        };
        let (n, d) = (name.clone(), def.clone());
        st.db
            .system_tx(|tx| {
                Box::pin(async move {
                    diesel::insert_into(vapi_tools::table)
                        .values((
                            vapi_tools::name.eq(&n),
                            vapi_tools::vapi_tool_id.eq(&id),
                            vapi_tools::definition.eq(&d),
                        ))
                        .on_conflict(vapi_tools::name)
                        .do_update()
                        .set((
                            vapi_tools::vapi_tool_id.eq(&id),
                            vapi_tools::definition.eq(&d),
                            vapi_tools::synced_at.eq(diesel::dsl::now),
                        ))
                        .execute(tx)
                        .await
                        .map_err(anyhow_db)
                })
            })
            .await?;
    }
    let report = format!("vapi tools: {created} created, {updated} updated, {unchanged} unchanged");
    tracing::info!("{report}");
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
enum SyncDbError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] servicekit::db::PoolUnavailable),
}

fn anyhow_db(e: diesel::result::Error) -> SyncDbError {
    SyncDbError::Db(e)
}

/// The server messages our assistants ask for (spec §2: always given explicitly).
const SERVER_MESSAGES: &[&str] = &[
    "end-of-call-report",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "hang",
];

/// The Vapi assistant body of an agent: its prompt and first message, the ids of its enabled
/// tools (as recorded by `sync_tools`), our server URL.
pub fn assistant_body(
    agent: &crate::store::agents::AgentRow,
    tool_ids: &[String],
    server_url: Option<&str>,
) -> Value {
    let mut model = json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{ "role": "system", "content": agent.system_prompt }],
        "toolIds": tool_ids,
    });
    if agent.system_prompt.is_empty() {
        model["messages"] = json!([]);
    }
    let mut body = json!({
        "name": agent.name.chars().take(40).collect::<String>(),
        "firstMessage": agent.first_message,
        "model": model,
        "serverMessages": SERVER_MESSAGES,
        "metadata": { "orgId": agent.org_id, "agentId": agent.id },
    });
    if let Some(url) = server_url {
        body["server"] = json!({ "url": url });
    }
    if !agent.voice.is_empty() {
        body["voice"] = json!({ "provider": "vapi", "voiceId": agent.voice });
    }
    body
}

/// Creates or updates the agent's Vapi assistant (no-op without a Vapi key) and records its id
/// and route. Errors are returned for the caller to report; the agent itself is already saved.
pub async fn sync_agent(
    st: &VoiceState,
    agent: &crate::store::agents::AgentRow,
) -> anyhow::Result<Option<String>> {
    let Some(vapi) = st.vapi.as_ref() else {
        return Ok(None);
    };
    let wanted = agent.enabled_tools.clone();
    let ids: Vec<String> = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_tools::table
                    .filter(vapi_tools::name.eq_any(wanted))
                    .order(vapi_tools::name.asc())
                    .select(vapi_tools::vapi_tool_id)
                    .load::<String>(tx)
                    .await
                    .map_err(anyhow_db)
            })
        })
        .await?;
    let body = assistant_body(agent, &ids, st.settings.public_webhook_url.as_deref());
    let id = match &agent.vapi_assistant_id {
        Some(id) => {
            vapi.update_assistant(id, &body).await?;
            id.clone()
        }
        None => {
            let made = vapi.create_assistant(&body).await?;
            made.get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("vapi created an assistant without an id"))?
        }
    };
    let org = tenancy::OrgId(agent.org_id);
    let (agent_id, vid) = (agent.id, id.clone());
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                crate::store::agents::set_vapi_assistant_id(tx, org, agent_id, &vid).await?;
                crate::store::numbers::remember(
                    tx,
                    crate::store::numbers::ROUTE_ASSISTANT,
                    &vid,
                    org,
                    Some(agent_id),
                )
                .await?;
                Ok::<_, SyncDbError>(())
            })
        })
        .await?;
    Ok(Some(id))
}

/// Points a Vapi phone number at our server URL with no fixed assistant, so every call starts
/// with an `assistant-request` (spec §6). No-op without a Vapi key.
pub async fn link_number(st: &VoiceState, vapi_phone_number_id: &str) -> anyhow::Result<()> {
    let Some(vapi) = st.vapi.as_ref() else {
        return Ok(());
    };
    let mut body = json!({ "assistantId": null, "squadId": null, "workflowId": null });
    if let Some(url) = st.settings.public_webhook_url.as_deref() {
        body["server"] = json!({ "url": url });
    }
    vapi.update_phone_number(vapi_phone_number_id, &body)
        .await?;
    Ok(())
}
