//! The bus consumer: each event about a caller goes to `core::scoring::ingest` inside the
//! consumer's tenant transaction (after the inbox insert, so a redelivery is a no-op);
//! `org.deleted.v1` purges the org.

use std::sync::Arc;

use bus::{Consumer, HandlerError};
use chrono::{DateTime, Utc};
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentCompletedV1, AppointmentMissedV1,
    AppointmentRescheduledV1, CallEndedV1, CallStartedV1, ContactOptedOutV1, Envelope, Event,
    MessageDeliveredV1, MessageFailedV1, OrgCreatedV1, OrgDeletedV1, VoiceMessageTakenV1,
};
use tenancy::{Db, OrgId};

use crate::core::scoring::{Incoming, ingest};
use crate::domain::model::Model;
use crate::store;

/// Where an event's contact and time come from.
trait AboutContact: Event {
    fn phone(&self) -> Option<String>;
    /// When it happened (the payload's own time when it has one).
    fn at(&self, envelope_at: DateTime<Utc>) -> DateTime<Utc>;
    fn timezone(&self) -> Option<String> {
        None
    }
}

impl AboutContact for CallStartedV1 {
    fn phone(&self) -> Option<String> {
        self.caller_number.clone()
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.started_at
    }
}

impl AboutContact for CallEndedV1 {
    fn phone(&self) -> Option<String> {
        self.caller_number.clone()
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.ended_at
    }
}

macro_rules! appointment_event {
    ($t:ty) => {
        impl AboutContact for $t {
            fn phone(&self) -> Option<String> {
                self.appointment.contact_phone.clone()
            }
            fn at(&self, envelope_at: DateTime<Utc>) -> DateTime<Utc> {
                envelope_at
            }
            fn timezone(&self) -> Option<String> {
                Some(self.appointment.timezone.clone())
            }
        }
    };
}
appointment_event!(AppointmentBookedV1);
appointment_event!(AppointmentRescheduledV1);
appointment_event!(AppointmentCompletedV1);
appointment_event!(AppointmentMissedV1);

impl AboutContact for AppointmentCancelledV1 {
    fn phone(&self) -> Option<String> {
        self.appointment.contact_phone.clone()
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.cancelled_at
    }
    fn timezone(&self) -> Option<String> {
        Some(self.appointment.timezone.clone())
    }
}

impl AboutContact for MessageDeliveredV1 {
    fn phone(&self) -> Option<String> {
        Some(self.to_number.clone())
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.delivered_at
    }
}

impl AboutContact for MessageFailedV1 {
    fn phone(&self) -> Option<String> {
        Some(self.to_number.clone())
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.failed_at
    }
}

impl AboutContact for VoiceMessageTakenV1 {
    fn phone(&self) -> Option<String> {
        self.callback_number.clone()
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.taken_at
    }
}

impl AboutContact for ContactOptedOutV1 {
    fn phone(&self) -> Option<String> {
        Some(self.phone.clone())
    }
    fn at(&self, _: DateTime<Utc>) -> DateTime<Utc> {
        self.opted_out_at
    }
}

fn on<E: AboutContact>(c: Consumer, model: Arc<Model>, classify: bool) -> Consumer {
    c.on::<E, _>(move |tx, env: Envelope<E>| {
        let model = model.clone();
        Box::pin(async move {
            let payload = serde_json::to_value(&env.payload)
                .map_err(|e| HandlerError::Undecodable(e.to_string()))?;
            let incoming = Incoming {
                event_id: env.id,
                event_type: E::TYPE,
                occurred_at: env.payload.at(env.occurred_at),
                phone: env.payload.phone(),
                timezone: env.payload.timezone(),
                payload,
            };
            let started = std::time::Instant::now();
            ingest(tx, OrgId(env.org_id), &model, incoming, classify).await?;
            metrics::histogram!("leads_event_apply_seconds", "type" => E::TYPE)
                .record(started.elapsed().as_secs_f64());
            Ok::<(), HandlerError>(())
        })
    })
}

/// `classify`: queue ended calls with a summary for the intent classifier (when configured).
pub fn consumer(bus: &bus::Bus, db: Db, model: Arc<Model>, classify: bool) -> Consumer {
    let c = Consumer::new(bus, db);
    let c = on::<CallStartedV1>(c, model.clone(), classify);
    let c = on::<CallEndedV1>(c, model.clone(), classify);
    let c = on::<AppointmentBookedV1>(c, model.clone(), classify);
    let c = on::<AppointmentRescheduledV1>(c, model.clone(), classify);
    let c = on::<AppointmentCancelledV1>(c, model.clone(), classify);
    let c = on::<AppointmentCompletedV1>(c, model.clone(), classify);
    let c = on::<AppointmentMissedV1>(c, model.clone(), classify);
    let c = on::<MessageDeliveredV1>(c, model.clone(), classify);
    let c = on::<MessageFailedV1>(c, model.clone(), classify);
    let c = on::<VoiceMessageTakenV1>(c, model.clone(), classify);
    let c = on::<ContactOptedOutV1>(c, model, classify);
    c.on::<OrgCreatedV1, _>(|tx, env| {
        Box::pin(async move {
            // The clinic's zone from signup; appointment events keep it current (newest wins).
            if env.payload.timezone.parse::<chrono_tz::Tz>().is_ok() {
                store::history::see_timezone(
                    tx,
                    OrgId(env.org_id),
                    &env.payload.timezone,
                    env.occurred_at,
                )
                .await?;
            }
            Ok::<(), HandlerError>(())
        })
    })
    .on::<OrgDeletedV1, _>(|tx, env| {
        Box::pin(async move {
            store::purge_org(tx, OrgId(env.org_id)).await?;
            tracing::info!(org = %env.org_id, "purged the org's leads");
            Ok::<(), HandlerError>(())
        })
    })
}
