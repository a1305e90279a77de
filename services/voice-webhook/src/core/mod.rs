//! Voice's use cases, one file per capability: the live webhook (authentication, routing to an
//! org, answers, tool calls — one file per tool under `tools/`), logging and applying
//! fire-and-forget reports, the Vapi sync, the knowledge base (documents, retrieval, Vapi's
//! `knowledge-base-request`), and the dashboard's agents, numbers, calls and webhook secret. Each returns its own typed error; none knows HTTP.

pub mod access_log;
pub mod agents;
pub mod assistant_request;
pub mod call_record;
pub mod calls;
pub mod clinic;
pub mod inbox;
pub mod knowledge;
pub mod knowledge_request;
pub mod log_retention;
pub mod numbers;
pub mod outbound_call;
pub mod tenant_route;
pub mod tool_calls;
pub mod tools;
pub mod vapi_message;
pub mod vapi_sync;
pub mod webhook_apply;
pub mod webhook_auth;
pub mod webhook_log;
pub mod webhook_secret;
