//! What messaging knows of each appointment: the newest version applied (events arrive out of
//! order and twice) and the patient's number.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::appointments as a;

/// Stores `version` of the appointment when it is newer than the stored one; `true` when it
/// was (the event should be applied).
pub async fn advance(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    appointment: Uuid,
    version: i64,
    status: &str,
    starts_at: DateTime<Utc>,
    phone: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "INSERT INTO appointments (org_id, appointment_id, version, status, starts_at, phone)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (org_id, appointment_id) DO UPDATE
           SET version = EXCLUDED.version, status = EXCLUDED.status,
               starts_at = EXCLUDED.starts_at, phone = EXCLUDED.phone, updated_at = now()
         WHERE appointments.version < EXCLUDED.version",
    )
    .bind::<diesel::sql_types::Uuid, _>(org.as_uuid())
    .bind::<diesel::sql_types::Uuid, _>(appointment)
    .bind::<diesel::sql_types::BigInt, _>(version)
    .bind::<diesel::sql_types::Text, _>(status)
    .bind::<diesel::sql_types::Timestamptz, _>(starts_at)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(phone)
    .execute(conn)
    .await?;
    Ok(n > 0)
}

pub async fn status_of(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    appointment: Uuid,
) -> QueryResult<Option<(String, DateTime<Utc>)>> {
    a::table
        .filter(
            a::org_id
                .eq(org.as_uuid())
                .and(a::appointment_id.eq(appointment)),
        )
        .select((a::status, a::starts_at))
        .first(conn)
        .await
        .optional()
}
