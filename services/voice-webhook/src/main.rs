//! voice-webhook: the standard process shape (`serve | migrate | dlq | replay | sync-tools`).

#![warn(clippy::panic, clippy::as_conversions, rust_2018_idioms)] // the workspace lints to come

fn main() -> anyhow::Result<()> {
    runtime::main::<voice_webhook::VoiceWebhook>()
}
