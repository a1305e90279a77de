//! Captures the process's log output (after redaction) so a test can assert what was written.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber_writer::CapturedWriter;

/// Shared buffer that implements `MakeWriter` for the telemetry layer.
#[derive(Clone, Default)]
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().map(|b| b.clone()).unwrap_or_default())
            .into_owned()
    }
}

mod tracing_subscriber_writer {
    use super::*;
    pub struct CapturedWriter(pub Arc<Mutex<Vec<u8>>>);
    impl Write for CapturedWriter {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(data);
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = CapturedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter(self.buf.clone())
    }
}
