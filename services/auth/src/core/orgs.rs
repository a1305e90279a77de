//! Organizations: creating one (with its owner, audit entry and `org.created.v1`), the caller's
//! orgs, one org, the validate check, the security policy, and deleting an org: scheduled with
//! a cancel window, executed by the deletion worker when due (ADR 0011).

use chrono::{DateTime, SubsecRound as _, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use tenancy::{OrgId, Role, UserId};
use uuid::Uuid;

use crate::core::infra::{Infra, infra_from};
use crate::domain::org::{self, MAX_POLICY_SECS, MIN_SESSION_LIFETIME_SECS, OrgFieldError};
use crate::state::AppState;
use crate::store::accounts::{self, Membership, Org};
use crate::store::audit::{self, Origin};
use crate::store::members;
use crate::store::status::MembershipStatus;

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// Another org than the caller's, or one the caller does not belong to: as if it did not exist.
    #[error("organization not found")]
    NotFound,
    /// The token is for another org (the validate check).
    #[error("the token is not for this organization")]
    Mismatch,
    #[error(transparent)]
    Field(#[from] OrgFieldError),
    #[error("must be {min} seconds to 365 days")]
    OutOfRange { field: &'static str, min: i32 },
    /// Cancelling a deletion that is not scheduled.
    #[error("no deletion of this organization is scheduled")]
    DeletionNotScheduled,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(OrgError);

/// Creates an org owned by `user` with its `org.created.v1` event; call inside a transaction.
pub async fn create_org(
    c: &mut AsyncPgConnection,
    user: UserId,
    name: String,
    timezone: String,
    origin: &Origin,
) -> diesel::QueryResult<Org> {
    let now = Utc::now();
    let org = Org {
        id: OrgId(Uuid::new_v4()),
        name,
        timezone,
        require_mfa: false,
        share_member_login_failures: false,
        session_lifetime_secs: None,
        inactivity_timeout_secs: None,
        created_by: Some(user),
        created_at: now,
        deleted_at: None,
        deletion_scheduled_at: None,
        deletes_at: None,
        deletion_requested_by: None,
    };
    accounts::insert_org(c, &org).await?;
    tenancy::set_tenant(c, org.id).await?;
    accounts::insert_membership(
        c,
        &Membership {
            org_id: org.id,
            user_id: user,
            role: Role::Owner,
            status: MembershipStatus::Active,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    audit::record(
        c,
        org.id,
        Some(user),
        "org.created",
        Some(org.id.to_string()),
        json!({"name": org.name}),
        origin,
    )
    .await?;
    crate::events::org_created(c, &org, user).await?;
    Ok(org)
}

/// `id` when it is the caller's org; any other id is `NotFound`.
pub fn same_org(caller: OrgId, id: OrgId) -> Result<OrgId, OrgError> {
    if caller == id {
        Ok(id)
    } else {
        Err(OrgError::NotFound)
    }
}

/// A new org owned by `user` (refresh with its id to switch to it).
pub async fn create(
    st: &AppState,
    user: UserId,
    name: &str,
    timezone: String,
    origin: &Origin,
) -> Result<Org, OrgError> {
    let name = org::check_name(name)?;
    org::check_timezone(&timezone)?;
    let origin = origin.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move { Ok(create_org(c, user, name, timezone, &origin).await?) })
        })
        .await
}

/// The user's active memberships in live orgs, oldest first.
pub async fn mine(st: &AppState, user: UserId) -> Result<Vec<(Membership, Org)>, Infra> {
    crate::store::user_tx(&st.pool, user, |c| {
        Box::pin(async move { Ok::<_, Infra>(accounts::memberships_of(c, user).await?) })
    })
    .await
}

/// An org the user belongs to.
pub async fn get(st: &AppState, user: UserId, id: OrgId) -> Result<(Membership, Org), OrgError> {
    mine(st, user)
        .await?
        .into_iter()
        .find(|(_, o)| o.id == id)
        .ok_or(OrgError::NotFound)
}

/// The caller's role when the token's org is `id` and the membership there is active.
pub async fn validate(
    st: &AppState,
    caller: OrgId,
    user: UserId,
    id: OrgId,
) -> Result<Role, OrgError> {
    if caller != id {
        return Err(OrgError::Mismatch);
    }
    let active = st
        .db
        .tenant_tx(caller, |c| {
            Box::pin(async move { Ok::<_, Infra>(accounts::memberships_of(c, user).await?) })
        })
        .await?;
    let (m, _) = active.first().ok_or(OrgError::Mismatch)?;
    Ok(m.role)
}

/// A change of the org's security policy (`None`: unchanged; `Some(None)`: back to the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyChange {
    pub require_mfa: Option<bool>,
    pub session_lifetime_secs: Option<Option<i32>>,
    pub inactivity_timeout_secs: Option<Option<i32>>,
    pub share_member_login_failures: Option<bool>,
}

/// Changes the org's security policy (audited). Members' tokens carry it from their next refresh.
pub async fn update_policy(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    change: PolicyChange,
    origin: &Origin,
) -> Result<(), OrgError> {
    // The inactivity floor is a setting (AUTH_MIN_INACTIVITY_SECS, 300 unless a test lowers it).
    let min_inactivity = i32::try_from(st.settings.min_inactivity_secs).unwrap_or(300);
    for (field, v, min) in [
        (
            "session_lifetime_secs",
            change.session_lifetime_secs,
            MIN_SESSION_LIFETIME_SECS,
        ),
        (
            "inactivity_timeout_secs",
            change.inactivity_timeout_secs,
            min_inactivity,
        ),
    ] {
        if let Some(Some(n)) = v
            && !(min..=MAX_POLICY_SECS).contains(&n)
        {
            return Err(OrgError::OutOfRange { field, min });
        }
    }
    let origin = origin.clone();
    let meta = json!({"require_mfa": change.require_mfa, "session_lifetime_secs": change.session_lifetime_secs, "inactivity_timeout_secs": change.inactivity_timeout_secs, "share_member_login_failures": change.share_member_login_failures});
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                accounts::update_policy(
                    c,
                    org,
                    change.require_mfa,
                    change.session_lifetime_secs,
                    change.inactivity_timeout_secs,
                    change.share_member_login_failures,
                )
                .await?;
                audit::record(
                    c,
                    org,
                    Some(actor),
                    "org.policy_changed",
                    Some(org.to_string()),
                    meta,
                    &origin,
                )
                .await?;
                Ok::<_, OrgError>(())
            })
        })
        .await
}

/// A scheduled deletion of an org.
#[derive(Debug, Clone, Copy)]
pub struct DeletionSchedule {
    pub scheduled_at: DateTime<Utc>,
    pub deletes_at: DateTime<Utc>,
}

/// Schedules the org's deletion (owner; ADR 0011): nothing is deleted yet, members keep working,
/// an owner may cancel until `deletes_at` (now + `AUTH_ORG_DELETION_GRACE_SECS`). Scheduling
/// again while a deletion is pending answers the pending schedule (it never moves it).
pub async fn schedule_deletion(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    origin: &Origin,
) -> Result<DeletionSchedule, OrgError> {
    let origin = origin.clone();
    let grace = chrono::Duration::from_std(st.settings.org_deletion_grace)
        .unwrap_or(chrono::Duration::hours(72));
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let o = accounts::lock_org(c, org)
                    .await?
                    .ok_or(OrgError::NotFound)?;
                if let (Some(scheduled_at), Some(deletes_at)) =
                    (o.deletion_scheduled_at, o.deletes_at)
                {
                    return Ok(DeletionSchedule {
                        scheduled_at,
                        deletes_at,
                    });
                }
                // Microseconds, as Postgres stores them: the answer equals what GET shows later.
                let now = Utc::now().trunc_subsecs(6);
                let schedule = DeletionSchedule {
                    scheduled_at: now,
                    deletes_at: now + grace,
                };
                accounts::schedule_deletion(c, org, now, schedule.deletes_at, actor).await?;
                audit::record(
                    c,
                    org,
                    Some(actor),
                    "org.deletion_scheduled",
                    Some(org.to_string()),
                    json!({"deletes_at": schedule.deletes_at}),
                    &origin,
                )
                .await?;
                Ok::<_, OrgError>(schedule)
            })
        })
        .await
}

/// Cancels the org's scheduled deletion (an owner, or an operator: `actor` `None`), audited.
pub async fn cancel_deletion(
    st: &AppState,
    org: OrgId,
    actor: Option<UserId>,
    origin: &Origin,
) -> Result<(), OrgError> {
    let origin = origin.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let o = accounts::lock_org(c, org)
                    .await?
                    .ok_or(OrgError::NotFound)?;
                let deletes_at = o.deletes_at.ok_or(OrgError::DeletionNotScheduled)?;
                accounts::cancel_deletion(c, org).await?;
                audit::record(
                    c,
                    org,
                    actor,
                    "org.deletion_cancelled",
                    Some(org.to_string()),
                    json!({"deletes_at": deletes_at, "requested_by": o.deletion_requested_by}),
                    &origin,
                )
                .await?;
                Ok::<_, OrgError>(())
            })
        })
        .await
}

/// Every live org with a deletion scheduled, soonest first (`auth org-deletions list`).
pub async fn scheduled_deletions(st: &AppState) -> Result<Vec<Org>, Infra> {
    st.db
        .system_tx(|c| {
            Box::pin(async move { Ok::<_, Infra>(accounts::scheduled_deletions(c).await?) })
        })
        .await
}

/// An operator executes a scheduled deletion now instead of at `deletes_at`
/// (`auth org-deletions execute-now <org>`); audited as `org.deletion_forced`, then executed.
pub async fn force_deletion(st: &AppState, org: OrgId) -> Result<(), OrgError> {
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let now = Utc::now();
                if accounts::make_deletion_due(c, org, now).await? == 0 {
                    return Err(OrgError::DeletionNotScheduled);
                }
                audit::record(
                    c,
                    org,
                    None,
                    "org.deletion_forced",
                    Some(org.to_string()),
                    json!({"by": "operator"}),
                    &Origin::default(),
                )
                .await?;
                Ok::<_, OrgError>(())
            })
        })
        .await?;
    execute_due_deletions(st).await?;
    Ok(())
}

/// Executes one due deletion, if any: the org disappears for every member, every session that
/// carries it ends, and `org.deleted.v1` (through the outbox, in the same transaction) tells
/// every service to purge its data. The audit log stays. Safe with concurrent workers (the
/// row is claimed with `FOR UPDATE SKIP LOCKED` and marked deleted before commit).
pub async fn execute_due_deletion(st: &AppState) -> Result<Option<OrgId>, Infra> {
    let left_since = st.mark_window_start();
    let done = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                let now = Utc::now();
                let Some(o) = accounts::claim_due_deletion(c, now).await? else {
                    return Ok::<_, Infra>(None);
                };
                let org = o.id;
                tenancy::set_tenant(c, org).await?;
                accounts::soft_delete_org(c, org, now).await?;
                let revoked =
                    members::revoke_sessions_in_org(c, org, None, left_since, "org_deleted")
                        .await?;
                audit::record(
                    c,
                    org,
                    None,
                    "org.deleted",
                    Some(org.to_string()),
                    json!({
                        "requested_by": o.deletion_requested_by,
                        "scheduled_at": o.deletion_scheduled_at,
                        "deletes_at": o.deletes_at,
                        "sessions": revoked.len(),
                    }),
                    &Origin::default(),
                )
                .await?;
                crate::events::org_deleted(c, org, now).await?;
                Ok(Some((org, revoked)))
            })
        })
        .await?;
    let Some((org, revoked)) = done else {
        return Ok(None);
    };
    // Committed: a failure here leaves the marks to `revocations::sync`.
    st.publish_revocations(&revoked).await?;
    Ok(Some(org))
}

/// Executes every due deletion; returns how many.
pub async fn execute_due_deletions(st: &AppState) -> Result<usize, Infra> {
    let mut n = 0;
    while execute_due_deletion(st).await?.is_some() {
        n += 1;
    }
    Ok(n)
}
