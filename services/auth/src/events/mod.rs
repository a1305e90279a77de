//! What auth publishes (through the outbox, in the transaction of the change): `org.created.v1`
//! and `org.deleted.v1`. auth consumes no events.

use ::events::{OrgCreatedV1, OrgDeletedV1};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use tenancy::UserId;

use crate::store::accounts::Org;

/// `org.created.v1`: the other services create the org's defaults.
pub async fn org_created(c: &mut AsyncPgConnection, org: &Org, owner: UserId) -> QueryResult<()> {
    bus::enqueue(
        c,
        org.id,
        &OrgCreatedV1 {
            name: org.name.clone(),
            timezone: org.timezone.clone(),
            owner_user_id: owner.0,
        },
    )
    .await
    .map(|_| ())
}

/// `org.deleted.v1`: every service purges the org's data.
pub async fn org_deleted(
    c: &mut AsyncPgConnection,
    org: tenancy::OrgId,
    deleted_at: DateTime<Utc>,
) -> QueryResult<()> {
    bus::enqueue(c, org, &OrgDeletedV1 { deleted_at })
        .await
        .map(|_| ())
}
