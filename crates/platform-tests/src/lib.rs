//! Test support shared by this crate's tests and benchmarks (never shipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failed fixture should stop loudly
#![allow(clippy::as_conversions)] // latency arithmetic in the harness: counts and micros to f64

pub mod bus_harness;
