//! lead-scoring's HTTP routes. The service's domain endpoints arrive with its own issue.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
