//! Test support shared by this crate's tests and benchmarks (never shipped).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed fixture should stop loudly

pub mod bus_harness;
