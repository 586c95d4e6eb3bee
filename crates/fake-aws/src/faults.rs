//! Fault injection for the fake IAM Roles Anywhere ([`super::rolesanywhere`]) and the fake
//! STS ([`super::sts`]): one script type, each fake rendering a fault in its own protocol.
//!
//! Contract:
//! * [`FakeRolesAnywhere::faults`](super::FakeRolesAnywhere::faults) and
//!   [`FakeSts::faults`](super::FakeSts::faults) hand out a [`Faults`] handle; clones share
//!   one script (each fake has its own). The fake consults it before anything else for every
//!   request it receives, on any path.
//! * [`Faults::push`] appends a [`Fault`] to a queue: each request takes the first queued
//!   fault, so `push` ×3 scripts the next three answers and the fourth request gets normal
//!   service. [`Faults::fail_all`] sets a fault that answers every request (an outage, or
//!   short-lived credentials for every call) while the queue is empty, until
//!   [`Faults::clear`].
//! * What each fault does on the wire (Roles Anywhere / STS):
//!   - [`Fault::Status`]: an AWS-shaped error with that status — Roles Anywhere:
//!     `x-amzn-ErrorType` and JSON `{"message"}` ([`Fault::throttled`] is 429
//!     `ThrottlingException`, [`Fault::server_error`] a 5xx); STS: an XML `ErrorResponse`
//!     whose `Code` is the error type ([`Fault::sts_unavailable`] is 503
//!     `ServiceUnavailable`). The STS fake still verifies the request's signature first and
//!     answers a bad one with its usual refusal.
//!   - [`Fault::Reset`]: the connection is closed without a response: the handler gives
//!     hyper a body that fails before its first byte, and hyper then drops the connection
//!     without sending the head.
//!   - [`Fault::Stall`]: the request is held for the given time, then served normally (or
//!     dropped with the connection if the client gave up first: then the fake records
//!     nothing but its arrival).
//!   - [`Fault::MalformedJson`]: a success status with a body that does not parse (JSON cut
//!     short; for STS, XML cut short).
//!   - [`Fault::ClockSkew`]: 403 with the service's "Signature expired" message naming the
//!     request's `X-Amz-Date` (`AccessDeniedException`; STS: `SignatureDoesNotMatch`).
//!   - [`Fault::ShortLived`]: normal service (the request is verified, the session recorded)
//!     but the credentials in the answer expire after the given time, not the requested
//!     duration (for STS also in the registry, so they really expire: real STS refuses
//!     `DurationSeconds` under 900, so this is how refresh is tested in seconds).
//! * Every request that reaches the fake is timestamped ([`Faults::arrivals`], tokio time, so
//!   paused-clock tests see paused time); every fault served is recorded by name
//!   ([`Faults::injected`]). Requests answered by a fault count in
//!   [`FakeRolesAnywhere::request_count`](super::FakeRolesAnywhere::request_count) (and
//!   [`FakeSts::request_count`](super::FakeSts::request_count) and
//!   [`FakeSts::calls`](super::FakeSts::calls)) like any other.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use super::rolesanywhere::FakeRolesAnywhere;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An error answer with this status, `x-amzn-ErrorType` and JSON `message`.
    Status {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Close the connection without answering.
    Reset,
    /// Hold the request this long, then serve it normally.
    Stall(Duration),
    /// 201 with a body that is not JSON.
    MalformedJson,
    /// 403 `AccessDeniedException`: the request time is too far from the service's clock.
    ClockSkew,
    /// Serve normally, but the answered credentials expire after this long.
    ShortLived(Duration),
}

impl Fault {
    /// 429 `ThrottlingException`.
    pub fn throttled() -> Self {
        Self::Status {
            status: 429,
            error_type: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        }
    }

    /// A 5xx: 500 `InternalServerException`, 503 `ServiceUnavailableException`, else a
    /// generic type.
    pub fn server_error(status: u16) -> Self {
        let error_type = match status {
            500 => "InternalServerException",
            503 => "ServiceUnavailableException",
            _ => "InternalFailure",
        };
        Self::Status {
            status,
            error_type: error_type.into(),
            message: format!("the fake service answers {status} (injected fault)"),
        }
    }

    /// For the fake STS: 503 `ServiceUnavailable`, AWS's common error for a temporary
    /// failure of the service (an outage, with [`Faults::fail_all`]).
    pub fn sts_unavailable() -> Self {
        Self::Status {
            status: 503,
            error_type: "ServiceUnavailable".into(),
            message: "The request has failed due to a temporary failure of the server.".into(),
        }
    }

    /// A short name for logs and [`Faults::injected`].
    pub fn name(&self) -> String {
        match self {
            Self::Status { status, .. } => format!("status {status}"),
            Self::Reset => "reset".into(),
            Self::Stall(d) => format!("stall {} ms", d.as_millis()),
            Self::MalformedJson => "malformed json".into(),
            Self::ClockSkew => "clock skew".into(),
            Self::ShortLived(d) => format!("short-lived {} s", d.as_secs()),
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    queue: VecDeque<Fault>,
    persistent: Option<Fault>,
    arrivals: Vec<Instant>,
    injected: Vec<String>,
}

/// A handle on the fake's fault script; clones share it.
#[derive(Clone, Default)]
pub struct Faults {
    script: Arc<Mutex<Script>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let script = self.lock();
        f.debug_struct("Faults")
            .field("queued", &script.queue.len())
            .field("persistent", &script.persistent)
            .field("injected", &script.injected.len())
            .finish()
    }
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Script> {
        // A poisoned lock means a test panicked mid-push; the queue is still a queue.
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scripts the answer to the next request not already scripted.
    pub fn push(&self, fault: Fault) {
        self.lock().queue.push_back(fault);
    }

    /// [`Faults::push`] `count` times.
    pub fn push_n(&self, count: usize, fault: Fault) {
        let mut script = self.lock();
        for _ in 0..count {
            script.queue.push_back(fault.clone());
        }
    }

    /// Answers every request with `fault` once the queue is empty, until [`Faults::clear`].
    pub fn fail_all(&self, fault: Fault) {
        self.lock().persistent = Some(fault);
    }

    /// Drops every queued fault and ends a [`Faults::fail_all`]: normal service from now on.
    pub fn clear(&self) {
        let mut script = self.lock();
        script.queue.clear();
        script.persistent = None;
    }

    /// How many queued faults are still to be served.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// The names of the faults served so far, oldest first.
    pub fn injected(&self) -> Vec<String> {
        self.lock().injected.clone()
    }

    /// When each request reached the fake (faulted or not), oldest first.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.lock().arrivals.clone()
    }

    /// The gaps between consecutive arrivals.
    pub fn gaps(&self) -> Vec<Duration> {
        self.arrivals()
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .collect()
    }

    /// Records the arrival and takes the fault for this request, if any.
    pub(super) fn next(&self) -> Option<Fault> {
        let mut script = self.lock();
        script.arrivals.push(Instant::now());
        let fault = script
            .queue
            .pop_front()
            .or_else(|| script.persistent.clone())?;
        script.injected.push(fault.name());
        Some(fault)
    }

    /// Called first by the fake's request handler: `Ok(request)` to serve it normally, or
    /// `Err(response)` to answer with an injected fault.
    pub(super) async fn intercept(
        &self,
        fake: &FakeRolesAnywhere,
        request: Request,
    ) -> Result<Request, Response> {
        let Some(fault) = self.next() else {
            return Ok(request);
        };
        tracing::info!(fault = %fault.name(), "fake Roles Anywhere: injecting a fault");
        match fault {
            Fault::Stall(delay) => {
                tokio::time::sleep(delay).await;
                Ok(request)
            }
            Fault::ShortLived(lifetime) => Err(short_lived(fake, request, lifetime).await),
            Fault::Status {
                status,
                error_type,
                message,
            } => {
                fake.count_request();
                Err(error_response(status, &error_type, &message))
            }
            Fault::Reset => {
                fake.count_request();
                let mut response = Response::new(Body::new(FailingBody));
                *response.status_mut() = StatusCode::CREATED;
                Err(response)
            }
            Fault::MalformedJson => {
                fake.count_request();
                let mut response = Response::new(Body::from(
                    r#"{"credentialSet":[{"credentials":{"accessKeyId":"ASIA"#,
                ));
                *response.status_mut() = StatusCode::CREATED;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Err(response)
            }
            Fault::ClockSkew => {
                fake.count_request();
                let amz_date = request
                    .headers()
                    .get("x-amz-date")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no X-Amz-Date)")
                    .to_owned();
                let message = format!(
                    "Signature expired: {amz_date} is now earlier than the service's clock \
                     allows (request time too skewed: the clock of the caller and of the \
                     service differ by more than 5 minutes)"
                );
                Err(error_response(403, "AccessDeniedException", &message))
            }
        }
    }
}

fn error_response(status: u16, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(error_type) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

/// Serves `request` normally through [`FakeRolesAnywhere::create_session`] (which counts and
/// records it), then rewrites the answer's expiration to now + `lifetime`.
async fn short_lived(fake: &FakeRolesAnywhere, request: Request, lifetime: Duration) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    match fake.create_session(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    ) {
        Ok(created) => {
            let mut body = created.response_body;
            let now = fake.config().clock.now();
            let now = now.replace_nanosecond(0).unwrap_or(now);
            let expiration = now + time::Duration::try_from(lifetime).unwrap_or_default();
            let text = crate::rolesanywhere::format_rfc3339_z(expiration);
            if let Some(credentials) = body
                .pointer_mut("/credentialSet/0/credentials")
                .and_then(|c| c.as_object_mut())
            {
                credentials.insert("expiration".into(), text.into());
            }
            let mut response = Response::new(Body::from(body.to_string()));
            *response.status_mut() = StatusCode::CREATED;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(rejection) => error_response(
            rejection.status(),
            rejection.error_type.as_str(),
            &rejection.message,
        ),
    }
}

/// A response body that fails at once: hyper drops the connection without answering.
pub(super) struct FailingBody;

impl hyper::body::Body for FailingBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}
