//! The voice-webhook service (port 8082, schema `voice`): Vapi server URL, agents, phone numbers, calls, transcripts and live tool execution.

pub mod app;
pub mod clients;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod routes;
pub mod sim;
pub mod state;
pub mod store;
pub mod sync;
pub mod webhook;

pub use app::{VoiceWebhook, VoiceWebhookSpec};
