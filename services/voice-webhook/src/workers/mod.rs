//! Voice's background loops: the group-commit writer of the webhook delivery log, the
//! workers applying logged deliveries and the log's retention.

pub mod apply;
pub mod log_writer;
pub mod retention;
