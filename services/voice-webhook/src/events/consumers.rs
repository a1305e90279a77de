//! Events voice consumes: `org.created.v1` (profile + default agent), `org.deleted.v1` (purge,
//! knowledge base included).

use bus::{Consumer, HandlerError};
use events::payloads::{OrgCreatedV1, OrgDeletedV1};
use tenancy::OrgId;

use crate::config::VoiceSettings;
use crate::domain::tool::Tool;
use crate::store::agents::{self, AgentFields};
use crate::store::knowledge;

/// The agent every new org starts with: all tools on, a neutral prompt.
pub fn default_agent(clinic: &str) -> AgentFields {
    AgentFields {
        name: format!("{clinic} receptionist").chars().take(200).collect(),
        system_prompt: "You are a warm, efficient receptionist. Help callers book, move or cancel appointments and take messages. Keep answers short.".into(),
        first_message: format!("Thank you for calling {clinic}, how can I help you today?"),
        voice: String::new(),
        language: "en".into(),
        enabled_tools: Tool::all_names(),
        transfer_number: None,
        after_hours_message: None,
        settings: serde_json::json!({}),
    }
}

/// Starts the consumer of voice's queue.
pub fn spawn(ctx: &runtime::Context<VoiceSettings>) {
    Consumer::new(&ctx.bus, ctx.db.clone())
        .on::<OrgCreatedV1, _>(|tx, env| {
            Box::pin(async move {
                let org = OrgId(env.org_id);
                let e = &env.payload;
                agents::upsert_profile(tx, org, &e.name, &e.timezone).await?;
                agents::ensure_default_agent(tx, org, &default_agent(&e.name)).await?;
                Ok::<_, HandlerError>(())
            })
        })
        .on::<OrgDeletedV1, _>(|tx, env| {
            Box::pin(async move {
                agents::purge_org(tx, OrgId(env.org_id)).await?;
                knowledge::purge_org(tx, OrgId(env.org_id)).await?;
                Ok::<_, HandlerError>(())
            })
        })
        .spawn();
}
