//! lead-scoring's HTTP routes (extract → core → view) and its OpenAPI document; `problem` holds
//! what the route modules share. The ops routes (/health, /ready, /metrics, /openapi.json) are
//! the runtime's.

pub mod export;
pub mod leads;
pub mod problem;

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        leads::list_leads,
        export::export_csv,
        leads::get_lead,
        leads::change_stage,
        leads::add_note
    ),
    info(
        title = "Voxanne lead-scoring",
        description = "Contacts built from events, lead scores with reasons that name their evidence, next best actions, pipeline stages."
    )
)]
struct ApiDoc;

/// The service's OpenAPI document, generated from its handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/leads")
            .route("", web::get().to(leads::list_leads))
            // Before `/{id}`: `export.csv` is not a lead id.
            .route("/export.csv", web::get().to(export::export_csv))
            .route("/{id}", web::get().to(leads::get_lead))
            .route("/{id}/stage", web::post().to(leads::change_stage))
            .route("/{id}/notes", web::post().to(leads::add_note)),
    );
}
