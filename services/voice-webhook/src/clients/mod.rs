//! Outbound HTTP: calendar's internal API (with a service token), Vapi's REST API, an
//! OpenAI-compatible embeddings endpoint (the knowledge base, when configured), and the call
//! simulator (Vapi's side of a call against our own webhook: `call-sim`, the benchmark,
//! `make demo`).

pub mod calendar;
pub mod embeddings;
pub mod sim;
pub mod token;
pub mod vapi;
