//! "Automatic tool registration": the global Vapi tools (one per voice tool, with its JSON
//! schema and our server URL) are upserted by name and their ids recorded in `vapi_tools`.
//! Listing Vapi's tools first means a lost local record never creates a duplicate.
//!
//! Every server config we send (tools, assistants, phone numbers) carries the `credentialId` of
//! the Vapi credential that makes Vapi authenticate its webhooks the way we check them
//! (vapi-extra §1: there is no `server.secret`): a `bearer` credential carrying
//! `VAPI_WEBHOOK_SECRET` in our header, or an `hmac` credential signing like our verifier. It is
//! created once, its id recorded in `vapi_credentials`, and PATCHed in place when the secret
//! (or the mode or header) changes.

use ring::digest;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tenancy::OrgId;

use crate::clients::vapi::{VapiClient, VapiError};
use crate::config::{VoiceSettings, WebhookAuth};
use crate::state::VoiceState;
use crate::store::agents::{self, AgentRow};
use crate::store::error::StoreError;
use crate::store::{numbers, vapi_credentials, vapi_tools};

#[derive(Debug, thiserror::Error)]
pub enum VapiSyncError {
    #[error("VAPI_API_KEY is not set")]
    NotConfigured,
    #[error(transparent)]
    Vapi(#[from] VapiError),
    /// Vapi answered a create without the new object's id.
    #[error("vapi created {0} without an id")]
    MissingId(String),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(VapiSyncError);

/// Name of our webhook credential, in Vapi (1–40 characters) and in `vapi_credentials`.
pub const CREDENTIAL_NAME: &str = "voxanne voice-webhook";
const CREDENTIAL_ROW: &str = "webhook";

/// The Vapi credential body that makes Vapi authenticate our webhooks as `s` checks them
/// (vapi-extra §1.3/§1.4); `None` without a webhook secret.
pub fn credential_body(s: &VoiceSettings) -> Option<Value> {
    let secret = s.webhook_secrets.first()?.expose_secret().to_string();
    let plan = match s.webhook_auth {
        WebhookAuth::Secret if s.secret_header.eq_ignore_ascii_case("authorization") => json!({
            "type": "bearer", "token": secret, "headerName": "Authorization",
            "bearerPrefixEnabled": true,
        }),
        WebhookAuth::Secret => json!({
            "type": "bearer", "token": secret, "headerName": s.secret_header,
            "bearerPrefixEnabled": false,
        }),
        WebhookAuth::Hmac => json!({
            "type": "hmac", "secretKey": secret, "algorithm": "sha256",
            "signatureHeader": "x-signature", "timestampHeader": "x-timestamp",
            "payloadFormat": "{timestamp}.{body}", "includeTimestamp": true,
            "signatureEncoding": "hex", "secretIsBase64": false,
        }),
    };
    Some(json!({ "provider": "webhook", "name": CREDENTIAL_NAME, "authenticationPlan": plan }))
}

/// SHA-256 (hex) of the body last sent: tells a rotated secret from an unchanged one without
/// storing the secret.
fn fingerprint(body: &Value) -> String {
    let d = digest::digest(&digest::SHA256, body.to_string().as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of our webhook credential in Vapi, created or updated as needed: the recorded one
/// when what we would send is unchanged (no call to Vapi), PATCHed when the secret rotated,
/// found by name when the local record is lost, created otherwise. `None` without a secret
/// (Vapi could not authenticate anyway; the start-up log says so).
pub async fn ensure_credential(
    st: &VoiceState,
    vapi: &VapiClient,
) -> Result<Option<String>, VapiSyncError> {
    let Some(body) = credential_body(&st.settings) else {
        return Ok(None);
    };
    let print = fingerprint(&body);
    // Fast path: unchanged since the last sync (no lock, no call to Vapi).
    let recorded = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_credentials::find(tx, CREDENTIAL_ROW)
                    .await
                    .map_err(VapiSyncError::from)
            })
        })
        .await?;
    if let Some((id, p)) = recorded
        && p == print
    {
        return Ok(Some(id));
    }
    // Otherwise under an advisory lock held for the Vapi calls, so replicas starting together
    // (or an agent saved during the start-up sync) never create two credentials.
    let vapi = vapi.clone();
    let id = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_credentials::lock(tx).await?;
                let recorded = vapi_credentials::find(tx, CREDENTIAL_ROW).await?;
                let id = match recorded {
                    Some((id, p)) if p == print => return Ok(id),
                    Some((id, _)) => match vapi.update_credential(&id, &body).await {
                        Ok(_) => id,
                        // Deleted in Vapi's dashboard: make a new one.
                        Err(VapiError::Status { status: 404, .. }) => {
                            create_credential(&vapi, &body).await?
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => {
                        let remote = vapi.list_credentials().await?;
                        let found = remote
                            .iter()
                            .find(|c| {
                                c.get("name").and_then(Value::as_str) == Some(CREDENTIAL_NAME)
                            })
                            .and_then(|c| c.get("id").and_then(Value::as_str))
                            .map(str::to_string);
                        match found {
                            // Its secret cannot be read back: send ours.
                            Some(id) => {
                                vapi.update_credential(&id, &body).await?;
                                id
                            }
                            None => create_credential(&vapi, &body).await?,
                        }
                    }
                };
                vapi_credentials::upsert(tx, CREDENTIAL_ROW, &id, &print).await?;
                tracing::info!(credential_id = %id, "vapi webhook credential in place");
                Ok::<_, VapiSyncError>(id)
            })
        })
        .await?;
    Ok(Some(id))
}

async fn create_credential(vapi: &VapiClient, body: &Value) -> Result<String, VapiSyncError> {
    let made = vapi.create_credential(body).await?;
    made.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| VapiSyncError::MissingId("the webhook credential".into()))
}

/// The webhook credential id recorded by the last sync, without calling Vapi (for answers
/// given during a live call); `None` when none is recorded or the read failed (logged).
pub async fn recorded_credential(st: &VoiceState) -> Option<String> {
    let found = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_credentials::find(tx, CREDENTIAL_ROW)
                    .await
                    .map_err(VapiSyncError::from)
            })
        })
        .await;
    match found {
        Ok(row) => row.map(|(id, _)| id),
        Err(e) => {
            tracing::warn!(error = %e, "reading the recorded vapi credential failed");
            None
        }
    }
}

/// A Vapi `server` object: our URL and the credential Vapi authenticates with.
pub fn server(url: &str, credential_id: Option<&str>) -> Value {
    let mut s = json!({ "url": url });
    if let Some(id) = credential_id {
        s["credentialId"] = json!(id);
    }
    s
}

/// The assistant model's custom knowledge base (vapi-extra §3.1: inline on the model, not the
/// dropped `knowledgeBaseId`): Vapi POSTs `knowledge-base-request` to our server URL with our
/// webhook credential. Our answer comes within `VOICE_KB_TIMEOUT_MS`; the 2 s server timeout
/// only bounds the silence a caller could hear if we were unreachable.
pub fn knowledge_base(url: &str, credential_id: Option<&str>) -> Value {
    let mut s = server(url, credential_id);
    s["timeoutSeconds"] = json!(2);
    json!({ "provider": "custom-knowledge-base", "server": s })
}

/// The function tool definitions voice serves (spec §6 body shape), each with our server URL
/// and webhook credential.
pub fn definitions(server_url: Option<&str>, credential_id: Option<&str>) -> Vec<(String, Value)> {
    let string = |d: &str| json!({ "type": "string", "description": d });
    let tools = [
        (
            "check_availability",
            "List open appointment times for a service, on a given day or the next ones.",
            json!({ "service": string("Service name"), "date": { "type": "string", "format": "date", "description": "Day wanted (YYYY-MM-DD), optional" }, "provider": string("The provider (dentist, hygienist, room) the caller asked for, e.g. \"Dr. Patel\"; omit when they have no preference") }),
            vec!["service"],
        ),
        (
            "book_appointment",
            "Book an appointment at a time the caller accepted.",
            json!({ "service": string("Service name"), "start": string("Start time, ISO 8601 with offset"), "patient_name": string("Caller's full name"), "provider": string("The provider the caller asked for, e.g. \"Dr. Patel\"; omit when they have no preference"), "notes": string("Anything the clinic should know") }),
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
                def["server"] = server(url, credential_id);
                def["server"]["timeoutSeconds"] = json!(8);
            }
            (name.to_string(), def)
        })
        .collect()
}

/// Creates missing tools, updates changed ones, records ids; returns a one-line report.
pub async fn sync_tools(st: &VoiceState) -> Result<String, VapiSyncError> {
    let vapi = st.vapi.as_ref().ok_or(VapiSyncError::NotConfigured)?;
    let remote = vapi.list_tools().await?;
    let recorded: Vec<(String, String, Value)> = st
        .db
        .system_tx(|tx| {
            Box::pin(async move { vapi_tools::recorded(tx).await.map_err(VapiSyncError::from) })
        })
        .await?;
    let credential = ensure_credential(st, vapi).await?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for (name, def) in definitions(
        st.settings.public_webhook_url.as_deref(),
        credential.as_deref(),
    ) {
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
                    .ok_or_else(|| VapiSyncError::MissingId(format!("tool {name}")))?
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
                    vapi_tools::upsert(tx, &n, &id, &d)
                        .await
                        .map_err(VapiSyncError::from)
                })
            })
            .await?;
    }
    let report = format!("vapi tools: {created} created, {updated} updated, {unchanged} unchanged");
    tracing::info!("{report}");
    Ok(report)
}

/// The server messages our assistants ask for (spec §2: always given explicitly).
pub const SERVER_MESSAGES: &[&str] = &[
    "end-of-call-report",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "hang",
];

/// The end-of-call analysis our assistants ask Vapi for (vapi-extra §2.1): the summary and
/// structured data whose keys are `call.ended.v1`'s `analysis` fields (lead-scoring scores from
/// them; ADR 0017). `structuredDataPlan` is off by default in Vapi, so it is always sent.
pub fn analysis_plan() -> serde_json::Value {
    let text = |d: &str| json!({"type": "string", "description": d});
    let flag = |d: &str| json!({"type": "boolean", "description": d});
    json!({
        "summaryPlan": {"enabled": true, "timeoutSeconds": 10},
        "structuredDataPlan": {"enabled": true, "timeoutSeconds": 10, "schema": {
            "type": "object",
            "required": ["intent"],
            "properties": {
                "intent": {"type": "string", "description": "Why the caller called.",
                           "enum": ["book", "reschedule", "cancel", "price_question",
                                    "insurance_question", "emergency", "other"]},
                "service_of_interest": text("The treatment or service the caller asked about, if any."),
                "quoted_price": {"type": "number", "description": "A price the assistant told the caller, in currency units."},
                "currency": text("ISO 4217 code of quoted_price, e.g. USD."),
                "urgency": {"type": "string", "enum": ["low", "normal", "high", "emergency"],
                            "description": "How urgent the caller's need is."},
                "new_patient": flag("The caller has never been a patient of the clinic."),
                "insurance_mentioned": flag("The caller mentioned insurance."),
                "callback_requested": flag("The caller asked the clinic to call back."),
                "wrong_number": flag("The caller meant to reach someone else."),
                "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]}
            }
        }}
    })
}

/// The Vapi assistant body of an agent: its prompt and first message, the ids of its enabled
/// tools (as recorded by `sync_tools`), our server URL and webhook credential, and our custom
/// knowledge base on its model.
pub fn assistant_body(
    agent: &AgentRow,
    tool_ids: &[String],
    server_url: Option<&str>,
    credential_id: Option<&str>,
) -> Value {
    let mut model = json!({
        "provider": "openai", "model": "gpt-4o",
        "messages": [{ "role": "system", "content": agent.system_prompt }],
        "toolIds": tool_ids,
    });
    if agent.system_prompt.is_empty() {
        model["messages"] = json!([]);
    }
    if let Some(url) = server_url {
        model["knowledgeBase"] = knowledge_base(url, credential_id);
    }
    let mut body = json!({
        "name": agent.name.chars().take(40).collect::<String>(),
        "firstMessage": agent.first_message,
        "model": model,
        "serverMessages": SERVER_MESSAGES,
        "analysisPlan": analysis_plan(),
        "metadata": { "orgId": agent.org_id, "agentId": agent.id },
    });
    if let Some(url) = server_url {
        body["server"] = server(url, credential_id);
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
    agent: &AgentRow,
) -> Result<Option<String>, VapiSyncError> {
    let Some(vapi) = st.vapi.as_ref() else {
        return Ok(None);
    };
    let wanted = agent.enabled_tools.clone();
    let ids: Vec<String> = st
        .db
        .system_tx(|tx| {
            Box::pin(async move {
                vapi_tools::ids_of(tx, wanted)
                    .await
                    .map_err(VapiSyncError::from)
            })
        })
        .await?;
    let credential = ensure_credential(st, vapi).await?;
    let body = assistant_body(
        agent,
        &ids,
        st.settings.public_webhook_url.as_deref(),
        credential.as_deref(),
    );
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
                .ok_or_else(|| VapiSyncError::MissingId("an assistant".into()))?
        }
    };
    let org: OrgId = agent.org_id;
    let (agent_id, vid) = (agent.id, id.clone());
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                agents::set_vapi_assistant_id(tx, org, agent_id, &vid).await?;
                numbers::remember(tx, numbers::ROUTE_ASSISTANT, &vid, org, Some(agent_id)).await?;
                Ok::<_, VapiSyncError>(())
            })
        })
        .await?;
    Ok(Some(id))
}

/// Points a Vapi phone number at our server URL (with our webhook credential) and no fixed
/// assistant, so every call starts with an `assistant-request` (spec §6). No-op without a Vapi
/// key.
pub async fn link_number(st: &VoiceState, vapi_phone_number_id: &str) -> Result<(), VapiSyncError> {
    let Some(vapi) = st.vapi.as_ref() else {
        return Ok(());
    };
    let mut body = json!({ "assistantId": null, "squadId": null, "workflowId": null });
    if let Some(url) = st.settings.public_webhook_url.as_deref() {
        let credential = ensure_credential(st, vapi).await?;
        body["server"] = server(url, credential.as_deref());
    }
    vapi.update_phone_number(vapi_phone_number_id, &body)
        .await?;
    Ok(())
}
