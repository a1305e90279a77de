//! The Supabase Auth (GoTrue) dialect of our `/api/auth` routes (ADR 0018): telling it, reading
//! GoTrue clients' bodies, and GoTrue's error bodies (shared by the route modules, like
//! `problem`).
//!
//! A request carrying `X-Supabase-Api-Version` (both official clients always send `2024-01-01`)
//! speaks GoTrue on the compatible routes: the fields GoTrue clients send are accepted (unknown
//! ones ignored), and errors come back as GoTrue's body (`code`, `error_code`, `msg`, `message`)
//! with the header echoed, so the clients surface their own `AuthApiError` with the right code.
//! Without the header the same routes keep our strict bodies and problem+json. Success bodies
//! are GoTrue's shapes plus our fields; only where the two cannot be one body (the pending
//! signup, an MFA challenge's `expires_at`, a removed factor) does the dialect pick the answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Value, json};
use servicekit::ApiError;

/// `{}`: GoTrue's answer to `/recover`, `/resend` and `/reauthenticate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Empty {}

/// The header both official clients send; echoed on GoTrue errors.
pub const API_VERSION_HEADER: &str = "X-Supabase-Api-Version";
pub const API_VERSION: &str = "2024-01-01";

/// The request speaks GoTrue's dialect.
pub fn requested(req: &HttpRequest) -> bool {
    req.headers().contains_key(API_VERSION_HEADER)
}

/// GoTrue's error body (the 2024-01-01 `code`/`message` and the legacy `error_code`/`msg`, both
/// with the same string code).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GoTrueError {
    /// GoTrue's error code, e.g. `invalid_credentials`, `validation_failed`.
    pub code: String,
    /// The same code (GoTrue's legacy field).
    pub error_code: String,
    pub msg: String,
    pub message: String,
    /// `weak_password` only: why the password was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub weak_password: Option<Value>,
}

/// Our error code and status → GoTrue's (status, code).
fn translate(e: &ApiError) -> (u16, &'static str) {
    let code = e.code();
    if let ApiError::Unprocessable { field: Some(f), .. } = e
        && code == "missing_field"
        && f == "current_password"
    {
        return (400, "current_password_required");
    }
    match code {
        "invalid_credentials" | "invalid_password" => (400, "invalid_credentials"),
        "email_taken" => (422, "user_already_exists"),
        "weak_password" => (422, "weak_password"),
        "invalid_field" | "missing_field" | "malformed_json" | "bad_body" | "invalid_query"
        | "invalid_email" => (400, "validation_failed"),
        "unsupported_grant_type" => (400, "validation_failed"),
        "invalid_refresh_token" => (400, "refresh_token_not_found"),
        "refresh_token_already_used" => (400, "refresh_token_already_used"),
        "session_revoked" => (400, "session_not_found"),
        "session_expired" => (400, "session_expired"),
        "rate_limited" => (429, "over_request_rate_limit"),
        "aal2_required" => (403, "insufficient_aal"),
        "reauthentication_needed" => (400, "reauthentication_needed"),
        "invalid_mfa_code" => (422, "mfa_verification_failed"),
        "invalid_challenge" => (422, "mfa_challenge_expired"),
        "too_many_factors" => (422, "too_many_enrolled_mfa_factors"),
        "missing_token" => (401, "no_authorization"),
        "invalid_or_expired_token" => (403, "otp_expired"),
        "invalid_token" | "token_expired" => (403, "bad_jwt"),
        _ => (e.status(), code),
    }
}

/// GoTrue's answer for `e` (4xx only: 5xx stay problem+json, which both clients read as an
/// error too, and which the platform documents for every route).
pub fn error(e: &ApiError) -> Option<HttpResponse> {
    if e.status() >= 500 {
        return None;
    }
    let (status, code) = translate(e);
    let msg = e.to_string();
    let body = GoTrueError {
        code: code.to_string(),
        error_code: code.to_string(),
        message: msg.clone(),
        msg,
        weak_password: (code == "weak_password").then(|| json!({"reasons": ["length"]})),
    };
    let mut res =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    res.insert_header((API_VERSION_HEADER, API_VERSION))
        .insert_header(("x-sb-error-code", code));
    if let ApiError::TooManyRequests { retry_after_secs } = e {
        res.insert_header(("Retry-After", retry_after_secs.to_string()));
    }
    Some(res.json(body))
}

/// GoTrue's 422 for a feature this server does not offer (`otp_disabled`, …).
pub fn not_offered(code: &'static str, msg: &str) -> HttpResponse {
    HttpResponse::UnprocessableEntity()
        .insert_header((API_VERSION_HEADER, API_VERSION))
        .insert_header(("x-sb-error-code", code))
        .json(GoTrueError {
            code: code.to_string(),
            error_code: code.to_string(),
            msg: msg.to_string(),
            message: msg.to_string(),
            weak_password: None,
        })
}

/// The bearer extractor's refusal in GoTrue's terms (GoTrue dialect only): no token → 401
/// `no_authorization`, a bad or expired one → 403 `bad_jwt`, a revoked session → 403
/// `session_not_found` (auth-js then drops its session); other refusals unchanged.
pub fn bearer<T>(go: bool, t: Result<T, ApiError>) -> Result<T, ApiError> {
    t.map_err(|e| {
        if !go {
            return e;
        }
        let detail = e.to_string();
        match e.code() {
            "missing_token" => ApiError::unauthorized("no_authorization", detail),
            "invalid_token" | "token_expired" => ApiError::forbidden("bad_jwt", detail),
            "session_revoked" => ApiError::forbidden("session_not_found", detail),
            _ => e,
        }
    })
}

/// A handler's result in the caller's dialect.
pub fn answer(gotrue: bool, r: Result<HttpResponse, ApiError>) -> Result<HttpResponse, ApiError> {
    match r {
        Err(e) if gotrue => error(&e).ok_or(e),
        other => other,
    }
}

/// A GoTrue client's body: a JSON object whose unknown fields are ignored.
pub fn object(body: Value) -> Result<serde_json::Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::BadRequest {
            code: "bad_body",
            detail: "the body must be a JSON object".into(),
        }),
    }
}

/// An optional string field (`null` and absent are the same; another type is refused).
pub fn opt_str(
    m: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(
            "invalid_field",
            Some(field),
            format!("`{field}` must be a string"),
        )),
    }
}

/// A required string field.
pub fn req_str(m: &serde_json::Map<String, Value>, field: &str) -> Result<String, ApiError> {
    opt_str(m, field)?.ok_or_else(|| {
        ApiError::invalid(
            "missing_field",
            Some(field),
            format!("`{field}` is required"),
        )
    })
}

/// An optional JSON object field (GoTrue's `data`).
pub fn opt_object(
    m: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            if serde_json::to_vec(o).map_or(usize::MAX, |v| v.len()) > MAX_METADATA_BYTES {
                return Err(ApiError::invalid(
                    "invalid_field",
                    Some(field),
                    format!("`{field}` exceeds {MAX_METADATA_BYTES} bytes"),
                ));
            }
            Ok(Some(o.clone()))
        }
        Some(_) => Err(ApiError::invalid(
            "invalid_field",
            Some(field),
            format!("`{field}` must be an object"),
        )),
    }
}

/// The most `user_metadata` one request may set (the column allows 16 KiB in total).
pub const MAX_METADATA_BYTES: usize = 8192;
