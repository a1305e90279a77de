//! voice-webhook's HTTP routes: Vapi's server URL and the dashboard API (`/api/voice/…`).

pub mod agents;
pub mod calls;
pub mod numbers;
pub mod secrets;

use actix_web::web;
use servicekit::ApiError;

use crate::webhook;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/webhooks/vapi", web::post().to(webhook::receive_vapi))
        .route(
            "/api/webhooks/vapi/{org_id}",
            web::post().to(webhook::receive_vapi_for_org),
        )
        .service(
            web::scope("/api/voice")
                .route("/agents", web::post().to(agents::create_agent))
                .route("/agents", web::get().to(agents::list_agents))
                .route("/agents/{id}", web::get().to(agents::get_agent))
                .route("/agents/{id}", web::put().to(agents::update_agent))
                .route("/agents/{id}", web::delete().to(agents::delete_agent))
                .route("/numbers", web::post().to(numbers::create_number))
                .route("/numbers", web::get().to(numbers::list_numbers))
                .route("/numbers/{id}", web::get().to(numbers::get_number))
                .route("/numbers/{id}", web::put().to(numbers::update_number))
                .route("/numbers/{id}", web::delete().to(numbers::delete_number))
                .route("/calls", web::get().to(calls::list_calls))
                .route("/calls", web::post().to(calls::start_outbound_call))
                .route("/calls/{id}", web::get().to(calls::get_call))
                .route("/analytics", web::get().to(calls::analytics))
                .route(
                    "/webhook-secret/rotate",
                    web::post().to(secrets::rotate_webhook_secret),
                ),
        );
}

/// A text field within bounds (trimmed), or 422 naming it.
pub fn text(
    field: &str,
    v: Option<String>,
    max: usize,
    required: bool,
) -> Result<String, ApiError> {
    let v = v.map(|s| s.trim().to_string()).unwrap_or_default();
    if required && v.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            Some(field),
            format!("{field} is required"),
        ));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            "invalid_field",
            Some(field),
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(v)
}

/// An E.164 number (`+` and 7–15 digits), or 422 naming the field.
pub fn e164(field: &str, v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    let digits = v.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(v.to_string())
    } else {
        Err(ApiError::invalid(
            "invalid_field",
            Some(field),
            format!("{field} must be an E.164 number like +15550123400"),
        ))
    }
}
