//! Platform tests against the real Postgres, Redis and RabbitMQ: tenant isolation in the
//! database, the catalog rules every migration must follow, and every service's ops surface.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test loudly

mod catalog;
mod ops;
mod rls;

use diesel_migrations::EmbeddedMigrations;
use runtime::Service;
use servicekit::ServiceInfo;

/// Every service with its migrations, as the catalog test applies them.
pub fn all_services() -> Vec<(ServiceInfo, &'static [&'static EmbeddedMigrations])> {
    vec![
        (auth::AuthService::INFO, auth::AuthService::MIGRATIONS),
        (
            voice_webhook::VoiceWebhook::INFO,
            voice_webhook::VoiceWebhook::MIGRATIONS,
        ),
        (calendar::Calendar::INFO, calendar::Calendar::MIGRATIONS),
        (messaging::Messaging::INFO, messaging::Messaging::MIGRATIONS),
        (
            lead_scoring::LeadScoring::INFO,
            lead_scoring::LeadScoring::MIGRATIONS,
        ),
    ]
}
