//! The mailer: every mail is first a row of `auth.mail_outbox` (written in the transaction that
//! caused it, so nothing is mailed for a rolled-back change and nothing is lost to an SMTP
//! outage). With `AUTH_SMTP_URL` set, this worker sends unsent rows over SMTP (lettre), retrying
//! with backoff up to `MAX_ATTEMPTS`; without it, mail stays in the table for the local run and
//! the tests to read.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;
use servicekit::db::{PgPool, checkout};
use uuid::Uuid;

use crate::store::schema::mail_outbox;

pub const MAX_ATTEMPTS: i32 = 10;
const BATCH: i64 = 50;

pub struct Mailer {
    pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    poll: Duration,
}

impl Mailer {
    pub fn new(
        pool: PgPool,
        smtp_url: &secrecy::SecretString,
        from: &str,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.expose_secret())?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Mailer {
            pool,
            transport,
            from: from.parse()?,
            poll,
        })
    }

    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.send_due().await {
                    Ok(0) => tokio::time::sleep(self.poll).await,
                    Ok(n) => tracing::info!(sent = n, "mail sent"),
                    Err(e) => {
                        tracing::warn!(error = %e, "mail outbox unavailable");
                        tokio::time::sleep(self.poll).await;
                    }
                }
            }
        })
    }

    /// Sends the mail that is due; returns how many were sent.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let mut conn = checkout(&self.pool).await?;
        // Claim: due rows get their next attempt pushed out (2^attempts s, capped at an hour), so
        // another instance skips them and a crash mid-send only delays them.
        let claimed: Vec<(Uuid, String, String, String, i32)> = conn
            .transaction(async move |c| {
                let rows: Vec<(Uuid, String, String, String, i32)> = mail_outbox::table
                    .filter(mail_outbox::sent_at.is_null())
                    .filter(mail_outbox::attempts.lt(MAX_ATTEMPTS))
                    .filter(mail_outbox::next_attempt_at.le(Utc::now()))
                    .order(mail_outbox::next_attempt_at.asc())
                    .limit(BATCH)
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
                for (id, _, _, _, attempts) in &rows {
                    let backoff =
                        chrono::Duration::seconds(2i64.pow((*attempts as u32).min(11)).min(3600));
                    diesel::update(mail_outbox::table.find(*id))
                        .set((
                            mail_outbox::attempts.eq(attempts + 1),
                            mail_outbox::next_attempt_at.eq(Utc::now() + backoff),
                        ))
                        .execute(c)
                        .await?;
                }
                Ok::<_, diesel::result::Error>(rows)
            })
            .await?;
        let mut sent = 0;
        for (id, to, subject, body, attempts) in claimed {
            let outcome = async {
                let msg = Message::builder()
                    .from(self.from.clone())
                    .to(to.parse()?)
                    .subject(subject)
                    .body(body)?;
                self.transport.send(msg).await?;
                Ok::<_, anyhow::Error>(())
            }
            .await;
            let update = diesel::update(mail_outbox::table.find(id));
            match outcome {
                Ok(()) => {
                    update
                        .set(mail_outbox::sent_at.eq(Utc::now()))
                        .execute(&mut conn)
                        .await?;
                    sent += 1;
                }
                Err(e) => {
                    metrics::counter!("auth_mail_failures_total").increment(1);
                    tracing::warn!(mail = %id, attempts = attempts + 1, error = %e, "mail not sent");
                    update
                        .set(mail_outbox::last_error.eq(e.to_string()))
                        .execute(&mut conn)
                        .await?;
                }
            }
        }
        Ok(sent)
    }
}
