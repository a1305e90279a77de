//! voice-webhook's HTTP routes (extract → core → view): Vapi's server URL and the dashboard
//! API (`/api/voice/…`, the knowledge base included), registered in one place, and the OpenAPI document that describes them.

pub mod access_log;
pub mod agents;
pub mod calls;
pub mod knowledge;
pub mod messages;
pub mod numbers;
pub mod problem;
pub mod secrets;
pub mod webhook;

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        webhook::receive_vapi,
        webhook::receive_vapi_for_org,
        agents::create_agent,
        agents::list_agents,
        agents::get_agent,
        agents::update_agent,
        agents::delete_agent,
        numbers::create_number,
        numbers::list_numbers,
        numbers::get_number,
        numbers::update_number,
        numbers::delete_number,
        calls::list_calls,
        calls::get_call,
        calls::analytics,
        calls::start_outbound_call,
        secrets::rotate_webhook_secret,
        messages::list_messages,
        messages::get_message,
        messages::mark_handled,
        access_log::list_access_log,
        knowledge::create_document,
        knowledge::upload_document,
        knowledge::list_documents,
        knowledge::get_document,
        knowledge::update_document,
        knowledge::delete_document,
        knowledge::search_knowledge,
        knowledge::refresh_knowledge,
        knowledge::get_settings,
        knowledge::put_settings,
    ),
    info(
        title = "Voxanne voice-webhook",
        description = "Vapi server URL, agents, phone numbers, calls, transcripts, live tool execution and the knowledge base."
    )
)]
struct ApiDoc;

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

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
                .route("/messages", web::get().to(messages::list_messages))
                .route("/messages/{id}", web::get().to(messages::get_message))
                .route(
                    "/messages/{id}/handled",
                    web::post().to(messages::mark_handled),
                )
                .route("/access-log", web::get().to(access_log::list_access_log))
                // The fixed paths before `/knowledge/{id}`.
                .route("/knowledge", web::post().to(knowledge::create_document))
                .route("/knowledge", web::get().to(knowledge::list_documents))
                .route(
                    "/knowledge/upload",
                    web::post().to(knowledge::upload_document),
                )
                .route(
                    "/knowledge/search",
                    web::get().to(knowledge::search_knowledge),
                )
                .route(
                    "/knowledge/refresh",
                    web::post().to(knowledge::refresh_knowledge),
                )
                .route("/knowledge/settings", web::get().to(knowledge::get_settings))
                .route("/knowledge/settings", web::put().to(knowledge::put_settings))
                .route("/knowledge/{id}", web::get().to(knowledge::get_document))
                .route("/knowledge/{id}", web::put().to(knowledge::update_document))
                .route(
                    "/knowledge/{id}",
                    web::delete().to(knowledge::delete_document),
                )
                .route(
                    "/webhook-secret/rotate",
                    web::post().to(secrets::rotate_webhook_secret),
                ),
        );
}
