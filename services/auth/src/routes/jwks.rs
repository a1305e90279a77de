//! `GET /.well-known/jwks.json`: the public keys every service verifies access tokens with.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use servicekit::ApiError;

use crate::state::AppState;

/// One published Ed25519 public key (RFC 8037).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    /// The public key, base64url.
    pub x: String,
}

/// The JWK set (RFC 7517): the signing key and retired keys whose tokens may still be live.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "jwks",
    responses((status = 200, description = "the JWK set", body = JwkSet),
              (status = 503, description = "signing_keys_unavailable")))]
pub async fn jwks(st: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let doc = st
        .keys
        .jwks()
        .await
        .map_err(|e| ApiError::unavailable("signing_keys_unavailable", e))?;
    // Short cache: verifiers refetch on an unknown kid anyway, and a retired key should leave soon.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(&*doc))
}
