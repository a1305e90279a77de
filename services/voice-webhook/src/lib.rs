//! The voice-webhook service (port 8082, schema `voice`): Vapi server URL, agents, phone numbers, calls, transcripts and live tool execution.

pub mod app;
pub mod config;
pub mod routes;

pub use app::{VoiceWebhook, VoiceWebhookSpec};
