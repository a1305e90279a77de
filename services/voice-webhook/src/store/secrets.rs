//! Per-org webhook secrets (tenant table): the current one and, during a rotation, the previous.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use servicekit::crypto::Sealed;
use tenancy::OrgId;

use super::schema::webhook_secrets as ws;

pub struct OrgSecrets {
    pub current: Sealed,
    pub previous: Option<(Sealed, DateTime<Utc>)>,
}

pub async fn find(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<Option<OrgSecrets>> {
    type Row = (
        String,
        Vec<u8>,
        Option<String>,
        Option<Vec<u8>>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = ws::table
        .filter(ws::org_id.eq(org.as_uuid()))
        .select((
            ws::key_id,
            ws::ciphertext,
            ws::previous_key_id,
            ws::previous_ciphertext,
            ws::previous_valid_until,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(key_id, ciphertext, pk, pc, until)| OrgSecrets {
        current: Sealed { key_id, ciphertext },
        previous: match (pk, pc, until) {
            (Some(key_id), Some(ciphertext), Some(until)) => {
                Some((Sealed { key_id, ciphertext }, until))
            }
            _ => None,
        },
    }))
}

/// Makes `new` the org's secret; the one it replaces stays valid until `grace_until`.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    new: &Sealed,
    grace_until: DateTime<Utc>,
) -> QueryResult<()> {
    let old = find(conn, org).await?;
    let (pk, pc) = match &old {
        Some(o) => (
            Some(o.current.key_id.clone()),
            Some(o.current.ciphertext.clone()),
        ),
        None => (None, None),
    };
    diesel::insert_into(ws::table)
        .values((
            ws::org_id.eq(org.as_uuid()),
            ws::key_id.eq(&new.key_id),
            ws::ciphertext.eq(&new.ciphertext),
            ws::previous_key_id.eq(&pk),
            ws::previous_ciphertext.eq(&pc),
            ws::previous_valid_until.eq(old.as_ref().map(|_| grace_until)),
        ))
        .on_conflict(ws::org_id)
        .do_update()
        .set((
            ws::key_id.eq(&new.key_id),
            ws::ciphertext.eq(&new.ciphertext),
            ws::previous_key_id.eq(&pk),
            ws::previous_ciphertext.eq(&pc),
            ws::previous_valid_until.eq(old.as_ref().map(|_| grace_until)),
            ws::rotated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}
