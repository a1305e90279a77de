//! Dead-letter operations behind `<svc> dlq list` and `<svc> dlq replay [--id …|--all]`.
//! The listing shows each payload and last error through the redactor: an operator's terminal
//! is not a place for patients' names, numbers or transcripts.
//! Listing takes the messages without acking and gives them back (channel close requeues them);
//! replaying publishes a confirmed copy to the work queue (retry counter reset) and only then
//! acks the dead letter, so a crash in between duplicates at worst (the inbox absorbs that).

use clap::Subcommand;
use lapin::options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions};
use serde::Serialize;
use servicekit::redact;
use uuid::Uuid;

use crate::connection::BusError;
use crate::consumer::publish_copy;
use crate::headers;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeadLetter {
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub org_id: Option<String>,
    /// `failed`, `undecodable`, `unhandled` (parked by the consumer) or the broker's reason
    /// (`delivery_limit`, …).
    pub reason: String,
    pub last_error: Option<String>,
    pub attempts: u32,
    pub failed_at: Option<String>,
    /// The event's payload with personal data masked (`servicekit::redact::redact_json`): names,
    /// transcripts, message bodies, phone numbers, emails.
    pub payload: Option<serde_json::Value>,
}

/// Up to `limit` dead letters, oldest first; the queue is left as it was.
pub async fn list(bus: &crate::Bus, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
    let chan = crate::topology::declare_on(&bus.connector, &bus.settings, &[]).await?;
    let names = bus.names();
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(msg) = chan
            .basic_get(names.dlq.as_str().into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        out.push(describe(&msg.delivery));
    }
    // Closing the channel returns every unacked message to the queue.
    let _ = chan.close(200, "listed".into()).await;
    Ok(out)
}

/// Replays the dead letters whose event id is in `ids` (all of them when `ids` is `None`).
/// Returns how many were replayed.
pub async fn replay(bus: &crate::Bus, ids: Option<&[Uuid]>) -> Result<usize, BusError> {
    let chan = crate::topology::declare_on(&bus.connector, &bus.settings, &[]).await?;
    let publisher = bus.connector.channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let names = bus.names();
    let mut replayed = 0;
    while let Some(msg) = chan
        .basic_get(names.dlq.as_str().into(), BasicGetOptions { no_ack: false })
        .await?
    {
        let d = msg.delivery;
        let wanted = match ids {
            None => true,
            Some(ids) => d
                .properties
                .message_id()
                .as_ref()
                .and_then(|m| Uuid::parse_str(m.as_str()).ok())
                .is_some_and(|id| ids.contains(&id)),
        };
        if !wanted {
            continue; // stays unacked: requeued when the channel closes
        }
        let mut h = headers::for_copy(d.properties.headers().as_ref());
        headers::set_u32(&mut h, headers::RETRY, 0);
        headers::set_str(&mut h, headers::REPLAYED, &chrono::Utc::now().to_rfc3339());
        if publish_copy(&publisher, "", &names.queue, &d, h).await {
            d.ack(BasicAckOptions::default()).await?;
            replayed += 1;
            metrics::counter!("bus_events_replayed_total").increment(1);
        } else {
            tracing::warn!("could not republish a dead letter; it stays in the DLQ");
        }
        if msg.message_count == 0 {
            break;
        }
    }
    let _ = chan.close(200, "replayed".into()).await;
    let _ = publisher.close(200, "replayed".into()).await;
    Ok(replayed)
}

fn describe(d: &lapin::message::Delivery) -> DeadLetter {
    let h = d.properties.headers().clone().unwrap_or_default();
    let env: Option<events::Envelope> = serde_json::from_slice(&d.data).ok();
    let (death_reason, _) = headers::death(&h).unwrap_or_default();
    DeadLetter {
        event_id: d
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .or_else(|| env.as_ref().map(|e| e.id.to_string())),
        event_type: d
            .properties
            .kind()
            .as_ref()
            .map(|k| k.to_string())
            .or_else(|| env.as_ref().map(|e| e.event_type.clone())),
        org_id: env
            .as_ref()
            .map(|e| e.org_id.to_string())
            .or_else(|| headers::get_str(&h, "org_id")),
        reason: headers::get_str(&h, "x-parked-reason").unwrap_or(if death_reason.is_empty() {
            "unknown".into()
        } else {
            death_reason
        }),
        // A handler's error can quote what it worked on (a caller's name, a number).
        last_error: headers::get_str(&h, headers::LAST_ERROR).map(|e| redact::redact(&e)),
        attempts: headers::get_u32(&h, headers::RETRY).unwrap_or(0),
        failed_at: headers::get_str(&h, headers::FAILED_AT),
        payload: env.map(|e| redact::redact_json(e.payload)),
    }
}

/// What the `dlq` subcommand of every service binary can do.
#[derive(Debug, Clone, Subcommand)]
pub enum DlqAction {
    /// Print the dead letters (JSON lines), oldest first; the queue is left unchanged.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send dead letters back to the service's queue to be processed again.
    Replay {
        /// Event ids to replay (repeatable).
        #[arg(long = "id", required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<uuid::Uuid>,
        /// Replay every dead letter.
        #[arg(long)]
        all: bool,
    },
}

/// The `dlq` subcommand of every service binary.
pub async fn run_cli(settings: &crate::BusSettings, action: DlqAction) -> anyhow::Result<()> {
    let bus = crate::Bus::new(settings.clone());
    match action {
        DlqAction::List { limit } => {
            let letters = list(&bus, limit).await?;
            for l in &letters {
                println!("{}", serde_json::to_string(l)?);
            }
            eprintln!("{} dead letter(s) in {}", letters.len(), bus.names().dlq);
        }
        DlqAction::Replay { ids, all } => {
            let n = replay(&bus, if all { None } else { Some(&ids) }).await?;
            eprintln!("replayed {n} dead letter(s) to {}", bus.names().queue);
        }
    }
    bus.connector.close().await;
    Ok(())
}
