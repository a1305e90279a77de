//! What the handlers, the consumers and the dispatcher share: the tenant-scoped database, the key
//! ring that seals bodies and credentials, the Twilio client, the settings and the dispatcher's
//! wake-up bell.

use std::sync::Arc;

use servicekit::crypto::KeyRing;
use tenancy::Db;
use tokio::sync::Notify;

use crate::clients::twilio::TwilioClient;
use crate::config::MessagingSettings;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: KeyRing,
    pub twilio: TwilioClient,
    pub settings: Arc<MessagingSettings>,
    /// Rung when a send becomes due now, so the dispatcher does not wait for its next poll.
    pub wake: Arc<Notify>,
}
