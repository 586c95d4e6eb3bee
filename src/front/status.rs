//! The status endpoint of `serve`: `GET /status` answers the [`crate::status::Report`] of
//! every binding as JSON, for `needroleshere status`. Served only on a Unix socket (a
//! socket named `status`, or `serve --listen-status unix:PATH`, made mode 0600), so only
//! root and the serving user can ask: no new network exposure.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};

use crate::status::Survey;

/// The path `status` asks.
pub const STATUS_PATH: &str = "/status";

/// The router for the status socket.
pub fn router(survey: Arc<Survey>) -> axum::Router {
    axum::Router::new()
        .route(STATUS_PATH, axum::routing::get(status))
        .with_state(survey)
}

async fn status(State(survey): State<Arc<Survey>>) -> Response {
    match tokio::task::spawn_blocking(move || survey.report()).await {
        Ok(report) => crate::http::json(StatusCode::OK, &report),
        Err(error) => {
            tracing::error!(%error, "the status survey failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
