//! Keyset-pagination cursors: `(timestamp, id)` of the last row of a page, opaque to clients
//! (base64url of `micros|uuid`). A cursor the API did not issue is 422 `invalid_query` on
//! `cursor`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ApiError;

pub fn encode(at: DateTime<Utc>, id: Uuid) -> String {
    B64URL.encode(format!("{}|{}", at.timestamp_micros(), id))
}

pub fn decode(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        ApiError::invalid(
            "invalid_query",
            Some("cursor"),
            "cursor is not one this API issued",
        )
    };
    let text = String::from_utf8(B64URL.decode(raw).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode(&encode(at, id)).unwrap(), (at, id));
        assert!(decode("not-a-cursor").is_err());
        assert!(decode(&B64URL.encode("12|nope")).is_err());
        assert!(decode(&B64URL.encode("x|6f1c2b8e-7d1a-4c8e-9b1e-0a2f3c4d5e6f")).is_err());
    }
}
