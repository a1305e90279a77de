//! Sending one mail over SMTP (lettre, tokio transport, 10 s timeout).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret as _;

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// A transport for `smtp_url` (`smtps://user:pass@host:465`) sending as `from`.
    pub fn new(smtp_url: &secrecy::SecretString, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.expose_secret())?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(Smtp {
            transport,
            from: from.parse()?,
        })
    }

    pub async fn send(&self, to: &str, subject: String, body: String) -> anyhow::Result<()> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(subject)
            .body(body)?;
        self.transport.send(msg).await?;
        Ok(())
    }
}
