//! A listener of its own for a browser sign-in's redirect (RFC 8252 §7.3): on the address a
//! profile's `web_identity_redirect_uri` names, else on 127.0.0.1 at a port the system
//! picks. For `exec` and for a desktop server that does not listen on loopback itself.
//!
//! It serves only the redirect's path, finishes the sign-in the `state` names
//! ([`SignIns::finish_browser`]) and then closes; a request with a state this process did
//! not issue is refused and the listener keeps waiting, until `within` has passed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tokio::sync::mpsc;
use url::Url;

use super::{SignInError, SignIns};
use crate::aws_files::profiles::SignInSettings;

/// A bound redirect listener; see the module docs.
#[derive(Debug)]
pub struct Redirect {
    listener: tokio::net::TcpListener,
    /// The `redirect_uri` to give the provider.
    pub uri: Url,
}

impl Redirect {
    /// Listens where `configured` says, else on 127.0.0.1 with a port the system picks
    /// and the path `/callback`.
    pub async fn bind(configured: Option<&Url>) -> std::io::Result<Self> {
        let (addr, path) = match configured {
            Some(url) => {
                let addrs = url.socket_addrs(|| Some(80))?;
                let addr = addrs.into_iter().next().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address")
                })?;
                (addr, url.path().to_owned())
            }
            None => (
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                "/callback".to_owned(),
            ),
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let uri = match configured {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{bound}{path}"))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        };
        Ok(Self { listener, uri })
    }

    /// Serves the redirect until a sign-in started here finishes, or `within` passes.
    /// The browser is then sent to `then` (a page of this process), or told it may close.
    pub async fn finish(
        self,
        sign_ins: Arc<SignIns>,
        then: Option<String>,
        within: Duration,
    ) -> Result<SignInSettings, SignInError> {
        let (done, mut finished) = mpsc::channel(1);
        let router = axum::Router::new()
            .route(self.uri.path(), axum::routing::get(callback))
            .with_state(Arc::new(Callback {
                sign_ins,
                then,
                done,
            }));
        let server = axum::serve(self.listener, router);
        tokio::select! {
            result = server => Err(SignInError::Rejected(format!("the redirect listener stopped: {result:?}"))),
            outcome = finished.recv() => outcome.unwrap_or(Err(SignInError::UnknownState)),
            () = tokio::time::sleep(within) => Err(SignInError::Rejected(
                "nobody finished the sign-in in the browser in time".to_owned(),
            )),
        }
    }
}

struct Callback {
    sign_ins: Arc<SignIns>,
    then: Option<String>,
    done: mpsc::Sender<Result<SignInSettings, SignInError>>,
}

async fn callback(
    State(callback): State<Arc<Callback>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let result = callback.sign_ins.finish_browser(&query).await;
    let response = match (&result, &callback.then) {
        (Ok(_), Some(then)) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, then.clone())]).into_response()
        }
        (Ok(_), None) => result_page(StatusCode::OK, "Signed in", "You can close this tab."),
        (Err(error), _) => {
            result_page(StatusCode::BAD_REQUEST, "Not signed in", &error.to_string())
        }
    };
    if !matches!(result, Err(SignInError::UnknownState)) {
        let _ = callback.done.try_send(result);
    }
    response
}

/// A small page telling the person how a browser sign-in ended.
pub fn result_page(status: StatusCode, title: &str, message: &str) -> Response {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>needroleshere: {}</title></head>\
             <body><h1>{}</h1><p id=\"message\">{}</p></body></html>",
            escape(title),
            escape(title),
            escape(message)
        )),
    )
        .into_response()
}
