//! What calendar consumes: `org.created.v1` seeds the clinic's defaults (settings, hours, the
//! seven services and the default provider) exactly once per org; `org.deleted.v1` purges the org's data;
//! `appointment.reply_confirmed.v1` (a patient replied C) confirms a booked appointment.

use bus::{Consumer, HandlerError};
use events::{AppointmentReplyConfirmedV1, OrgCreatedV1, OrgDeletedV1};
use tenancy::{Db, OrgId};

use crate::domain::settings::{ClinicSettings, default_services};
use crate::store;

pub fn consumer(bus: &bus::Bus, db: Db) -> Consumer {
    Consumer::new(bus, db)
        .on::<OrgCreatedV1, _>(|tx, env| {
            Box::pin(async move {
                let org = OrgId(env.org_id);
                // An unknown zone would make every slot wrong: fall back to UTC, visibly.
                let tz = env.payload.timezone.parse().unwrap_or_else(|_| {
                    tracing::warn!(org = %org, "org.created.v1 has an unknown timezone; using UTC");
                    chrono_tz::UTC
                });
                // Idempotent on its own (not only through the inbox): a second org.created.v1
                // for the same org — even with another event id — finds the settings and stops.
                if store::settings::insert_settings_once(tx, org, &ClinicSettings::defaults(tz))
                    .await?
                {
                    store::services::insert_missing_services(tx, org, &default_services()).await?;
                    // One default provider: the clinic books as one grid until it adds providers.
                    store::providers::insert_default_provider(tx, org).await?;
                    tracing::info!(org = %org, "seeded calendar defaults");
                }
                Ok::<(), HandlerError>(())
            })
        })
        .on::<OrgDeletedV1, _>(|tx, env| {
            Box::pin(async move {
                store::purge_org(tx, OrgId(env.org_id)).await?;
                Ok::<(), HandlerError>(())
            })
        })
        .on::<AppointmentReplyConfirmedV1, _>(|tx, env| {
            Box::pin(async move {
                let org = OrgId(env.org_id);
                if crate::core::booking::confirm_by_reply(tx, org, env.payload.appointment_id)
                    .await?
                {
                    tracing::info!(org = %org, "appointment confirmed by the patient's reply");
                }
                Ok::<(), HandlerError>(())
            })
        })
}
