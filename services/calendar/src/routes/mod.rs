//! Calendar's HTTP routes.

pub mod services;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/calendar/services")
            .route("", web::post().to(services::create_service))
            .route("", web::get().to(services::list_services))
            .route("/{id}", web::get().to(services::get_service))
            .route("/{id}", web::delete().to(services::delete_service)),
    );
}
