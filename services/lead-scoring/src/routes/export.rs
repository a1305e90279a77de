//! `GET /api/leads/export.csv`: every lead matching the list's filters as CSV, streamed in pages
//! of 500 read in their own short transactions (no transaction held while the client reads).
//! Admins and owners only: it is the whole contact list. Free-text cells that a spreadsheet
//! would run as a formula (`=`, `+`, `-`, `@`, tab, CR) are prefixed with `'`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use servicekit::ApiError;
use tenancy::{Db, OrgId, Role, Tenant};

use super::problem::ListLeadsQuery;
use crate::core::leads;
use crate::domain::csv::cell;
use crate::state::AppState;
use crate::store::contacts::{ContactRow, ListContacts};

const CHUNK: i64 = 500;

pub const HEADER: &str = "id,phone,name,email,score,tier,next_action,stage,stage_source,first_contact_at,last_contact_at,calls,appointments_booked,appointments_kept,appointments_no_show,appointments_cancelled,messages,opted_out_at,model_version\r\n";

pub fn row(r: &ContactRow) -> String {
    let t =
        |d: Option<chrono::DateTime<chrono::Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
    let cells = [
        r.id.to_string(),
        cell(&r.phone_e164, false),
        cell(r.name.as_deref().unwrap_or(""), true),
        cell(r.email.as_deref().unwrap_or(""), true),
        r.score.map(|s| s.to_string()).unwrap_or_default(),
        r.tier.clone().unwrap_or_default(),
        r.next_action.clone().unwrap_or_default(),
        r.stage.clone(),
        r.stage_source.clone(),
        t(r.first_contact_at),
        t(r.last_contact_at),
        r.calls_count.to_string(),
        r.appointments_booked.to_string(),
        r.appointments_kept.to_string(),
        r.appointments_no_show.to_string(),
        r.appointments_cancelled.to_string(),
        r.messages_count.to_string(),
        t(r.opted_out_at),
        r.model_version.clone().unwrap_or_default(),
    ];
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

struct Cursor {
    db: Db,
    org: OrgId,
    q: ListContacts,
    header: bool,
    done: bool,
}

async fn next_chunk(mut c: Cursor) -> Option<(Result<Bytes, ApiError>, Cursor)> {
    if c.done {
        return None;
    }
    let mut out = String::new();
    if c.header {
        c.header = false;
        out.push_str(HEADER);
    }
    c.q.fetch = CHUNK;
    match leads::list(&c.db, c.org, c.q.clone()).await {
        Ok(rows) => {
            if i64::try_from(rows.len()).unwrap_or(0) < CHUNK {
                c.done = true;
            }
            if let Some(last) = rows.last() {
                c.q.after = Some((last.sort_key(c.q.sort), last.id));
            }
            for r in &rows {
                out.push_str(&row(r));
            }
            metrics::counter!("leads_exported_rows_total")
                .increment(u64::try_from(rows.len()).unwrap_or(0));
            Some((Ok(Bytes::from(out)), c))
        }
        Err(e) => {
            // Headers are gone already: the client sees a cut-off download, the log says why.
            tracing::error!(error = %e, "lead export failed mid-stream");
            c.done = true;
            Some((Err(ApiError::from(e)), c))
        }
    }
}

/// The leads matching the list's filters as CSV (admins), streamed.
#[utoipa::path(get, path = "/api/leads/export.csv", tag = "leads", params(ListLeadsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "CSV, one header line then one line per lead (CRLF)", content_type = "text/csv", body = String),
        (status = 403, description = "insufficient_role (admins and owners export)"),
        (status = 422, description = "invalid_query: sort, tier, stage, q or to")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn export_csv(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<ListLeadsQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let q = q.into_inner().filters()?;
    let start = Cursor {
        db: st.db.clone(),
        org: tenant.org_id(),
        q,
        header: true,
        done: false,
    };
    let body = futures_util::stream::unfold(start, next_chunk);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"leads.csv\"",
        ))
        .streaming(body))
}
