//! The append-only audit log (a trigger refuses UPDATE, DELETE and TRUNCATE).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use super::schema::auth::audit_log;

/// Where a request came from, for the audit log and the session list.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub org_id: OrgId,
    #[schema(value_type = Option<Uuid>)]
    pub actor_id: Option<UserId>,
    pub action: String,
    pub target: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Appends one entry; call inside the org's tenant transaction.
pub async fn record(
    c: &mut AsyncPgConnection,
    org: OrgId,
    actor: Option<UserId>,
    action: &str,
    target: Option<String>,
    metadata: serde_json::Value,
    origin: &Origin,
) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(&Entry {
            id: Uuid::new_v4(),
            org_id: org,
            actor_id: actor,
            action: action.to_string(),
            target,
            metadata,
            created_at: Utc::now(),
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
        })
        .execute(c)
        .await
        .map(|_| ())
}

#[derive(Debug, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<UserId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor: entries strictly older than (created_at, id).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Newest first; RLS limits it to the transaction's org, the filter on `org` says so again.
pub async fn list(c: &mut AsyncPgConnection, org: OrgId, f: &Filter) -> QueryResult<Vec<Entry>> {
    let mut q = audit_log::table
        .filter(audit_log::org_id.eq(org))
        .select(Entry::as_select())
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(f.limit)
        .into_boxed();
    if let Some(a) = &f.action {
        q = q.filter(audit_log::action.eq(a.clone()));
    }
    if let Some(a) = f.actor {
        q = q.filter(audit_log::actor_id.eq(a));
    }
    if let Some(t) = f.from {
        q = q.filter(audit_log::created_at.ge(t));
    }
    if let Some(t) = f.to {
        q = q.filter(audit_log::created_at.lt(t));
    }
    if let Some((at, id)) = f.before {
        q = q.filter(
            audit_log::created_at
                .lt(at)
                .or(audit_log::created_at.eq(at).and(audit_log::id.lt(id))),
        );
    }
    q.load(c).await
}
