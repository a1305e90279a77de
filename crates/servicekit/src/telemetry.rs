//! Telemetry: JSON logs through the redaction writer, OpenTelemetry spans (exported over OTLP only
//! when an endpoint is configured; trace ids exist either way so logs, problem bodies and outgoing
//! calls correlate), W3C `traceparent` in and out, and the Prometheus recorder.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact::RedactingMakeWriter;

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
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service);
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        // One line per request when its root span closes (method, route, status, latency).
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(RedactingMakeWriter::new(writer));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer));
    if registry.try_init().is_ok() {
        let _ = INIT.set(());
        Ok(TelemetryGuard {
            provider: Some(provider),
        })
    } else {
        Ok(TelemetryGuard { provider: None })
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

struct HeaderSource<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Root span per request that continues an incoming W3C `traceparent`.
pub struct TraceparentRoot;

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
