fn main() -> anyhow::Result<()> {
    servicekit::cli::main::<voice_webhook::VoiceWebhook>()
}
