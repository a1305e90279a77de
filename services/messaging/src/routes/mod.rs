//! messaging's HTTP routes (one module per resource, `problem` for what they share) and its
//! OpenAPI document; the ops routes (/health, /ready, /metrics, /openapi.json) are the runtime's.

pub mod messages;
pub mod opt_outs;
pub mod problem;
pub mod settings;
pub mod templates;
pub mod twilio;
pub mod webhooks;

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        twilio::get_twilio,
        twilio::put_twilio,
        twilio::delete_twilio,
        messages::send_message,
        messages::list_messages,
        messages::get_message,
        opt_outs::list_opt_outs,
        opt_outs::add_opt_out,
        opt_outs::remove_opt_out,
        opt_outs::opt_out_audit,
        templates::list_templates,
        templates::put_template,
        templates::preview_template,
        settings::get_settings,
        settings::put_settings,
        webhooks::status_callback,
        webhooks::inbound
    ),
    info(
        title = "Voxanne messaging",
        description = "SMS and WhatsApp through each org's Twilio, templates, reminders and opt-outs."
    )
)]
struct ApiDoc;

/// The service's OpenAPI document, generated from its handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/messaging/twilio")
            .route(web::get().to(twilio::get_twilio))
            .route(web::put().to(twilio::put_twilio))
            .route(web::delete().to(twilio::delete_twilio)),
    )
    .service(
        web::scope("/api/messaging/messages")
            .route("", web::post().to(messages::send_message))
            .route("", web::get().to(messages::list_messages))
            .route("/{id}", web::get().to(messages::get_message)),
    )
    .service(
        web::scope("/api/messaging/opt-outs")
            .route("", web::get().to(opt_outs::list_opt_outs))
            .route("", web::post().to(opt_outs::add_opt_out))
            .route("/{phone}", web::delete().to(opt_outs::remove_opt_out))
            .route("/{phone}/audit", web::get().to(opt_outs::opt_out_audit)),
    )
    .service(
        web::scope("/api/messaging/templates")
            .route("", web::get().to(templates::list_templates))
            .route("/preview", web::post().to(templates::preview_template))
            .route("/{key}", web::put().to(templates::put_template)),
    )
    .service(
        web::resource("/api/messaging/settings")
            .route(web::get().to(settings::get_settings))
            .route(web::put().to(settings::put_settings)),
    )
    .service(
        web::scope("/api/webhooks/twilio/{org_id}")
            .route("/status", web::post().to(webhooks::status_callback))
            .route("/inbound", web::post().to(webhooks::inbound)),
    );
}
