//! The purposes voice seals data under (key-ring associated data): one per kind of secret, so a
//! ciphertext of one kind can never be opened as another.

pub const WEBHOOK_PAYLOAD: &str = "voice.webhook_payload";
pub const CALL_TRANSCRIPT: &str = "voice.call_transcript";
pub const CALL_MESSAGE: &str = "voice.call_message";
pub const WEBHOOK_SECRET: &str = "voice.webhook_secret";
