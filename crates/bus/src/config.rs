//! Bus settings and the names derived from them. A prefix in front of every exchange and queue
//! name lets tests (and staging stacks sharing a broker) never collide.

use std::time::Duration;

use secrecy::SecretString;
use servicekit::CommonSettings;
use servicekit::config::{ConfigError, Setting};

/// The `BUS_*` settings `BusSettings::from_lookup` reads (the `settings` contract, ADR 0023).
pub const SETTINGS: &[Setting] = &[
    Setting::new("BUS_PREFIX", Some("")),
    Setting::new("BUS_EXCHANGE", Some("voxanne.events")),
    Setting::new("BUS_RETRY_DELAYS_MS", Some("1000,10000,60000")),
    Setting::new("BUS_DELIVERY_LIMIT", Some("5")),
    Setting::new("BUS_PREFETCH", Some("256")),
    Setting::new("BUS_RELAY_BATCH", Some("500")),
    Setting::new("BUS_RELAY_POLL_MS", Some("25")),
    Setting::new("BUS_CONFIRM_TIMEOUT_MS", Some("5000")),
    Setting::new("BUS_RETENTION_HOURS", Some("168")),
];

#[derive(Clone, Debug)]
pub struct BusSettings {
    pub amqp_url: SecretString,
    /// The consuming service: names its queues and its inbox rows.
    pub service: String,
    /// The Postgres schema whose outbox this service's relay drains.
    pub schema: String,
    pub prefix: String,
    pub exchange: String,
    /// Delay before each retry of a failed handler; its length is the number of retries.
    pub retry_delays: Vec<Duration>,
    /// Redeliveries of one message (consumer crashes) before the broker dead-letters it.
    pub delivery_limit: i32,
    pub prefetch: u16,
    pub relay_batch: i64,
    /// The relay polls at least this often even without a notification.
    pub relay_poll: Duration,
    pub confirm_timeout: Duration,
    /// Published outbox rows and inbox rows are pruned after this long.
    pub retention: Duration,
}

impl BusSettings {
    /// Reads `BUS_*` settings through `lookup`; everything else comes from the common settings.
    pub fn from_lookup(
        common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let num = |errors: &mut Vec<String>, k: &str, default: u64| -> u64 {
            get(k).map_or(default, |v| {
                v.trim().parse().unwrap_or_else(|_| {
                    errors.push(format!("{k} is not a valid number: {v:?}"));
                    default
                })
            })
        };
        let retry_delays = match get("BUS_RETRY_DELAYS_MS") {
            None => vec![
                Duration::from_secs(1),
                Duration::from_secs(10),
                Duration::from_secs(60),
            ],
            Some(v) => v
                .split(',')
                .map(|p| p.trim().parse::<u64>().map(Duration::from_millis))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|_| {
                    errors.push(format!(
                        "BUS_RETRY_DELAYS_MS must be comma-separated milliseconds: {v:?}"
                    ));
                    Vec::new()
                }),
        };
        if retry_delays.len() > 10 || retry_delays.iter().any(|d| d.is_zero()) {
            errors.push("BUS_RETRY_DELAYS_MS: at most 10 steps, each above 0".into());
        }
        let delivery_limit = num(&mut errors, "BUS_DELIVERY_LIMIT", 5);
        let prefetch = num(&mut errors, "BUS_PREFETCH", 256);
        let s = BusSettings {
            amqp_url: common.amqp_url.clone(),
            service: common.service.name.to_string(),
            schema: common.service.schema.to_string(),
            prefix: get("BUS_PREFIX").unwrap_or_default(),
            exchange: get("BUS_EXCHANGE").unwrap_or_else(|| "voxanne.events".into()),
            retry_delays,
            delivery_limit: i32::try_from(delivery_limit.clamp(1, 100)).unwrap_or(5),
            prefetch: u16::try_from(prefetch.clamp(1, 1000)).unwrap_or(64),
            relay_batch: i64::try_from(num(&mut errors, "BUS_RELAY_BATCH", 500).clamp(1, 5000))
                .unwrap_or(500),
            relay_poll: Duration::from_millis(num(&mut errors, "BUS_RELAY_POLL_MS", 25).max(5)),
            confirm_timeout: Duration::from_millis(
                num(&mut errors, "BUS_CONFIRM_TIMEOUT_MS", 5000).max(100),
            ),
            retention: Duration::from_secs(
                3600 * num(&mut errors, "BUS_RETENTION_HOURS", 24 * 7).max(1),
            ),
        };
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn names(&self) -> Names {
        let p = &self.prefix;
        let q = format!("{p}{}.events", self.service);
        Names {
            exchange: format!("{p}{}", self.exchange),
            // Named by their delay, not their step: the TTL is a queue argument RabbitMQ never
            // lets change, so a new `BUS_RETRY_DELAYS_MS` declares new queues instead of failing
            // on the old ones (which drain into the work queue on their own).
            retry: self
                .retry_delays
                .iter()
                .map(|d| format!("{q}.retry.{}ms", d.as_millis()))
                .collect(),
            dlx: format!("{q}.dlx"),
            dlq: format!("{q}.dlq"),
            queue: q,
            notify_channel: format!("outbox_{}", self.schema),
        }
    }
}

/// Every broker and Postgres name the bus uses for one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The topic exchange all events are published to.
    pub exchange: String,
    /// `<svc>.events`: the service's work queue.
    pub queue: String,
    /// `<svc>.events.retry.<delay>ms`, one per retry step: TTL queues that return messages to the
    /// work queue.
    pub retry: Vec<String>,
    /// Fanout exchange in front of the DLQ (the work queue's dead-letter exchange).
    pub dlx: String,
    /// `<svc>.events.dlq`.
    pub dlq: String,
    /// The Postgres NOTIFY channel of this schema's outbox.
    pub notify_channel: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicekit::ServiceInfo;

    #[test]
    fn names_follow_architecture_section_5_and_take_a_prefix() {
        let common = CommonSettings::from_lookup(
            ServiceInfo {
                name: "lead-scoring",
                schema: "leads",
                default_port: 8085,
            },
            &|_| None,
        )
        .unwrap();
        let s = BusSettings::from_lookup(&common, &|k| {
            (k == "BUS_RETRY_DELAYS_MS").then(|| "100,200".into())
        })
        .unwrap();
        let n = s.names();
        assert_eq!(n.exchange, "voxanne.events");
        assert_eq!(n.queue, "lead-scoring.events");
        assert_eq!(n.dlq, "lead-scoring.events.dlq");
        assert_eq!(
            n.retry,
            vec![
                "lead-scoring.events.retry.100ms",
                "lead-scoring.events.retry.200ms"
            ]
        );
        assert_eq!(n.notify_channel, "outbox_leads");
        let t = BusSettings {
            prefix: "test.abc.".into(),
            ..s
        };
        assert_eq!(t.names().queue, "test.abc.lead-scoring.events");
        assert_eq!(t.names().exchange, "test.abc.voxanne.events");
    }

    #[test]
    fn bad_settings_are_reported() {
        let common = CommonSettings::from_lookup(
            ServiceInfo {
                name: "x",
                schema: "x",
                default_port: 1,
            },
            &|_| None,
        )
        .unwrap();
        let err = BusSettings::from_lookup(&common, &|k| match k {
            "BUS_RETRY_DELAYS_MS" => Some("1s,2s".into()),
            "BUS_PREFETCH" => Some("lots".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("BUS_RETRY_DELAYS_MS")
                && err.to_string().contains("BUS_PREFETCH"),
            "{err}"
        );
    }
}
