//! The mailer: every mail is first a row of `auth.mail_outbox` (written in the transaction that
//! caused it, so nothing is mailed for a rolled-back change and nothing is lost to an SMTP
//! outage). With `AUTH_SMTP_URL` set, this worker sends unsent rows over SMTP, retrying with
//! backoff up to `MAX_ATTEMPTS`; without it, mail stays in the table for the local run and the
//! tests to read.

use std::time::Duration;

use servicekit::db::{PgPool, checkout};

use crate::clients::smtp::Smtp;
use crate::store::mail_outbox;

pub const MAX_ATTEMPTS: i32 = 10;
const BATCH: i64 = 50;

/// 2^attempts seconds, at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exp = u32::try_from(attempts).unwrap_or(0).min(11);
    chrono::Duration::seconds(2i64.pow(exp).min(3600))
}

pub struct Mailer {
    pool: PgPool,
    smtp: Smtp,
    poll: Duration,
}

impl Mailer {
    pub fn new(
        pool: PgPool,
        smtp_url: &secrecy::SecretString,
        from: &str,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Mailer {
            pool,
            smtp: Smtp::new(smtp_url, from)?,
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
        let claimed = mail_outbox::claim_due(&mut conn, BATCH, MAX_ATTEMPTS, backoff).await?;
        let mut sent = 0;
        for due in claimed {
            match self.smtp.send(&due.to, due.subject, due.body).await {
                Ok(()) => {
                    mail_outbox::mark_sent(&mut conn, due.id).await?;
                    sent += 1;
                }
                Err(e) => {
                    metrics::counter!("auth_mail_failures_total").increment(1);
                    tracing::warn!(mail = %due.id, attempts = due.attempts + 1, error = %e, "mail not sent");
                    mail_outbox::mark_failed(&mut conn, due.id, &e.to_string()).await?;
                }
            }
        }
        Ok(sent)
    }
}
