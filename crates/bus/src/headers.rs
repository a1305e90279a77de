//! AMQP header helpers: trace context in and out, our retry counter, and the fields a copy must not
//! inherit (`x-death`, which would make RabbitMQ see a dead-letter cycle).

use lapin::types::{AMQPValue, FieldTable, ShortString};
use opentelemetry::propagation::{Extractor, Injector};

pub const RETRY: &str = "x-retry";
pub const LAST_ERROR: &str = "x-last-error";
pub const CONSUMER: &str = "x-consumer";
pub const FAILED_AT: &str = "x-failed-at";
pub const REPLAYED: &str = "x-replayed";

pub struct AmqpInjector<'a>(pub &'a mut FieldTable);

impl Injector for AmqpInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(key.into(), AMQPValue::LongString(value.into()));
    }
}

pub struct AmqpExtractor<'a>(pub &'a FieldTable);

impl Extractor for AmqpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key)? {
            AMQPValue::LongString(v) => std::str::from_utf8(v.as_bytes()).ok(),
            AMQPValue::ShortString(v) => Some(v.as_str()),
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}

pub fn get_str(headers: &FieldTable, key: &str) -> Option<String> {
    AmqpExtractor(headers).get(key).map(str::to_string)
}

pub fn get_u32(headers: &FieldTable, key: &str) -> Option<u32> {
    match headers.inner().get(key)? {
        AMQPValue::LongInt(v) => u32::try_from(*v).ok(),
        AMQPValue::LongUInt(v) => Some(*v),
        AMQPValue::LongLongInt(v) => u32::try_from(*v).ok(),
        AMQPValue::ShortInt(v) => u32::try_from(*v).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

/// The headers for a copy of a delivery: the original ones minus broker dead-letter bookkeeping.
pub fn for_copy(original: Option<&FieldTable>) -> FieldTable {
    let mut out = FieldTable::default();
    if let Some(h) = original {
        for (k, v) in h.inner() {
            let key = k.as_str();
            if key == "x-death"
                || key.starts_with("x-first-death")
                || key.starts_with("x-last-death")
                || key == "x-delivery-count"
            {
                continue;
            }
            out.insert(ShortString::from(key), v.clone());
        }
    }
    out
}

pub fn set_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(key.into(), AMQPValue::LongString(value.into()));
}

pub fn set_u32(headers: &mut FieldTable, key: &str, value: u32) {
    headers.insert(
        key.into(),
        AMQPValue::LongInt(i32::try_from(value).unwrap_or(i32::MAX)),
    );
}

/// The first `x-death` reason and queue, for the DLQ listing.
pub fn death(headers: &FieldTable) -> Option<(String, String)> {
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    Some((
        get_str(first, "reason").unwrap_or_default(),
        get_str(first, "queue").unwrap_or_default(),
    ))
}
