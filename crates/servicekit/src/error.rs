//! The one error policy: every error leaves a service as RFC 9457 `application/problem+json` with
//! a stable `code` and the trace id; `detail` only for 4xx (a 5xx never carries internal detail,
//! its cause is logged instead). Pool or broker unavailable is a 503.

#[cfg(feature = "http")]
use actix_web::http::StatusCode;
#[cfg(feature = "http")]
use actix_web::http::header::{self, HeaderValue};
#[cfg(feature = "http")]
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict {
        code: &'static str,
        detail: String,
        extra: Option<Map<String, Value>>,
    },
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    #[error("{detail}")]
    Unprocessable {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{code}: a dependency is unavailable")]
    Unavailable {
        code: &'static str,
        #[source]
        source: Option<anyhow::Error>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound {
            code: "not_found",
            detail: format!("{what} not found"),
        }
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            detail: detail.into(),
        }
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            detail: detail.into(),
        }
    }
    pub fn invalid(code: &'static str, field: Option<&str>, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            detail: detail.into(),
            field: field.map(str::to_string),
        }
    }
    pub fn unavailable(code: &'static str, source: impl Into<anyhow::Error>) -> Self {
        ApiError::Unavailable {
            code,
            source: Some(source.into()),
        }
    }
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(source.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Unavailable { .. } => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The problem document (without the trace id, which is added when responding).
    pub fn problem(&self) -> Map<String, Value> {
        let status = http::StatusCode::from_u16(self.status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("https://docs.voxanne.dev/problems/{}", self.code())),
        );
        body.insert(
            "title".into(),
            json!(status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("code".into(), json!(self.code()));
        if status.is_client_error() {
            body.insert("detail".into(), json!(self.to_string()));
        }
        match self {
            ApiError::Unprocessable { field: Some(f), .. } => {
                body.insert("field".into(), json!(f));
            }
            ApiError::Conflict {
                extra: Some(extra), ..
            } => {
                for (k, v) in extra {
                    body.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            ApiError::PayloadTooLarge { limit } => {
                body.insert("limit_bytes".into(), json!(limit));
            }
            _ => {}
        }
        body
    }
}

#[cfg(feature = "http")]
impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(e) => tracing::error!(
                error = format!("{e:#}"),
                code = self.code(),
                "internal error"
            ),
            ApiError::Unavailable { source, .. } => tracing::warn!(
                error = source
                    .as_ref()
                    .map(|e| format!("{e:#}"))
                    .unwrap_or_default(),
                code = self.code(),
                "dependency unavailable"
            ),
            _ => tracing::info!(
                code = self.code(),
                status = status.as_u16(),
                "request refused"
            ),
        }
        let mut body = self.problem();
        if let Some(trace_id) = crate::telemetry::current_trace_id() {
            body.insert("trace_id".into(), json!(trace_id));
        }
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let ApiError::Unauthorized { .. } = self {
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header((header::RETRY_AFTER, "1"));
        }
        resp.body(Value::Object(body).to_string())
    }
}

#[cfg(feature = "http")]
/// A problem+json response for a bare status produced outside our handlers (actix's own 405, a
/// 404 from a resource without a matching route, …), so no response leaves without a body.
pub fn bare_problem(status: StatusCode) -> HttpResponse {
    let code = match status {
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::BAD_REQUEST => "bad_request",
        s if s.is_server_error() => "internal_error",
        _ => "request_refused",
    };
    let mut body = Map::new();
    body.insert(
        "type".into(),
        json!(format!("https://docs.voxanne.dev/problems/{code}")),
    );
    body.insert(
        "title".into(),
        json!(status.canonical_reason().unwrap_or("Error")),
    );
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("code".into(), json!(code));
    if let Some(trace_id) = crate::telemetry::current_trace_id() {
        body.insert("trace_id".into(), json!(trace_id));
    }
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .body(Value::Object(body).to_string())
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match e {
            E::NotFound => ApiError::not_found("resource"),
            E::DatabaseError(K::UniqueViolation, _) => ApiError::Conflict {
                code: "already_exists",
                detail: "a resource with these values already exists".into(),
                extra: None,
            },
            E::DatabaseError(K::CheckViolation, _) => ApiError::invalid(
                "constraint_violation",
                None,
                "a value is out of the allowed range",
            ),
            E::DatabaseError(K::ClosedConnection, _) => ApiError::Unavailable {
                code: "database_unavailable",
                source: Some(e.into()),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolUnavailable> for ApiError {
    fn from(e: crate::db::PoolUnavailable) -> Self {
        ApiError::Unavailable {
            code: "database_unavailable",
            source: Some(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_hundreds_carry_no_detail() {
        let e = ApiError::internal(anyhow::anyhow!("password=hunter2 at db"));
        let p = e.problem();
        assert_eq!(p["status"], 500);
        assert_eq!(p["code"], "internal_error");
        assert!(!Value::Object(p).to_string().contains("hunter2"));
    }

    #[test]
    fn four_hundreds_explain() {
        let p = ApiError::invalid(
            "invalid_field",
            Some("duration_minutes"),
            "must be positive",
        )
        .problem();
        assert_eq!(p["status"], 422);
        assert_eq!(p["field"], "duration_minutes");
        assert_eq!(p["detail"], "must be positive");
    }
}
