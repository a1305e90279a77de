//! Background loops: the mail outbox sender, the revocation rewriter and the org deletion worker.

pub mod mailer;
pub mod org_deletion;
pub mod revocation_sync;
