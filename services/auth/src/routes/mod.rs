//! auth's HTTP routes.

pub mod account;
pub mod audit;
pub mod flags;
pub mod jwks;
pub mod members;
pub mod mfa;
pub mod orgs;
pub mod recovery;
pub mod sessions;
pub mod sso;

use actix_web::{HttpRequest, web};

use crate::store::audit::Origin;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(jwks::jwks)
        .service(sso::authorize)
        .service(sso::callback)
        .service(account::signup)
        .service(account::token)
        .service(account::logout)
        .service(recovery::recover)
        .service(recovery::verify)
        .service(account::get_user)
        .service(account::put_user)
        .service(sessions::list)
        .service(sessions::revoke)
        .service(audit::list)
        .service(flags::list)
        .service(flags::set_override)
        .service(mfa::list)
        .service(mfa::enroll)
        .service(mfa::challenge)
        .service(mfa::verify)
        .service(mfa::remove)
        .service(orgs::mine)
        .service(orgs::create)
        .service(orgs::validate)
        .service(orgs::get)
        .service(orgs::update)
        .service(members::accept)
        .service(members::list_members)
        .service(members::change_role)
        .service(members::remove_member)
        .service(members::invite)
        .service(members::list_invitations)
        .service(members::revoke_invitation)
        .service(members::delete_org);
}

/// The caller's IP and user agent. `X-Forwarded-For` counts only when the gateway in front is
/// trusted to set it (`AUTH_TRUST_FORWARDED_FOR`); otherwise a client could pick its own IP and
/// escape the per-IP limits.
pub fn origin(req: &HttpRequest, trust_forwarded: bool) -> Origin {
    // The gateway appends the address it saw: the LAST entry is the one a client cannot forge
    // (earlier entries are whatever the client sent).
    let forwarded = || {
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .map(str::to_string)
    };
    let ip = if trust_forwarded {
        forwarded().or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    Origin { ip, user_agent }
}

/// For `Option<Option<T>>` fields: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`).
pub fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
