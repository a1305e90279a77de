//! An event about a contact in; the contact's history re-folded from every event stored for it,
//! its features, score, tier, next action and automatic stage recomputed, and written back.
//! Runs inside the consumer's tenant transaction, after the inbox insert. A score row is added
//! when anything about the score changed; `lead.scored.v1` is enqueued only when the tier or the
//! next action changed (or on the first score).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use events::{Event as _, LeadScoredV1};
use tenancy::OrgId;
use uuid::Uuid;

use crate::domain::features::{Features, features};
use crate::domain::history::{History, LeadEvent, fold};
use crate::domain::model::{Model, Scored, Tier};
use crate::domain::stage::{self, Stage, StageSource};
use crate::domain::{self, is_e164};
use crate::store::contacts::{self, ContactRow, Projection};
use crate::store::history::{self as hstore, EventRow, NewScore};

/// An event as the consumer hands it over.
pub struct Incoming {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub phone: Option<String>,
    /// The clinic's zone, when the event carries it (appointment events).
    pub timezone: Option<String>,
    pub payload: serde_json::Value,
}

/// What recomputing a contact found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub contact_id: Uuid,
    pub features: Features,
    pub scored: Scored,
    pub score_changed: bool,
    pub published: bool,
}

/// Applies one event. Events without a usable phone number are acknowledged and skipped (there
/// is no contact to attach them to). With `classify`, an ended call with a summary is queued for
/// the intent classifier (which re-scores the contact when it has answered).
pub async fn ingest(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    model: &Model,
    e: Incoming,
    classify: bool,
) -> diesel::QueryResult<Option<Outcome>> {
    let Some(phone) = e.phone.filter(|p| is_e164(p)) else {
        tracing::info!(
            event_type = e.event_type,
            "event without a usable phone number: skipped"
        );
        return Ok(None);
    };
    if let Some(tz) = e.timezone.as_deref().filter(|t| t.parse::<Tz>().is_ok()) {
        hstore::see_timezone(tx, org, tz, e.occurred_at).await?;
    }
    let contact = contacts::upsert_and_lock(tx, org, &phone).await?;
    if classify
        && e.event_type == events::CallEndedV1::TYPE
        && e.payload["analysis"]["summary"]
            .as_str()
            .is_some_and(|s| !s.trim().is_empty())
        && let Some(call) = e.payload["call_id"].as_str().and_then(|c| c.parse().ok())
    {
        crate::store::classify::enqueue(tx, org, call).await?;
    }
    let row = EventRow {
        event_id: e.event_id,
        event_type: e.event_type.to_string(),
        occurred_at: e.occurred_at,
        payload: e.payload,
    };
    hstore::insert_event(tx, org, contact.id, &row).await?;
    recompute(tx, org, model, contact, e.event_type)
        .await
        .map(Some)
}

/// The feature vector of a contact's stored events under `model`.
pub async fn features_of(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    model: &Model,
    contact: Uuid,
) -> diesel::QueryResult<(History, Features)> {
    let rows = hstore::list_events(tx, org, contact).await?;
    let events: Vec<LeadEvent> = rows
        .into_iter()
        .map(|r| LeadEvent {
            event_id: r.event_id,
            event_type: r.event_type,
            occurred_at: r.occurred_at,
            payload: r.payload,
        })
        .collect();
    let h = fold(&events);
    if h.unreadable > 0 {
        tracing::warn!(
            count = h.unreadable,
            "stored events that no longer decode were skipped"
        );
    }
    let tz: Tz = hstore::find_timezone(tx, org)
        .await?
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let calls: Vec<Uuid> = h.calls.iter().map(|c| c.call_id).collect();
    let verdicts = crate::store::classify::find(tx, org, &calls).await?;
    let f = features(
        &h,
        tz,
        &model.business_hours,
        model.repeat_window_days,
        &verdicts,
    );
    Ok((h, f))
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn codes(s: &Scored) -> Vec<String> {
    s.reasons.iter().map(|r| r.code.clone()).collect()
}

/// Re-folds, re-scores and re-stages a locked contact; `cause` is an event type or `rescore`.
pub async fn recompute(
    tx: &mut AsyncPgConnection,
    org: OrgId,
    model: &Model,
    contact: ContactRow,
    cause: &str,
) -> diesel::QueryResult<Outcome> {
    let (h, f) = features_of(tx, org, model, contact.id).await?;
    let scored = model.score(&f);
    let now = Utc::now();
    let previous_tier = contact.tier.as_deref().and_then(Tier::parse);
    let score_i16 = i16::from(scored.score);
    let last_reasons = hstore::list_scores(tx, org, contact.id, 1).await?;
    // A new score row also when only the features moved (e.g. the intent's source): the
    // history must say what each score was computed from.
    let features_json = serde_json::to_value(&f).unwrap_or_default();
    let same_reasons = last_reasons.first().is_some_and(|r| {
        r.features == features_json
            && serde_json::from_value::<Vec<domain::model::Reason>>(r.reasons.clone())
                .is_ok_and(|rs| rs == scored.reasons)
    });
    let score_changed = contact.score != Some(score_i16)
        || previous_tier != Some(scored.tier)
        || contact.next_action.as_deref() != Some(scored.next_action.as_str())
        || contact.model_version.as_deref() != Some(scored.model_version.as_str())
        || !same_reasons;
    let publish = previous_tier != Some(scored.tier)
        || contact.next_action.as_deref() != Some(scored.next_action.as_str());
    contacts::update_projection(
        tx,
        org,
        contact.id,
        &Projection {
            name: h.name.clone().or(contact.name.clone()),
            first_contact_at: h.first_contact_at,
            last_contact_at: h.last_contact_at,
            calls_count: count(f.calls),
            appointments_booked: i32::try_from(h.appointments.len()).unwrap_or(i32::MAX),
            appointments_kept: count(f.appointments_kept),
            appointments_no_show: count(f.appointments_no_show),
            appointments_cancelled: count(f.appointments_cancelled),
            messages_count: count(h.messages_delivered.saturating_add(h.messages_failed)),
            opted_out_at: h.opted_out_at,
            score: Some(score_i16),
            tier: Some(scored.tier.as_str().to_string()),
            next_action: Some(scored.next_action.clone()),
            model_version: Some(scored.model_version.clone()),
            scored_at: Some(if score_changed {
                now
            } else {
                contact.scored_at.unwrap_or(now)
            }),
            updated_at: now,
        },
    )
    .await?;
    if score_changed {
        hstore::insert_score(
            tx,
            &NewScore {
                org_id: org.as_uuid(),
                contact_id: contact.id,
                score: score_i16,
                tier: scored.tier.as_str().into(),
                next_action: scored.next_action.clone(),
                model_version: scored.model_version.clone(),
                features: features_json,
                reasons: serde_json::to_value(&scored.reasons).unwrap_or_default(),
                cause: cause.to_string(),
            },
        )
        .await?;
    }
    // The stage: automatic unless a person moved it and nothing since clearly supersedes that.
    let (auto, why) = stage::automatic(&h, &f, scored.tier);
    let source = if contact.stage_source == "manual" {
        StageSource::Manual
    } else {
        StageSource::Automatic
    };
    if stage::automatic_applies(source, contact.stage_changed_at, auto, &h)
        && (auto.as_str() != contact.stage || source == StageSource::Manual)
    {
        if auto.as_str() != contact.stage {
            hstore::insert_stage(
                tx,
                org,
                contact.id,
                &contact.stage,
                auto.as_str(),
                StageSource::Automatic.as_str(),
                cause,
                &why,
            )
            .await?;
        }
        contacts::update_stage(tx, org, contact.id, auto.as_str(), "automatic", now).await?;
    }
    if publish {
        bus::enqueue(
            tx,
            org,
            &LeadScoredV1 {
                contact_id: contact.id,
                phone: contact.phone_e164.clone(),
                name: h.name.clone().or(contact.name.clone()),
                score: scored.score,
                tier: match scored.tier {
                    Tier::Hot => events::LeadTier::Hot,
                    Tier::Warm => events::LeadTier::Warm,
                    Tier::Cold => events::LeadTier::Cold,
                },
                reasons: codes(&scored),
                call_id: f.last_call_id,
                next_action: Some(scored.next_action.clone()),
                model_version: Some(scored.model_version.clone()),
            },
        )
        .await?;
    }
    Ok(Outcome {
        contact_id: contact.id,
        features: f,
        scored,
        score_changed,
        published: publish,
    })
}

/// A stage a person chose (see `stage` for how long it holds).
pub fn parse_stage(s: &str) -> Option<Stage> {
    Stage::parse(s)
}
