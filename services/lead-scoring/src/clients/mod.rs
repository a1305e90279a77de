//! Outbound HTTP: the optional intent classifier (an OpenAI-compatible chat endpoint).

pub mod classifier;
