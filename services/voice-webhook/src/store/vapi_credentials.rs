//! The Vapi credential ids voice manages (system table `vapi_credentials`): one row per name,
//! with a fingerprint of the plan last sent (never the secret).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::vapi_credentials;

/// Serialises creating/updating the credential across replicas (every replica syncs at start):
/// held until the calling transaction ends.
pub async fn lock(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('voice.vapi_credentials'))")
        .execute(conn)
        .await
        .map(|_| ())
}

/// The recorded credential `name`: (Vapi id, fingerprint).
pub async fn find(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<(String, String)>> {
    vapi_credentials::table
        .filter(vapi_credentials::name.eq(name))
        .select((
            vapi_credentials::vapi_credential_id,
            vapi_credentials::fingerprint,
        ))
        .first::<(String, String)>(conn)
        .await
        .optional()
}

/// Records (or updates) credential `name`.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    name: &str,
    vapi_credential_id: &str,
    fingerprint: &str,
) -> QueryResult<()> {
    diesel::insert_into(vapi_credentials::table)
        .values((
            vapi_credentials::name.eq(name),
            vapi_credentials::vapi_credential_id.eq(vapi_credential_id),
            vapi_credentials::fingerprint.eq(fingerprint),
        ))
        .on_conflict(vapi_credentials::name)
        .do_update()
        .set((
            vapi_credentials::vapi_credential_id.eq(vapi_credential_id),
            vapi_credentials::fingerprint.eq(fingerprint),
            vapi_credentials::synced_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}
