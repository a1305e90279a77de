//! `GET /.well-known/jwks.json`: the public keys every service verifies access tokens with.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

#[utoipa::path(get, path = "/.well-known/jwks.json", responses((status = 200, description = "JWK set")))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(st: web::Data<AppState>) -> Result<HttpResponse, servicekit::ApiError> {
    let doc = st
        .keys
        .jwks()
        .await
        .map_err(|e| servicekit::ApiError::unavailable("signing_keys_unavailable", e))?;
    // Short cache: verifiers refetch on an unknown kid anyway, and a retired key should leave soon.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(&*doc))
}
