//! Background loops: the dispatcher that sends due messages.

pub mod dispatcher;
