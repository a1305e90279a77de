//! The bus consumer: each handler runs in the event org's transaction after the inbox insert, so
//! a delivery seen twice applies once.

use bus::{Consumer, HandlerError};
use events::{
    AppointmentBookedV1, AppointmentCancelledV1, AppointmentRescheduledV1, CallEndedV1,
    LeadScoredV1, OrgCreatedV1, OrgDeletedV1, VoiceMessageTakenV1,
};
use servicekit::crypto::KeyRing;
use tenancy::{Db, OrgId};

use crate::core::{CoreError, alerts, appointments};
use crate::store;

fn handler_error(e: CoreError) -> HandlerError {
    match e {
        CoreError::Store(e) => HandlerError::Db(e),
        CoreError::Pool(e) => HandlerError::Pool(e),
        other => HandlerError::Failed(anyhow::anyhow!("{other}")),
    }
}

pub fn consumer(bus: &bus::Bus, db: Db, keys: KeyRing) -> Consumer {
    let (k1, k2, k3, k4, k5, k6) = (
        keys.clone(),
        keys.clone(),
        keys.clone(),
        keys.clone(),
        keys.clone(),
        keys,
    );
    Consumer::new(bus, db)
        .on::<OrgCreatedV1, _>(|tx, env| {
            Box::pin(async move {
                appointments::org_created(tx, OrgId(env.org_id), &env.payload)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<OrgDeletedV1, _>(|tx, env| {
            Box::pin(async move {
                store::purge_org(tx, OrgId(env.org_id)).await?;
                Ok::<(), HandlerError>(())
            })
        })
        .on::<AppointmentBookedV1, _>(move |tx, env| {
            let keys = k1.clone();
            Box::pin(async move {
                appointments::booked(tx, &keys, OrgId(env.org_id), &env.payload.appointment)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<AppointmentRescheduledV1, _>(move |tx, env| {
            let keys = k2.clone();
            Box::pin(async move {
                appointments::rescheduled(tx, &keys, OrgId(env.org_id), &env.payload.appointment)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<AppointmentCancelledV1, _>(move |tx, env| {
            let keys = k3.clone();
            Box::pin(async move {
                appointments::cancelled(tx, &keys, OrgId(env.org_id), &env.payload.appointment)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<CallEndedV1, _>(move |tx, env| {
            let keys = k4.clone();
            Box::pin(async move {
                alerts::call_ended(tx, &keys, OrgId(env.org_id), &env.payload)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<LeadScoredV1, _>(move |tx, env| {
            let keys = k5.clone();
            Box::pin(async move {
                alerts::lead_scored(tx, &keys, OrgId(env.org_id), &env.payload)
                    .await
                    .map_err(handler_error)
            })
        })
        .on::<VoiceMessageTakenV1, _>(move |tx, env| {
            let keys = k6.clone();
            Box::pin(async move {
                alerts::message_taken(tx, &keys, OrgId(env.org_id), &env.payload)
                    .await
                    .map_err(handler_error)
            })
        })
}
