//! The mail outbox: every mail is first a row here, written in the transaction that caused it;
//! the mailer worker claims due rows and records the outcome.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::auth::mail_outbox;

/// A mail claimed for sending.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

pub async fn queue_mail(
    c: &mut AsyncPgConnection,
    to: &str,
    kind: &str,
    subject: &str,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(Uuid::new_v4()),
            mail_outbox::to_email.eq(to),
            mail_outbox::kind.eq(kind),
            mail_outbox::subject.eq(subject),
            mail_outbox::body.eq(body),
            mail_outbox::created_at.eq(Utc::now()),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

/// Whether a mail of `kind` to `to` was queued after `since` (throttles mails anyone can
/// trigger, such as "account exists").
pub async fn queued_since(
    c: &mut AsyncPgConnection,
    to: &str,
    kind: &str,
    since: chrono::DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        mail_outbox::table
            .filter(mail_outbox::to_email.eq(to))
            .filter(mail_outbox::kind.eq(kind))
            .filter(mail_outbox::created_at.gt(since)),
    ))
    .get_result(c)
    .await
}

/// Claims up to `batch` due rows (fewer than `max_attempts` tries): each gets its next attempt
/// pushed out by `backoff(attempts)`, so another instance skips it and a crash mid-send only
/// delays it.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    batch: i64,
    max_attempts: i32,
    backoff: fn(i32) -> chrono::Duration,
) -> QueryResult<Vec<Due>> {
    conn.transaction(async move |c| {
        let rows: Vec<Due> = mail_outbox::table
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::attempts.lt(max_attempts))
            .filter(mail_outbox::next_attempt_at.le(Utc::now()))
            .order(mail_outbox::next_attempt_at.asc())
            .limit(batch)
            .select((
                mail_outbox::id,
                mail_outbox::to_email,
                mail_outbox::subject,
                mail_outbox::body,
                mail_outbox::attempts,
            ))
            .for_update()
            .skip_locked()
            .load(c)
            .await?;
        for due in &rows {
            diesel::update(mail_outbox::table.find(due.id))
                .set((
                    mail_outbox::attempts.eq(due.attempts + 1),
                    mail_outbox::next_attempt_at.eq(Utc::now() + backoff(due.attempts)),
                ))
                .execute(c)
                .await?;
        }
        Ok::<_, diesel::result::Error>(rows)
    })
    .await
}

pub async fn mark_sent(c: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set(mail_outbox::sent_at.eq(Utc::now()))
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn mark_failed(c: &mut AsyncPgConnection, id: Uuid, error: &str) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set(mail_outbox::last_error.eq(error))
        .execute(c)
        .await
        .map(|_| ())
}
