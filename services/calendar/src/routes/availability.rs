//! `GET /api/calendar/availability`: open slots of one service in a range, for the dashboard.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use servicekit::ApiError;
use tenancy::Tenant;
use utoipa::IntoParams;
use uuid::Uuid;

use super::problem::SlotsView;
use crate::core::availability;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    pub service_id: Uuid,
    /// Only this provider's slots; omitted: a slot is listed when any provider of the service
    /// is free.
    pub provider_id: Option<Uuid>,
    /// RFC 3339 instant with an offset.
    pub from: DateTime<FixedOffset>,
    /// RFC 3339; at most 62 days after `from`.
    pub to: DateTime<FixedOffset>,
}

/// Bookable slots (business hours in the clinic's zone, minus appointments with buffers, live
/// holds and Google busy time, within minimum notice and the booking window).
#[utoipa::path(get, path = "/api/calendar/availability", tag = "availability", params(AvailabilityQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SlotsView), (status = 404, description = "no such service or provider"),
        (status = 422, description = "invalid_query (to not after from, or a range over 62 days), service_inactive or provider_not_eligible")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_availability(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let slots = availability::availability(
        &st.db,
        tenant.org_id(),
        q.service_id,
        q.provider_id,
        q.from.with_timezone(&Utc),
        q.to.with_timezone(&Utc),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SlotsView::from(slots)))
}
