//! Calendar's background loops: the Google sync worker.

pub mod google_sync;
