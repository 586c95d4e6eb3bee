//! The metrics endpoint: `GET /metrics` answers the OpenMetrics text exposition
//! (`application/openmetrics-text; version=1.0.0`) of [`crate::metrics`] and, for `serve`
//! with bindings, the per-binding gauges of a [`Survey`]. It is served on a listener of its
//! own (`serve --listen-metrics ADDR` or a socket named `metrics`), never on a credential
//! listener, so scraping it needs no token and reveals none.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::ProcessCounters;
use crate::status::Survey;

/// The exposition's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `router` with every answer counted as `front`'s ([`crate::metrics::request`]).
pub fn counted(router: axum::Router, front: crate::metrics::Front) -> axum::Router {
    // tower's MapResponse adds no allocation to the request path (axum's map_response
    // boxes each future).
    router.layer(tower::util::MapResponseLayer::new(
        move |response: Response| {
            crate::metrics::request(front, response.status().as_u16());
            response
        },
    ))
}

/// The router for the metrics listener: `/metrics`, and `/healthz` for probes.
pub fn router(survey: Option<Arc<Survey>>) -> axum::Router {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCounters));
    if let Some(survey) = survey {
        registry.register_collector(Box::new(BindingGauges(survey)));
    }
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(Arc::new(registry))
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    // The survey reads binding and certificate files: off the async threads.
    let encoded = tokio::task::spawn_blocking(move || {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &registry).map(|()| text)
    })
    .await;
    match encoded {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(error) => {
            tracing::error!(%error, "the metrics encoder failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Per-binding gauges, from a survey made at each scrape.
#[derive(Debug)]
struct BindingGauges(Arc<Survey>);

impl Collector for BindingGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let report = self.0.report();
        let loaded = report.bindings.iter().filter(|b| b.mode.is_some()).count();
        encoder
            .encode_descriptor(
                "needroleshere_bindings_loaded",
                "Binding files serve can read.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(loaded as i64))?;
        let gauge = |encoder: &mut DescriptorEncoder,
                     name: &str,
                     help: &str,
                     values: Vec<(&str, i64)>|
         -> Result<(), std::fmt::Error> {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (binding, value) in values {
                family
                    .encode_family(&[("binding", binding)])?
                    .encode_gauge(&value)?;
            }
            Ok(())
        };
        gauge(
            &mut encoder,
            "needroleshere_certificate_expiry_timestamp_seconds",
            "When each binding's certificate expires (Unix time).",
            report
                .bindings
                .iter()
                .filter_map(|b| Some((b.name.as_str(), b.certificate.as_ref()?.not_after_unix)))
                .collect(),
        )?;
        gauge(
            &mut encoder,
            "needroleshere_credentials_expiry_timestamp_seconds",
            "When each binding's current credentials expire (Unix time).",
            report
                .bindings
                .iter()
                .filter_map(|b| {
                    Some((
                        b.name.as_str(),
                        b.served.as_ref()?.credentials_expiration_unix?,
                    ))
                })
                .collect(),
        )?;
        gauge(
            &mut encoder,
            "needroleshere_binding_failing",
            "1 while a binding's last fetch failed and none has succeeded since.",
            report
                .bindings
                .iter()
                .filter(|b| b.served.is_some())
                .map(|b| {
                    let failing = b.served.as_ref().is_some_and(|s| s.last_error.is_some());
                    (b.name.as_str(), i64::from(failing))
                })
                .collect(),
        )?;
        Ok(())
    }
}
