//! `Json<T>`: the JSON body extractor every handler uses. Unlike actix's, it names the offending
//! field (serde_path_to_error), enforces the configured body limit with a 413, and speaks
//! problem+json for every failure. The error handlers for actix's own extractors live here too.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The request body limit, put in app data by the server builder.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(262_144, |l| l.0);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType {
                    detail: "expected Content-Type: application/json".into(),
                });
            }
            if declared_len.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::with_capacity(declared_len.unwrap_or(1024).min(limit));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(payload_error)?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(Json)
        })
    }
}

/// Parses a JSON body: syntax errors are 400 `malformed_json`, type and shape errors are 422
/// `invalid_field` naming the field path.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("request body is not valid JSON: {inner}"),
            },
            Category::Data => {
                let field = (path != ".").then_some(path);
                let detail = match &field {
                    Some(f) => format!("field `{f}`: {}", strip_position(&inner.to_string())),
                    None => strip_position(&inner.to_string()),
                };
                // serde names a missing field itself; surface it as the field too.
                let field = field.or_else(|| missing_field(&inner.to_string()));
                ApiError::Unprocessable {
                    code: "invalid_field",
                    detail,
                    field,
                }
            }
        }
    })
}

fn strip_position(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn payload_error(e: PayloadError) -> ApiError {
    match e {
        PayloadError::Overflow => ApiError::PayloadTooLarge { limit: 0 },
        other => ApiError::BadRequest {
            code: "bad_body",
            detail: format!("could not read the request body: {other}"),
        },
    }
}

/// Error handlers so actix's own extractors (`web::Json`, `web::Path`, `web::Query`) answer
/// problem+json too.
pub fn extractor_configs(
    limit: usize,
) -> (
    web::JsonConfig,
    web::PathConfig,
    web::QueryConfig,
    web::PayloadConfig,
) {
    let json = web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            match err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge { limit }
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType {
                    detail: "expected Content-Type: application/json".into(),
                },
                JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Unprocessable {
                    code: "invalid_field",
                    detail: strip_position(&e.to_string()),
                    field: None,
                },
                JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
                    code: "malformed_json",
                    detail: format!("request body is not valid JSON: {e}"),
                },
                other => ApiError::BadRequest {
                    code: "bad_body",
                    detail: other.to_string(),
                },
            }
            .into()
        });
    let path = web::PathConfig::default().error_handler(|err, _req| {
        let detail = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            other => other.to_string(),
        };
        ApiError::NotFound {
            code: "invalid_path",
            detail,
        }
        .into()
    });
    let query = web::QueryConfig::default().error_handler(|err, _req| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            other => other.to_string(),
        };
        ApiError::BadRequest {
            code: "invalid_query",
            detail,
        }
        .into()
    });
    let payload = web::PayloadConfig::default().limit(limit);
    (json, path, query, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Req {
        name: String,
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        minutes: u32,
    }

    #[test]
    fn syntax_error_is_400() {
        let e = parse::<Req>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.code(), "malformed_json");
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let e = parse::<Req>(br#"{"name":"a","inner":{"minutes":"ten"}}"#).unwrap_err();
        let p = e.problem();
        assert_eq!(p["status"], 422);
        assert_eq!(p["field"], "inner.minutes");
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse::<Req>(br#"{"inner":{"minutes":1}}"#).unwrap_err();
        assert_eq!(e.problem()["field"], "name");
    }
}
