//! GoTrue's `GET /settings`, and the OpenAPI description of the GoTrue dialect on the compatible
//! routes (ADR 0018). The dialect's helpers live in `problem::gotrue`.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

use crate::routes::problem::gotrue;
use crate::state::AppState;

/// GoTrue's `GET /settings`: which sign-in methods this server offers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// Each provider and whether it is on (`email`, `google`, `phone`, …).
    #[schema(value_type = Object)]
    pub external: Value,
    pub disable_signup: bool,
    pub mailer_autoconfirm: bool,
    pub phone_autoconfirm: bool,
    pub sms_provider: String,
    pub saml_enabled: bool,
    pub saml_private_key_next_configured: bool,
    pub passkeys_enabled: bool,
}

#[utoipa::path(get, path = "/api/auth/settings", operation_id = "gotrue_settings",
    responses((status = 200, description = "the sign-in methods offered (GoTrue's settings)", body = Settings)))]
pub async fn settings(st: web::Data<AppState>) -> HttpResponse {
    let google = st.settings.google_client_id.is_some();
    HttpResponse::Ok().json(Settings {
        external: json!({
            "email": true, "google": google, "phone": false, "anonymous_users": false,
            "apple": false, "azure": false, "bitbucket": false, "discord": false,
            "facebook": false, "figma": false, "github": false, "gitlab": false,
            "keycloak": false, "linkedin_oidc": false, "notion": false, "saml": false,
            "slack_oidc": false, "spotify": false, "twitch": false, "twitter": false,
            "workos": false, "zoom": false
        }),
        disable_signup: false,
        mailer_autoconfirm: !st.settings.signup_confirm_email,
        phone_autoconfirm: false,
        sms_provider: String::new(),
        saml_enabled: false,
        saml_private_key_next_configured: false,
        passkeys_enabled: false,
    })
}

/// What GoTrue clients send to `/otp` (`email` or `phone`, `data`, `create_user`, …; read by
/// no one here).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct OtpBody {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// GoTrue's `POST /otp` (magic link / one-time code sign-in): not offered. Answers GoTrue's
/// 422 `otp_disabled` in either dialect (the route exists only for GoTrue clients).
#[utoipa::path(post, path = "/api/auth/otp", operation_id = "gotrue_otp", request_body = OtpBody,
    responses((status = 422, description = "otp_disabled: sign-in with a mailed link or code is not offered; use the password or Google")))]
pub async fn otp(_body: servicekit::Json<Value>) -> HttpResponse {
    gotrue::not_offered(
        "otp_disabled",
        "sign-in with a mailed link or code is not offered; sign in with the password or Google",
    )
}

/// The compatible operations (path, method): their 4xx answers are documented in both dialects.
pub const COMPATIBLE: &[(&str, &str)] = &[
    ("/api/auth/signup", "post"),
    ("/api/auth/token", "post"),
    ("/api/auth/user", "get"),
    ("/api/auth/user", "put"),
    ("/api/auth/logout", "post"),
    ("/api/auth/recover", "post"),
    ("/api/auth/otp", "post"),
    ("/api/auth/factors", "post"),
    ("/api/auth/factors/{id}/challenge", "post"),
    ("/api/auth/factors/{id}/verify", "post"),
    ("/api/auth/factors/{id}", "delete"),
    ("/api/auth/reauthenticate", "get"),
    ("/api/auth/verify", "post"),
    ("/api/auth/resend", "post"),
];

/// Documents GoTrue's error body (`application/json`, `GoTrueError`) beside problem+json on
/// every 4xx of the compatible operations, and the statuses only the GoTrue dialect answers.
pub fn document(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{Content, Ref, RefOr, Response};
    let content = |name: &str| {
        Content::new(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
            Ref::from_schema_name(name),
        )))
    };
    // The statuses GoTrue's codes answer with (see `translate`), and the extractor's.
    let gotrue_statuses = ["400", "401", "403", "404", "413", "415", "422", "429"];
    for (path, method) in COMPATIBLE {
        let Some(item) = doc.paths.paths.get_mut(*path) else {
            continue;
        };
        let op = match *method {
            "get" => item.get.as_mut(),
            "put" => item.put.as_mut(),
            "post" => item.post.as_mut(),
            "delete" => item.delete.as_mut(),
            _ => None,
        };
        let Some(op) = op else {
            continue;
        };
        for status in gotrue_statuses {
            let r = op
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(Response::new("an error")));
            if let RefOr::T(r) = r {
                r.content
                    .insert("application/problem+json".into(), content("Problem"));
                r.content
                    .insert("application/json".into(), content("GoTrueError"));
                r.description.push_str(
                    " (with `X-Supabase-Api-Version`: GoTrue's error body, see ADR 0018)",
                );
            }
        }
    }
    doc
}
