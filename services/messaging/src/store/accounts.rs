//! An org's Twilio account (sealed secrets).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::twilio_accounts as t;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AccountRow {
    pub org_id: Uuid,
    pub account_sid: String,
    pub auth_token_key_id: String,
    pub auth_token_sealed: Vec<u8>,
    pub api_key_sid: Option<String>,
    pub api_key_secret_key_id: Option<String>,
    pub api_key_secret_sealed: Option<Vec<u8>>,
    pub from_number: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_from: Option<String>,
    pub verified_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn find(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<Option<AccountRow>> {
    t::table
        .filter(t::org_id.eq(org.as_uuid()))
        .select(AccountRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn upsert(conn: &mut AsyncPgConnection, row: &AccountRow) -> QueryResult<AccountRow> {
    diesel::insert_into(t::table)
        .values(row)
        .on_conflict(t::org_id)
        .do_update()
        .set((
            t::account_sid.eq(excluded(t::account_sid)),
            t::auth_token_key_id.eq(excluded(t::auth_token_key_id)),
            t::auth_token_sealed.eq(excluded(t::auth_token_sealed)),
            t::api_key_sid.eq(excluded(t::api_key_sid)),
            t::api_key_secret_key_id.eq(excluded(t::api_key_secret_key_id)),
            t::api_key_secret_sealed.eq(excluded(t::api_key_secret_sealed)),
            t::from_number.eq(excluded(t::from_number)),
            t::messaging_service_sid.eq(excluded(t::messaging_service_sid)),
            t::whatsapp_from.eq(excluded(t::whatsapp_from)),
            t::verified_at.eq(excluded(t::verified_at)),
            t::updated_at.eq(diesel::dsl::now),
        ))
        .returning(AccountRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<bool> {
    diesel::delete(t::table.filter(t::org_id.eq(org.as_uuid())))
        .execute(conn)
        .await
        .map(|n| n > 0)
}
