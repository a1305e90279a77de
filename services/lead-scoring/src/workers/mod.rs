//! Background loops: the intent classifier (when configured).

pub mod classifier;
