//! Tests only: see tests/platform.
