//! Security events about a person (failed logins, a lockout, a password reset asked for their
//! email): one row per event, for the user, never copied into their orgs (issue 11 item 7c).
//! The table is not org-scoped; every query here filters by the user, or joins the org's
//! memberships (RLS: call [`list_for_members`] inside the org's tenant transaction).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use super::audit::Origin;
use super::schema::auth::{memberships, user_security_events};
use super::status::MembershipStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = user_security_events)]
pub struct SecurityEvent {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub user_id: UserId,
    /// `login.failed`, `login.rate_limited` (the lockout started), `password.reset_requested`,
    /// `email.verification_resent`, `reauthentication.requested` (a nonce was mailed).
    pub action: String,
    pub metadata: serde_json::Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The actions an org that shares them shows its admins: failed logins and lockouts.
pub const LOGIN_FAILURES: [&str; 2] = ["login.failed", "login.rate_limited"];

pub async fn record(
    c: &mut AsyncPgConnection,
    user: UserId,
    action: &str,
    metadata: serde_json::Value,
    origin: &Origin,
) -> QueryResult<()> {
    diesel::insert_into(user_security_events::table)
        .values(&SecurityEvent {
            id: Uuid::new_v4(),
            user_id: user,
            action: action.to_string(),
            metadata,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            created_at: Utc::now(),
        })
        .execute(c)
        .await
        .map(|_| ())
}

/// The user's own events, newest first, strictly older than `before`.
pub async fn list_own(
    c: &mut AsyncPgConnection,
    user: UserId,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<SecurityEvent>> {
    let mut q = user_security_events::table
        .filter(user_security_events::user_id.eq(user))
        .select(SecurityEvent::as_select())
        .order((
            user_security_events::created_at.desc(),
            user_security_events::id.desc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(
            user_security_events::created_at
                .lt(at)
                .or(user_security_events::created_at
                    .eq(at)
                    .and(user_security_events::id.lt(id))),
        );
    }
    q.load(c).await
}

/// Failed logins and lockouts of `org`'s active members since they joined it, newest first;
/// call inside the org's tenant transaction (memberships are RLS-protected, so another org's
/// members are never joined).
pub async fn list_for_members(
    c: &mut AsyncPgConnection,
    org: OrgId,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<SecurityEvent>> {
    let mut q = user_security_events::table
        .inner_join(
            memberships::table.on(memberships::user_id
                .eq(user_security_events::user_id)
                .and(memberships::org_id.eq(org))
                .and(memberships::status.eq(MembershipStatus::Active))),
        )
        .filter(user_security_events::created_at.ge(memberships::created_at))
        .filter(user_security_events::action.eq_any(LOGIN_FAILURES))
        .select(SecurityEvent::as_select())
        .order((
            user_security_events::created_at.desc(),
            user_security_events::id.desc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(
            user_security_events::created_at
                .lt(at)
                .or(user_security_events::created_at
                    .eq(at)
                    .and(user_security_events::id.lt(id))),
        );
    }
    q.load(c).await
}
