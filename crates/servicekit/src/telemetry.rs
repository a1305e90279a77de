//! Telemetry: JSON logs through the redaction writer, OpenTelemetry spans (exported over OTLP only
//! when an endpoint is configured, each span redacted on its way out; trace ids exist either way so logs, problem bodies and outgoing
//! calls correlate), W3C `traceparent` in and out, and the Prometheus recorder.

use std::collections::HashMap;
use std::sync::OnceLock;

#[cfg(feature = "http")]
use actix_web::body::MessageBody;
#[cfg(feature = "http")]
use actix_web::dev::{ServiceRequest, ServiceResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
#[cfg(feature = "http")]
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact::{self, RedactingMakeWriter};

/// Keeps the tracer provider alive; `shutdown` flushes pending spans.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes spans off the actix thread (the OTLP channel's task would otherwise block it).
    pub async fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            let _ = tokio::task::spawn_blocking(move || p.shutdown()).await;
        }
    }
}

/// Installs the global subscriber writing redacted JSON lines to stdout.
pub fn init(
    service: &'static str,
    filter: &str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<TelemetryGuard> {
    init_with_writer(service, filter, otlp_endpoint, std::io::stdout)
}

/// Same as `init`, with the log destination chosen by the caller (tests capture it). The first
/// call in a process wins; later calls are no-ops, so many test apps can share one process.
pub fn init_with_writer<W>(
    service: &'static str,
    filter: &str,
    otlp_endpoint: Option<&str>,
    writer: W,
) -> anyhow::Result<TelemetryGuard>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    static INIT: OnceLock<()> = OnceLock::new();
    if INIT.get().is_some() {
        return Ok(TelemetryGuard { provider: None });
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = match otlp_endpoint {
        Some(endpoint) => Some(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?,
        ),
        None => None,
    };
    let provider = tracer_provider(service, exporter);
    let tracer = provider.tracer(service);
    opentelemetry::global::set_tracer_provider(provider.clone());

    if subscriber(filter, writer, tracer).try_init().is_ok() {
        let _ = INIT.set(());
        Ok(TelemetryGuard {
            provider: Some(provider),
        })
    } else {
        Ok(TelemetryGuard { provider: None })
    }
}

/// The tracer provider: spans go to `exporter` (OTLP in production) through `RedactingExporter`,
/// so no attribute leaves the process unredacted.
pub fn tracer_provider<E: SpanExporter + 'static>(
    service: &'static str,
    exporter: Option<E>,
) -> SdkTracerProvider {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(exporter) = exporter {
        builder = builder.with_batch_exporter(RedactingExporter::new(exporter));
    }
    builder.build()
}

/// The log and trace pipeline: JSON lines through the redacting writer, and spans to `tracer`.
pub fn subscriber<W>(
    filter: &str,
    writer: W,
    tracer: opentelemetry_sdk::trace::Tracer,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        // One line per request when its root span closes (method, route, status, latency).
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(RedactingMakeWriter::new(writer));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Redacts every span before it reaches the wrapped exporter: attribute values (by field name and
/// by pattern, `redact::redact_field`), event attributes (log lines inside a span travel as span
/// events) and the error description. The log writer's redaction does not see these: they leave
/// over OTLP, not through stdout.
#[derive(Debug)]
pub struct RedactingExporter<E> {
    inner: E,
}

impl<E> RedactingExporter<E> {
    pub fn new(inner: E) -> Self {
        RedactingExporter { inner }
    }
}

fn redact_attributes(attributes: &mut [opentelemetry::KeyValue]) {
    use opentelemetry::{Array, StringValue, Value};
    for kv in attributes {
        let key = kv.key.as_str().to_string();
        let redacted = match &kv.value {
            Value::String(v) => Some(Value::String(redact::redact_field(&key, v.as_str()).into())),
            Value::Array(Array::String(items)) => Some(Value::Array(Array::String(
                items
                    .iter()
                    .map(|v| StringValue::from(redact::redact_field(&key, v.as_str())))
                    .collect(),
            ))),
            // A number or a flag under a personal name (an age, a flag on a diagnosis) too.
            _ => redact::sensitive_key(&key).map(|m| Value::String(m.into())),
        };
        if let Some(v) = redacted {
            kv.value = v;
        }
    }
}

/// Masks personal data in one span (what `RedactingExporter` does to each).
pub fn redact_span(span: &mut SpanData) {
    redact_attributes(&mut span.attributes);
    for event in span.events.events.iter_mut() {
        redact_attributes(&mut event.attributes);
        event.name = redact::redact(&event.name).into();
    }
    if let opentelemetry::trace::Status::Error { description } = &span.status {
        span.status = opentelemetry::trace::Status::error(redact::redact(description));
    }
}

impl<E: SpanExporter> SpanExporter for RedactingExporter<E> {
    fn export(
        &self,
        mut batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        batch.iter_mut().for_each(redact_span);
        self.inner.export(batch)
    }
    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The trace id of the current span, when there is one.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The W3C trace context of the current span, as headers to put on an outgoing message or call.
pub fn current_trace_headers() -> HashMap<String, String> {
    let cx = tracing::Span::current().context();
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut map));
    map
}

/// Adds `traceparent` (and `tracestate`) of the current span to an outgoing reqwest call.
pub fn inject_traceparent(mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (k, v) in current_trace_headers() {
        req = req.header(k, v);
    }
    req
}

#[cfg(feature = "http")]
struct HeaderSource<'a>(&'a actix_web::http::header::HeaderMap);

#[cfg(feature = "http")]
impl Extractor for HeaderSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Root span per request that continues an incoming W3C `traceparent`.
#[cfg(feature = "http")]
pub struct TraceparentRoot;

#[cfg(feature = "http")]
impl tracing_actix_web::RootSpanBuilder for TraceparentRoot {
    fn on_request_start(req: &ServiceRequest) -> tracing::Span {
        let span = tracing_actix_web::root_span!(req);
        let remote = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderSource(req.headers()))
        });
        if remote.span().span_context().is_valid() {
            let _ = span.set_parent(remote);
        }
        span
    }
    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome)
    }
}

/// The process-wide Prometheus recorder (installed once; every app in the process shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    /// What the OTLP exporter would be handed.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// What the log writer would write.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn names_and_transcripts_leave_neither_in_log_lines_nor_in_exported_spans() {
        let spans = Collect::default();
        let logs = Lines::default();
        let provider = super::tracer_provider("redaction-test", Some(spans.clone()));
        let subscriber = super::subscriber("info", logs.clone(), provider.tracer("redaction-test"));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "end of call",
                caller_name = "Jordan Lee",
                call.transcript = "I have chest pain since Monday",
                caller_number = "+15550100123",
                call_id = 42,
            );
            let _entered = span.enter();
            tracing::info!(
                patient_name = "Ana Díaz",
                summary = "wants a root canal",
                "booking for {}",
                "+15550100123"
            );
        });
        provider.force_flush().unwrap();

        let secrets = [
            "Jordan Lee",
            "chest pain",
            "15550100123",
            "Ana Díaz",
            "root canal",
        ];
        let written = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(written.contains("booking for"), "{written}");
        for secret in secrets {
            assert!(
                !written.contains(secret),
                "{secret} in the logs:\n{written}"
            );
        }

        let exported = spans.0.lock().unwrap().clone();
        assert_eq!(exported.len(), 1, "{exported:?}");
        let span = &exported[0];
        let attr = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attr("caller_name").as_deref(), Some("[REDACTED:name]"));
        assert_eq!(attr("call.transcript").as_deref(), Some("[REDACTED:text]"));
        assert_eq!(
            attr("call_id").as_deref(),
            Some("42"),
            "other attributes kept"
        );
        let everything = format!("{:?} {:?}", span.attributes, span.events.events);
        assert!(everything.contains("booking for"), "{everything}");
        for secret in secrets {
            assert!(
                !everything.contains(secret),
                "{secret} exported:\n{everything}"
            );
        }
    }
}
