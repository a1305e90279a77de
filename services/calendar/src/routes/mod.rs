//! Calendar's HTTP routes: one module per resource (extract → core → view), `problem` for what
//! they share; `configure` registers them all and `openapi` documents them.

pub mod appointments;
pub mod availability;
pub mod google;
pub mod internal;
pub mod internal_clinic;
pub mod problem;
pub mod providers;
pub mod services;
pub mod settings;

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        services::create_service,
        services::list_services,
        services::get_service,
        services::update_service,
        services::delete_service,
        providers::create_provider,
        providers::list_providers,
        providers::get_provider,
        providers::update_provider,
        providers::delete_provider,
        settings::get_settings,
        settings::put_settings,
        availability::get_availability,
        appointments::create_appointment,
        appointments::list_appointments,
        appointments::get_appointment,
        appointments::reschedule_appointment,
        appointments::cancel_appointment,
        appointments::complete_appointment,
        appointments::no_show_appointment,
        google::status,
        google::connect,
        google::callback,
        google::disconnect,
        internal::services,
        internal::providers,
        internal::availability,
        internal::next_slots,
        internal::hold,
        internal::book,
        internal::find_appointments,
        internal::reschedule,
        internal::cancel,
        internal_clinic::clinic
    ),
    info(
        title = "Voxanne calendar",
        description = "Services catalog, providers, business hours, availability, appointments and Google Calendar sync."
    )
)]
struct ApiDoc;

/// Calendar's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/calendar/services")
            .route("", web::post().to(services::create_service))
            .route("", web::get().to(services::list_services))
            .route("/{id}", web::get().to(services::get_service))
            .route("/{id}", web::patch().to(services::update_service))
            .route("/{id}", web::delete().to(services::delete_service)),
    )
    .service(
        web::scope("/api/calendar/providers")
            .route("", web::post().to(providers::create_provider))
            .route("", web::get().to(providers::list_providers))
            .route("/{id}", web::get().to(providers::get_provider))
            .route("/{id}", web::patch().to(providers::update_provider))
            .route("/{id}", web::delete().to(providers::delete_provider)),
    )
    .service(
        web::resource("/api/calendar/settings")
            .route(web::get().to(settings::get_settings))
            .route(web::put().to(settings::put_settings)),
    )
    .route(
        "/api/calendar/availability",
        web::get().to(availability::get_availability),
    )
    .service(
        web::scope("/api/calendar/appointments")
            .route("", web::post().to(appointments::create_appointment))
            .route("", web::get().to(appointments::list_appointments))
            .route("/{id}", web::get().to(appointments::get_appointment))
            .route(
                "/{id}/reschedule",
                web::post().to(appointments::reschedule_appointment),
            )
            .route(
                "/{id}/cancel",
                web::post().to(appointments::cancel_appointment),
            )
            .route(
                "/{id}/complete",
                web::post().to(appointments::complete_appointment),
            )
            .route(
                "/{id}/no-show",
                web::post().to(appointments::no_show_appointment),
            ),
    )
    .service(
        web::scope("/api/integrations/google")
            .route("", web::get().to(google::status))
            .route("", web::delete().to(google::disconnect))
            .route("/connect", web::get().to(google::connect))
            .route("/callback", web::get().to(google::callback)),
    )
    .service(
        web::scope("/internal/v1/orgs/{org_id}")
            .route("/clinic", web::get().to(internal_clinic::clinic))
            .route("/services", web::get().to(internal::services))
            .route("/providers", web::get().to(internal::providers))
            .route("/availability", web::get().to(internal::availability))
            .route("/next-slots", web::get().to(internal::next_slots))
            .route("/holds", web::post().to(internal::hold))
            .route("/appointments", web::post().to(internal::book))
            .route("/appointments", web::get().to(internal::find_appointments))
            .route(
                "/appointments/{id}/reschedule",
                web::post().to(internal::reschedule),
            )
            .route(
                "/appointments/{id}/cancel",
                web::post().to(internal::cancel),
            ),
    );
}
