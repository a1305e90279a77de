//! `GET /internal/v1/orgs/{org_id}/clinic`: the clinic's time zone and opening hours, for the
//! services that speak or route by them (voice: "today", after-hours, transfers). Calendar is
//! their one owner (ARCHITECTURE §5): other services ask here instead of keeping a copy.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use servicekit::ApiError;
use tenancy::{OrgId, ServiceCaller};
use utoipa::ToSchema;

use crate::core::settings;
use crate::domain::settings::{DateOverride, SettingsDoc, TimeRange};
use crate::state::AppState;

/// The clinic's zone and hours, as `GET /api/calendar/settings` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicAnswer {
    /// IANA zone, e.g. `America/New_York`.
    timezone: String,
    /// `monday` … `sunday` → ranges (`HH:MM`, an end of `24:00` is midnight); empty = closed.
    weekly_hours: BTreeMap<String, Vec<TimeRange>>,
    /// Dates whose hours replace the weekday's (empty hours: closed all day).
    date_overrides: Vec<DateOverride>,
}

/// The clinic's time zone, weekly hours and date overrides (defaults in UTC until stored).
#[utoipa::path(get, path = "/internal/v1/orgs/{org_id}/clinic", tag = "internal",
    params(("org_id" = uuid::Uuid, Path, description = "the org")), security(("service" = [])),
    responses((status = 200, body = ClinicAnswer)))]
#[tracing::instrument(skip_all, fields(org = %org, caller = %caller.name))]
pub async fn clinic(
    st: web::Data<AppState>,
    caller: ServiceCaller,
    org: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let s = settings::get(&st.db, org.into_inner()).await?;
    let doc = SettingsDoc::from(&s);
    Ok(HttpResponse::Ok().json(ClinicAnswer {
        timezone: doc.timezone,
        weekly_hours: doc.weekly_hours,
        date_overrides: doc.date_overrides,
    }))
}
