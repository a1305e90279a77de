//! The audit log as use cases see it: one entry in an org, the org's log page by page, and the
//! security events about a person (a failed login): recorded once for the user — never copied
//! into their orgs — read by the user, and by an org's admins only when the org shares its
//! members' login failures (issue 11 item 7c, ADR 0010 addendum).

use chrono::{DateTime, Utc};
use servicekit::page::{Page, PageRequest};
use tenancy::{OrgId, UserId};

use crate::core::infra::Infra;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::{self, Entry, Filter, Origin};
use crate::store::security_events::{self, SecurityEvent};

/// Audits `action` by `user` on `target` in `org` (its own transaction).
pub async fn record_in(
    st: &AppState,
    org: OrgId,
    user: UserId,
    action: &'static str,
    target: String,
    meta: serde_json::Value,
    origin: &Origin,
) -> Result<(), Infra> {
    let origin = origin.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                audit::record(c, org, Some(user), action, Some(target), meta, &origin).await?;
                Ok::<_, Infra>(())
            })
        })
        .await
}

/// Audits `action` by `user` in every org the user belongs to: only for the user's own
/// successful account changes an org should know about (a password reset, a verified email).
/// Events anyone can cause about a person (failed logins, a reset asked for their email) go to
/// [`record_for_user`] instead.
pub async fn record_in_each_org(
    st: &AppState,
    user: UserId,
    action: &'static str,
    meta: serde_json::Value,
    origin: &Origin,
) -> Result<(), Infra> {
    let orgs: Vec<OrgId> = crate::store::user_tx(&st.pool, user, |c| {
        Box::pin(async move {
            Ok::<_, Infra>(
                accounts::memberships_of(c, user)
                    .await?
                    .into_iter()
                    .map(|(m, _)| m.org_id)
                    .collect(),
            )
        })
    })
    .await?;
    for org in orgs {
        record_in(
            st,
            org,
            user,
            action,
            user.to_string(),
            meta.clone(),
            origin,
        )
        .await?;
    }
    Ok(())
}

/// Records `action` about `user` once, for the user (not in their orgs): failed logins,
/// lockouts, reset requests — with the IP and user agent of whoever caused them.
pub async fn record_for_user(
    st: &AppState,
    user: UserId,
    action: &'static str,
    meta: serde_json::Value,
    origin: &Origin,
) -> Result<(), Infra> {
    let origin = origin.clone();
    st.db
        .system_tx(|c| {
            Box::pin(async move {
                security_events::record(c, user, action, meta, &origin).await?;
                Ok::<_, Infra>(())
            })
        })
        .await
}

/// One page of the user's own security events, newest first.
pub async fn own_security_events(
    st: &AppState,
    user: UserId,
    page: PageRequest,
) -> Result<Page<SecurityEvent>, Infra> {
    let (before, limit) = (page.after, page.fetch_limit());
    let rows = st
        .db
        .system_tx(|c| {
            Box::pin(async move {
                Ok::<_, Infra>(security_events::list_own(c, user, before, limit).await?)
            })
        })
        .await?;
    Ok(page.page(rows, |e| (e.created_at, e.id), |e| e))
}

/// Why an admin may not read the members' login failures.
#[derive(Debug, thiserror::Error)]
pub enum MemberEventsError {
    #[error(
        "this organization does not share its members' login failures (PATCH /api/orgs/{{id}} share_member_login_failures)"
    )]
    NotShared,
    #[error("organization not found")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] Infra),
}
crate::core::infra::infra_from!(MemberEventsError);

/// One page of the failed logins and lockouts of `org`'s active members (since they joined),
/// newest first — only when the org's policy shares them.
pub async fn member_security_events(
    st: &AppState,
    org: OrgId,
    page: PageRequest,
) -> Result<Page<SecurityEvent>, MemberEventsError> {
    let (before, limit) = (page.after, page.fetch_limit());
    let rows = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let o = accounts::org_by_id(c, org)
                    .await?
                    .ok_or(MemberEventsError::NotFound)?;
                if !o.share_member_login_failures {
                    return Err(MemberEventsError::NotShared);
                }
                Ok(security_events::list_for_members(c, org, before, limit).await?)
            })
        })
        .await?;
    Ok(page.page(rows, |e| (e.created_at, e.id), |e| e))
}

/// What the org's log may be narrowed to.
#[derive(Debug, Default)]
pub struct Narrowing {
    pub action: Option<String>,
    pub actor: Option<UserId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of the org's log, newest first.
pub async fn list(
    st: &AppState,
    org: OrgId,
    narrowing: Narrowing,
    page: PageRequest,
) -> Result<Page<Entry>, Infra> {
    let filter = Filter {
        action: narrowing.action,
        actor: narrowing.actor,
        from: narrowing.from,
        to: narrowing.to,
        before: page.after,
        limit: page.fetch_limit(),
    };
    let rows = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, Infra>(audit::list(c, org, &filter).await?) })
        })
        .await?;
    Ok(page.page(rows, |e| (e.created_at, e.id), |e| e))
}
