//! The one place voice's typed core errors become HTTP problems (`application/problem+json`):
//! every `From<…> for ApiError` of the service, and the one other thing routes share (who the
//! PHI reader is). Route modules import this module and core / domain / store types, never
//! each other.

use servicekit::ApiError;

use crate::core::access_log::{AccessLogError, Reader};
use crate::core::agents::AgentError;
use crate::core::assistant_request::AnswerError;
use crate::core::calls::{AnalyticsError, CallsError};
use crate::core::inbox::InboxError;
use crate::core::knowledge::KnowledgeError;
use crate::core::numbers::NumberError;
use crate::core::outbound_call::OutboundError;
use crate::core::tool_calls::ToolCallsError;
use crate::core::vapi_message::ReceiveError;
use crate::core::webhook_auth::WebhookAuthError;
use crate::core::webhook_log::LogError;
use crate::core::webhook_secret::RotateError;
use crate::domain::fields::InvalidField;
use crate::store::error::StoreError;
use crate::workers::log_writer::LogWriteError;

/// The signed-in member reading PHI, for the access log.
pub fn reader(t: &tenancy::Tenant) -> Reader {
    Reader {
        org: t.org_id(),
        user_id: t.user_id().as_uuid(),
        role: t.role(),
        session_id: Some(t.session_id().as_uuid()),
    }
}

/// A 422 `invalid_field` naming the field.
pub fn invalid_field(e: InvalidField) -> ApiError {
    ApiError::invalid("invalid_field", Some(e.field), e.detail)
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        invalid_field(e)
    }
}

fn store(e: StoreError) -> ApiError {
    match e {
        StoreError::Db(d) => d.into(),
        StoreError::Pool(p) => p.into(),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        store(e)
    }
}

macro_rules! problem_from {
    ($t:ty, |$e:ident| $body:expr) => {
        impl From<$t> for ApiError {
            fn from($e: $t) -> Self {
                $body
            }
        }
    };
}

problem_from!(AgentError, |e| match e {
    AgentError::Invalid(f) => invalid_field(f),
    AgentError::NotFound => ApiError::not_found("agent"),
    AgentError::Store(s) => store(s),
});

problem_from!(NumberError, |e| match e {
    NumberError::Invalid(f) => invalid_field(f),
    NumberError::NotFound => ApiError::not_found("number"),
    NumberError::Taken => ApiError::Conflict {
        code: "number_taken",
        detail: "this number (or Vapi phone number id) is already in use".into(),
        extra: None,
    },
    NumberError::Store(s) => store(s),
});

problem_from!(CallsError, |e| match e {
    CallsError::InvalidQuery { field, detail } => {
        ApiError::invalid("invalid_query", Some(field), detail)
    }
    CallsError::Invalid(f) => invalid_field(f),
    CallsError::NotFound => ApiError::not_found("call"),
    CallsError::Sealing(e) => ApiError::internal(e),
    CallsError::Store(s) => store(s),
});

problem_from!(InboxError, |e| match e {
    InboxError::NotFound => ApiError::not_found("message"),
    InboxError::Sealing(e) => ApiError::internal(e),
    InboxError::Store(s) => store(s),
});

problem_from!(KnowledgeError, |e| match e {
    KnowledgeError::Invalid(f) => invalid_field(f),
    KnowledgeError::InvalidQuery { field, detail } => {
        ApiError::invalid("invalid_query", Some(field), detail)
    }
    KnowledgeError::NotFound => ApiError::not_found("document"),
    KnowledgeError::SystemDocument => ApiError::Conflict {
        code: "system_document",
        detail:
            "system documents are generated from calendar's services and hours; change them there"
                .into(),
        extra: None,
    },
    KnowledgeError::LimitReached(n) => ApiError::Conflict {
        code: "knowledge_limit_reached",
        detail: format!("the knowledge base holds {n} documents, its limit; delete some first"),
        extra: None,
    },
    KnowledgeError::Calendar(e) => ApiError::unavailable("calendar_unavailable", e),
    KnowledgeError::Store(s) => store(s),
});

problem_from!(AccessLogError, |e| match e {
    AccessLogError::InvalidQuery { field, detail } => {
        ApiError::invalid("invalid_query", Some(field), detail)
    }
    AccessLogError::Store(s) => store(s),
});

problem_from!(AnalyticsError, |e| match e {
    AnalyticsError::InvalidRange => ApiError::invalid(
        "invalid_query",
        Some("to"),
        "to must be on or after from, at most 366 days later",
    ),
    AnalyticsError::Store(s) => store(s),
});

problem_from!(OutboundError, |e| match e {
    OutboundError::Invalid(f) => invalid_field(f),
    OutboundError::VapiNotConfigured => ApiError::Unavailable {
        code: "vapi_not_configured",
        source: None,
    },
    OutboundError::TooMany => ApiError::TooManyRequests {
        retry_after_secs: 30,
    },
    OutboundError::VapiUnavailable(e) => ApiError::unavailable("vapi_unavailable", e),
    OutboundError::Store(s) => store(s),
});

problem_from!(RotateError, |e| match e {
    RotateError::Invalid(f) => invalid_field(f),
    RotateError::Random => ApiError::internal(anyhow::anyhow!("random source failed")),
    RotateError::Sealing(e) => ApiError::internal(e),
    RotateError::Store(s) => store(s),
});

problem_from!(WebhookAuthError, |e| match e {
    WebhookAuthError::Refused => ApiError::unauthorized(
        "invalid_webhook_credentials",
        "the webhook is not authenticated",
    ),
    WebhookAuthError::InFlight => ApiError::Conflict {
        code: "delivery_in_progress",
        detail: "this signed delivery is being processed; retry if it fails".into(),
        extra: None,
    },
    WebhookAuthError::RedisUnavailable(e) => ApiError::unavailable("redis_unavailable", e),
    WebhookAuthError::Sealing(e) => ApiError::internal(e),
    WebhookAuthError::Store(s) => store(s),
});

fn log_error(e: LogError) -> ApiError {
    match e {
        LogError::Sealing(e) => ApiError::internal(e),
        LogError::Write(LogWriteError::Stopped) => {
            ApiError::internal(anyhow::anyhow!("the delivery log writer stopped"))
        }
        LogError::Write(LogWriteError::Unavailable) => ApiError::Unavailable {
            code: "database_unavailable",
            source: None,
        },
    }
}

problem_from!(ReceiveError, |e| match e {
    ReceiveError::Routing(s) => store(s),
    ReceiveError::Answer(AnswerError::Store(s)) => store(s),
    ReceiveError::Tools(ToolCallsError::Store(s)) => store(s),
    ReceiveError::Log(l) => log_error(l),
});
