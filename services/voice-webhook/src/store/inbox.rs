//! The staff inbox: messages the agent took (`call_messages`, text sealed), newest first, and
//! who marked them handled.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::call_messages as cm;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cm)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: Uuid,
    pub call_id: Option<Uuid>,
    pub callback_number: Option<String>,
    pub key_id: String,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub handled_at: Option<DateTime<Utc>>,
    pub handled_by: Option<Uuid>,
}

impl MessageRow {
    pub fn sealed(&self) -> servicekit::crypto::Sealed {
        servicekit::crypto::Sealed {
            key_id: self.key_id.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

pub async fn insert_message(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    call_id: Option<Uuid>,
    callback: Option<&str>,
    sealed: &servicekit::crypto::Sealed,
) -> QueryResult<MessageRow> {
    diesel::insert_into(cm::table)
        .values((
            cm::org_id.eq(org.as_uuid()),
            cm::call_id.eq(call_id),
            cm::callback_number.eq(callback),
            cm::key_id.eq(&sealed.key_id),
            cm::ciphertext.eq(&sealed.ciphertext),
        ))
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
}

/// The org's messages, newest first, before the keyset position `before`; `handled` filters
/// (`Some(false)`: the unhandled ones).
pub async fn list_messages(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    handled: Option<bool>,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    let mut q = cm::table
        .filter(cm::org_id.eq(org.as_uuid()))
        .select(MessageRow::as_select())
        .order((cm::created_at.desc(), cm::id.desc()))
        .limit(limit)
        .into_boxed();
    match handled {
        Some(true) => q = q.filter(cm::handled_at.is_not_null()),
        Some(false) => q = q.filter(cm::handled_at.is_null()),
        None => {}
    }
    if let Some((at, id)) = before {
        q = q.filter(
            cm::created_at
                .lt(at)
                .or(cm::created_at.eq(at).and(cm::id.lt(id))),
        );
    }
    q.load(conn).await
}

pub async fn find_message(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<MessageRow>> {
    cm::table
        .filter(cm::org_id.eq(org.as_uuid()))
        .filter(cm::id.eq(id))
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Marks a message handled by `user` (the first marking is kept: marking twice changes
/// nothing); `None` when the org has no such message.
pub async fn mark_handled(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    user: Uuid,
) -> QueryResult<Option<MessageRow>> {
    diesel::update(
        cm::table
            .filter(cm::org_id.eq(org.as_uuid()))
            .filter(cm::id.eq(id))
            .filter(cm::handled_at.is_null()),
    )
    .set((
        cm::handled_at.eq(Some(Utc::now())),
        cm::handled_by.eq(Some(user)),
    ))
    .execute(conn)
    .await?;
    find_message(conn, org, id).await
}
