//! auth's HTTP routes: extract → core → view. Route modules import only `problem` besides
//! core, domain and store types; this module registers them and lists them in the OpenAPI
//! document.

pub mod audit;
pub mod flags;
pub mod gotrue;
pub mod jwks;
pub mod members;
pub mod mfa;
pub mod orgs;
pub mod problem;
pub mod recovery;
pub mod sessions;
pub mod signup;
pub mod sso;
pub mod token;
pub mod user;

use actix_web::guard::{self, Guard};
use actix_web::{HttpRequest, Resource, web};
use servicekit::ApiError;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Voxanne auth",
        description = "Organizations, users, memberships, sessions, MFA, SSO, audit log, JWKS and service tokens."
    ),
    paths(
        jwks::jwks,
        signup::signup,
        sso::authorize,
        sso::callback,
        token::token,
        sessions::logout,
        recovery::recover,
        recovery::verify,
        recovery::resend,
        user::get_user,
        user::put_user,
        user::reauthenticate,
        user::reauthenticate_nonce,
        sessions::list,
        sessions::revoke,
        audit::list,
        audit::own_security_events,
        audit::member_security_events,
        flags::list,
        flags::set_override,
        mfa::list,
        mfa::enroll,
        mfa::challenge,
        mfa::verify,
        mfa::remove,
        mfa::regenerate_recovery_codes,
        orgs::mine,
        orgs::create,
        orgs::get,
        orgs::validate,
        orgs::update,
        members::accept,
        members::list_members,
        members::change_role,
        members::remove_member,
        members::invite,
        members::list_invitations,
        members::revoke_invitation,
        orgs::delete,
        orgs::cancel_deletion,
        gotrue::settings,
        gotrue::otp,
    ),
    components(schemas(problem::gotrue::GoTrueError))
)]
struct ApiDoc;

/// auth's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    gotrue::document(ApiDoc::openapi())
}

/// One method at one path (a resource of its own, as each route had with the method macros).
fn at(path: &str, method: impl Guard + 'static) -> Resource {
    web::resource(path).guard(method)
}

/// `/api/orgs/{id}` (and `validate/{org_id}`) answered 400 `invalid_org_id` for a malformed id
/// before they took `web::Path<OrgId>`; they still do.
fn org_id_path() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, req: &HttpRequest| {
        let raw = req
            .match_info()
            .get("id")
            .or_else(|| req.match_info().get("org_id"))
            .unwrap_or_default();
        ApiError::BadRequest {
            code: "invalid_org_id",
            detail: format!("{raw:?} is not an organization id (a UUID)"),
        }
        .into()
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(at("/.well-known/jwks.json", guard::Get()).to(jwks::jwks))
        .service(at("/api/auth/authorize", guard::Get()).to(sso::authorize))
        .service(at("/api/auth/callback", guard::Get()).to(sso::callback))
        .service(at("/api/auth/signup", guard::Post()).to(signup::signup))
        .service(at("/api/auth/token", guard::Post()).to(token::token))
        .service(at("/api/auth/logout", guard::Post()).to(sessions::logout))
        .service(at("/api/auth/recover", guard::Post()).to(recovery::recover))
        .service(at("/api/auth/verify", guard::Post()).to(recovery::verify))
        .service(at("/api/auth/resend", guard::Post()).to(recovery::resend))
        .service(at("/api/auth/settings", guard::Get()).to(gotrue::settings))
        .service(at("/api/auth/otp", guard::Post()).to(gotrue::otp))
        .service(at("/api/auth/user", guard::Get()).to(user::get_user))
        .service(at("/api/auth/user", guard::Put()).to(user::put_user))
        .service(at("/api/auth/reauthenticate", guard::Post()).to(user::reauthenticate))
        .service(at("/api/auth/reauthenticate", guard::Get()).to(user::reauthenticate_nonce))
        .service(at("/api/auth/sessions", guard::Get()).to(sessions::list))
        .service(at("/api/auth/sessions/{id}", guard::Delete()).to(sessions::revoke))
        .service(at("/api/auth/audit", guard::Get()).to(audit::list))
        .service(at("/api/auth/user/security-events", guard::Get()).to(audit::own_security_events))
        .service(
            at("/api/orgs/{id}/security-events", guard::Get())
                .app_data(org_id_path())
                .to(audit::member_security_events),
        )
        .service(at("/api/auth/flags", guard::Get()).to(flags::list))
        .service(at("/api/auth/flags/{key}", guard::Put()).to(flags::set_override))
        .service(at("/api/auth/factors", guard::Get()).to(mfa::list))
        .service(at("/api/auth/factors", guard::Post()).to(mfa::enroll))
        .service(
            at("/api/auth/factors/recovery-codes/regenerate", guard::Post())
                .to(mfa::regenerate_recovery_codes),
        )
        .service(at("/api/auth/factors/{id}/challenge", guard::Post()).to(mfa::challenge))
        .service(at("/api/auth/factors/{id}/verify", guard::Post()).to(mfa::verify))
        .service(at("/api/auth/factors/{id}", guard::Delete()).to(mfa::remove))
        .service(at("/api/orgs", guard::Get()).to(orgs::mine))
        .service(at("/api/orgs", guard::Post()).to(orgs::create))
        .service(
            at("/api/orgs/validate/{org_id}", guard::Get())
                .app_data(org_id_path())
                .to(orgs::validate),
        )
        .service(
            at("/api/orgs/{id}", guard::Get())
                .app_data(org_id_path())
                .to(orgs::get),
        )
        .service(
            at("/api/orgs/{id}", guard::Patch())
                .app_data(org_id_path())
                .to(orgs::update),
        )
        .service(at("/api/orgs/invitations/accept", guard::Post()).to(members::accept))
        .service(at("/api/orgs/{id}/members", guard::Get()).to(members::list_members))
        .service(at("/api/orgs/{id}/members/{user_id}", guard::Patch()).to(members::change_role))
        .service(at("/api/orgs/{id}/members/{user_id}", guard::Delete()).to(members::remove_member))
        .service(at("/api/orgs/{id}/invitations", guard::Post()).to(members::invite))
        .service(at("/api/orgs/{id}/invitations", guard::Get()).to(members::list_invitations))
        .service(
            at(
                "/api/orgs/{id}/invitations/{invitation_id}",
                guard::Delete(),
            )
            .to(members::revoke_invitation),
        )
        .service(
            at("/api/orgs/{id}", guard::Delete())
                .app_data(org_id_path())
                .to(orgs::delete),
        )
        .service(
            at("/api/orgs/{id}/deletion", guard::Delete())
                .app_data(org_id_path())
                .to(orgs::cancel_deletion),
        );
}
