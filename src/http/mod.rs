//! HTTP serving for the fronts: accept loops over TCP and Unix listeners, HTTP/1.1 with
//! bounded headers and a header read timeout ([`connection`]), a cap on open connections, and a
//! graceful drain on shutdown.
//!
//! * Only HTTP/1.1: hyper also parses HTTP/1.0, which every front answers with 505 (no
//!   client of ours speaks it, and it has no `Host` to check).
//! * A front may serve only the user that started it (and root): the peer of each TCP
//!   connection is looked up in the kernel's socket tables ([`crate::system::peer`]) and
//!   anyone else gets 403 on every request of the connection.
//! * Every request carries a [`Peer`] extension: who is at the other end, looked up on first
//!   use (a binding pinned to users asks for it; nothing else pays for the lookup).
//! * Repeated log lines are summarised ([`crate::system::repeats`]) while serving.
//!
//! The fronts ([`crate::front`]) are axum routers served here.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::HeaderValue;
use hyper_util::rt::TokioIo;
use tokio::sync::{Semaphore, watch};

use crate::system::activation::{Listener, NamedListener};
use crate::system::repeats::summarised;

mod connection;

/// A JSON answer, serialised into a buffer sized for a credential document at once
/// (`axum::Json` starts at 128 bytes and grows).
pub(crate) fn json(
    status: axum::http::StatusCode,
    value: &impl serde::Serialize,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match json_bytes(value) {
        Ok(body) => bytes_response(status, &JSON, body).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialise an answer");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `value` as JSON.
pub(crate) fn json_bytes(value: &impl serde::Serialize) -> serde_json::Result<axum::body::Bytes> {
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, value)?;
    Ok(body.into())
}

/// The media type of JSON, as a header: made (and checked) once, and copied by each
/// answer (checking a `&str` on every answer cost as much as the rest of the header).
pub(crate) static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The body of an answer on the connections [`serve`] runs: bytes at hand, or whatever else
/// axum answers. The hot paths' documents are the first: axum's `Body` puts every body in
/// a box, an allocation per answer.
pub(crate) type AnswerBody =
    http_body_util::Either<http_body_util::Full<axum::body::Bytes>, axum::body::Body>;

/// An answer on the connections [`serve`] runs (see [`AnswerBody`]).
pub(crate) type Answered = axum::http::Response<AnswerBody>;

/// `response`, from axum, as an [`Answered`].
pub(crate) fn routed(response: axum::response::Response) -> Answered {
    response.map(http_body_util::Either::Right)
}

/// An answer of `body`, of type `content_type`. Made by hand: a cached credential fetch
/// ends here, and axum's tuple answer copies and checks the header's value on every call.
pub(crate) fn bytes_response(
    status: axum::http::StatusCode,
    content_type: &'static HeaderValue,
    body: axum::body::Bytes,
) -> Answered {
    use axum::http::header::CONTENT_TYPE;
    let body = http_body_util::Either::Left(http_body_util::Full::new(body));
    let mut response = axum::http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, content_type.clone());
    response
}

/// Resource limits for every listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Open connections across all listeners; further clients wait in the accept queue.
    /// (A `u32`: the drain waits for all their permits at once.)
    pub max_connections: u32,
    /// Time allowed for a request's headers to arrive.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) accepted.
    pub max_header_bytes: usize,
    /// Time in-flight requests get to finish after shutdown begins.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// A listener and what it serves.
#[derive(Debug)]
pub(crate) struct Front {
    pub listener: NamedListener,
    pub router: axum::Router,
    /// IP TTL of every packet sent on its TCP connections: the IMDS hop limit, which keeps
    /// tokens from travelling further than that many hops (e.g. out of a container).
    pub ip_ttl: Option<u32>,
    /// Who may use it.
    pub callers: Callers,
    /// Requests answered without the router.
    pub hot: Option<Hot>,
}

/// A front's hot path (the cached credential fetch), answered without going through the
/// router: axum's routing, body boxing and per-layer boxed futures cost more than the rest
/// of a cached answer. Everything else still goes to the router.
pub(crate) trait HotPath: std::fmt::Debug + Send + Sync + 'static {
    /// Whether `request` is for the hot path.
    fn takes(&self, request: &axum::http::Request<hyper::body::Incoming>) -> bool;

    /// The answer to a request it takes, when nothing needs waiting for (a cached
    /// credential fetch): no future, no copy of the request, no count on a shared `Arc`.
    /// `None` when it must wait (an upstream fetch); [`HotPath::answer_later`] then answers.
    fn answer(
        &self,
        request: &axum::http::Request<hyper::body::Incoming>,
        peer: &Peer,
    ) -> Option<Answered>;

    /// The answer to a request [`HotPath::answer`] could not answer at once.
    fn answer_later(
        self: Arc<Self>,
        request: axum::http::Request<hyper::body::Incoming>,
        peer: Peer,
    ) -> Later;
}

/// What [`HotPath::answer_later`] returns.
pub(crate) type Later = std::pin::Pin<Box<dyn std::future::Future<Output = Answered> + Send>>;

/// A front's hot path, and the metrics its answers are counted in (as
/// [`crate::front::metrics::counted`] counts the router's).
#[derive(Debug, Clone)]
pub(crate) struct Hot {
    pub path: Arc<dyn HotPath>,
    pub counted: Option<crate::metrics::Front>,
}

/// Who may use a front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callers {
    /// Anyone who can connect (the system daemon: its tokens and sockets decide).
    Anyone,
    /// Processes of this uid, and root; others get 403.
    User(u32),
}

impl Callers {
    /// Whether a connection from `uid` (`None`: not found) may be served.
    fn admits(self, uid: Option<u32>) -> bool {
        match self {
            Self::Anyone => true,
            Self::User(owner) => uid.is_some_and(|uid| uid == owner || uid == 0),
        }
    }
}

/// Serves every front until `shutdown` turns true, then drains.
pub(crate) async fn serve(fronts: Vec<Front>, limits: Limits, mut shutdown: watch::Receiver<bool>) {
    let draining = Arc::new(connection::Draining::default());
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    // No timer for hyper: the header read timeout is kept by `connection::run`.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let http = Arc::new(http);
    let header_read_timeout = limits.header_read_timeout;

    let mut accepting = tokio::task::JoinSet::new();
    accepting.spawn(crate::system::repeats::report());
    for front in fronts {
        let Front {
            listener: named,
            router,
            ip_ttl,
            callers,
            hot,
        } = front;
        let refusal = refuse_other_users(callers);
        let not_http11 = not_http11();
        let description = named.describe();
        // On the listener too, so the handshake's SYN-ACK carries the hop limit as well.
        if let (Some(ttl), Listener::Tcp(listener)) = (ip_ttl, &named.listener)
            && let Err(error) = set_hop_limit(listener, ttl)
        {
            tracing::warn!(listener = %description, %error, ttl, "cannot set the hop limit");
        }
        let (permits, http, draining) = (permits.clone(), http.clone(), draining.clone());
        accepting.spawn(async move {
            loop {
                // Acquire before accepting so excess clients queue in the kernel backlog.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let accepted = match &named.listener {
                    Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                        let _ = s.set_nodelay(true);
                        if let Some(ttl) = ip_ttl
                            && let Err(error) = set_hop_limit(&s, ttl)
                        {
                            tracing::warn!(%error, ttl, "cannot set the hop limit");
                        }
                        Connection::Tcp(s)
                    }),
                    Listener::Unix(l) => l.accept().await.map(|(s, _)| Connection::Unix(s)),
                };
                let client = match accepted {
                    Ok(client) => client,
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        summarised!(warn, Some(description.as_str()), "accept failed", listener = %description, %error);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (router, refusal, http) = (router.clone(), refusal.clone(), http.clone());
                let (not_http11, hot) = (not_http11.clone(), hot.clone());
                let draining = draining.clone();
                tokio::spawn(async move {
                    let peer = client.peer();
                    // Looked up here, not in the accept loop: it reads /proc.
                    let (service, hot) = if callers == Callers::Anyone {
                        (router, hot)
                    } else {
                        let uid = peer.uid();
                        if callers.admits(uid) {
                            (router, hot)
                        } else {
                            summarised!(warn, None, "refused a connection from another user (see --allow-other-users)", uid = ?uid);
                            (refusal, None)
                        }
                    };
                    let turns = Arc::new(connection::Turns::default());
                    let service = ConnectionService {
                        router: service,
                        not_http11,
                        hot,
                        peer,
                        turns: turns.clone(),
                    };
                    let result = match client {
                        Connection::Tcp(stream) => {
                            let serving = http.serve_connection(TokioIo::new(stream), service);
                            connection::run(serving, &turns, header_read_timeout, &draining).await
                        }
                        Connection::Unix(stream) => {
                            let serving = http.serve_connection(TokioIo::new(stream), service);
                            connection::run(serving, &turns, header_read_timeout, &draining).await
                        }
                    };
                    match result {
                        None => tracing::debug!("closed a connection that sent no request head in time"),
                        Some(Err(error)) => tracing::debug!(%error, "connection ended with an error"),
                        Some(Ok(())) => {}
                    }
                    drop(permit);
                });
            }
        });
    }

    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    // The accept loops end, and with them the permits they held waiting for a client: the
    // connections hold all the others, each until it closes.
    accepting.shutdown().await;
    draining.start();
    tokio::select! {
        _ = permits.acquire_many(limits.max_connections) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!(timeout_s = limits.drain_timeout.as_secs(), "connections still open after the drain timeout; closing them");
        }
    }
}

/// Sets the IPv4 TTL or the IPv6 unicast hop limit, whichever the socket uses.
fn set_hop_limit<S>(socket: &S, hops: u32) -> std::io::Result<()>
where
    S: std::os::fd::AsFd,
{
    let socket = socket2::SockRef::from(socket);
    if socket.local_addr()?.is_ipv6() {
        socket.set_unicast_hops_v6(hops)
    } else {
        socket.set_ttl_v4(hops)
    }
}

enum Connection {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Connection {
    /// Who is at the other end (the user is looked up when first asked for).
    fn peer(&self) -> Peer {
        let (addresses, uid) = match self {
            Self::Tcp(stream) => match (stream.local_addr(), stream.peer_addr()) {
                (Ok(local), Ok(remote)) => (Ok((local, remote)), OnceLock::new()),
                (Err(error), _) | (_, Err(error)) => (Err(error.to_string()), OnceLock::new()),
            },
            // SO_PEERCRED: one system call, made now.
            Self::Unix(stream) => {
                let uid = OnceLock::new();
                match stream.peer_cred() {
                    Ok(credentials) => {
                        let _ = uid.set(Some(credentials.uid()));
                        (Err("a Unix socket".to_owned()), uid)
                    }
                    Err(error) => (Err(error.to_string()), uid),
                }
            }
        };
        Peer(Arc::new(PeerInner { addresses, uid }))
    }
}

/// The other end of a request's connection: a request extension on every front.
#[derive(Debug, Clone)]
pub(crate) struct Peer(Arc<PeerInner>);

#[derive(Debug)]
struct PeerInner {
    /// Our address and the client's on TCP; why there are none otherwise.
    addresses: Result<(SocketAddr, SocketAddr), String>,
    /// The client's uid, once looked up (`None`: not found).
    uid: OnceLock<Option<u32>>,
}

impl Peer {
    /// The uid of the process that made the connection: `SO_PEERCRED` on Unix sockets, the
    /// kernel's socket tables on TCP (loopback, or any address of this network namespace).
    /// `None` when it cannot be found (a client in another namespace or on another host);
    /// looked up once per connection.
    pub(crate) fn uid(&self) -> Option<u32> {
        *self.0.uid.get_or_init(|| {
            let found = match &self.0.addresses {
                Ok((local, remote)) => crate::system::peer::tcp_peer_uid(*local, *remote),
                Err(why) => Err(std::io::Error::other(why.clone())),
            };
            found.unwrap_or_else(|error| {
                summarised!(warn, None, "cannot tell which user connected", %error);
                None
            })
        })
    }

    /// The client's address on TCP.
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        self.0.addresses.as_ref().ok().map(|(_, remote)| *remote)
    }
}

/// What serves each request of one connection: a request of any HTTP version but 1.1 gets
/// 505 ([`not_http11`]); the others carry the [`Peer`] to the front's router.
///
/// Written out rather than composed from axum's `middleware::from_fn`, `map_request` and
/// `TowerToHyperService`, which box a future and clone the router for every request: this
/// is the cached fetch's hot path.
#[derive(Clone)]
struct ConnectionService {
    router: axum::Router,
    not_http11: axum::Router,
    hot: Option<Hot>,
    peer: Peer,
    turns: Arc<connection::Turns>,
}

impl hyper::service::Service<axum::http::Request<hyper::body::Incoming>> for ConnectionService {
    type Response = Answered;
    type Error = std::convert::Infallible;
    type Future = Answer;

    fn call(&self, mut request: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        let turn = self.turns.begin();
        let router = if request.version() == axum::http::Version::HTTP_11 {
            if let Some(hot) = &self.hot
                && hot.path.takes(&request)
            {
                let answer = match hot.path.answer(&request, &self.peer) {
                    Some(response) => {
                        count(hot.counted, &response);
                        Answering::Now(std::future::ready(response))
                    }
                    None => Answering::Later(
                        hot.path.clone().answer_later(request, self.peer.clone()),
                        hot.counted,
                    ),
                };
                return Answer {
                    answer,
                    _turn: turn,
                };
            }
            request.extensions_mut().insert(self.peer.clone());
            &self.router
        } else {
            &self.not_http11
        };
        // A router is always ready: `call` needs no `poll_ready` first.
        Answer {
            answer: Answering::Routed(tower::Service::call(&mut router.clone(), request)),
            _turn: turn,
        }
    }
}

/// The answer of a [`ConnectionService`]; the request's turn ends when hyper drops it.
struct Answer {
    answer: Answering,
    _turn: connection::Turn,
}

/// An answer from the hot path or from the router.
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, kept in place by hyper; boxing the router's would allocate"
)]
enum Answering {
    Now(std::future::Ready<Answered>),
    Later(Later, Option<crate::metrics::Front>),
    Routed(axum::routing::future::RouteFuture<std::convert::Infallible>),
}

/// Counts a hot path's answer in its front's metrics, if it has any.
fn count(counted: Option<crate::metrics::Front>, response: &Answered) {
    if let Some(front) = counted {
        crate::metrics::request(front, response.status().as_u16());
    }
}

impl std::future::Future for Answer {
    type Output = Result<Answered, std::convert::Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match &mut self.get_mut().answer {
            Answering::Now(answer) => std::pin::Pin::new(answer).poll(cx).map(Ok),
            Answering::Later(answer, counted) => answer.as_mut().poll(cx).map(|response| {
                count(*counted, &response);
                Ok(response)
            }),
            Answering::Routed(answer) => std::pin::Pin::new(answer)
                .poll(cx)
                .map(|response| response.map(routed)),
        }
    }
}

/// The router of requests of any HTTP version but 1.1: 505 for every one.
fn not_http11() -> axum::Router {
    use axum::response::IntoResponse as _;
    axum::Router::new().fallback(|request: axum::extract::Request| async move {
        summarised!(warn, None, "refused a request that is not HTTP/1.1", version = ?request.version());
        (
            axum::http::StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            [(axum::http::header::CONNECTION, "close")],
            "needroleshere speaks HTTP/1.1 only\n",
        )
            .into_response()
    })
}

/// The router every request of a refused user's connection gets: 403, saying why.
fn refuse_other_users(callers: Callers) -> axum::Router {
    use axum::response::IntoResponse as _;
    let Callers::User(owner) = callers else {
        return axum::Router::new();
    };
    let user = nix::unistd::User::from_uid(owner.into())
        .ok()
        .flatten()
        .map_or_else(
            || format!("uid {owner}"),
            |u| format!("{} (uid {owner})", u.name),
        );
    let body = format!(
        "this server answers only {user} and root; its owner can start it with \
         --allow-other-users to serve every local user\n"
    );
    axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { (axum::http::StatusCode::FORBIDDEN, body).into_response() }
    })
}

/// A receiver that turns true on SIGTERM or SIGINT. SIGHUP, which would otherwise end the
/// process, is logged and ignored: there is nothing to reload, since bindings, certificates,
/// keys and profiles are read when a request needs them.
pub(crate) fn shutdown_signal() -> std::io::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break }
                _ = hup.recv() => tracing::warn!(
                    "SIGHUP ignored: nothing to reload (bindings, certificates, keys and profiles are read on each request)"
                ),
            }
        }
        crate::system::activation::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = sender.send(true);
    });
    Ok(receiver)
}
