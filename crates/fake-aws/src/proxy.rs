//! An HTTP `CONNECT` proxy for tests that tunnels every target to one local upstream.
//!
//! Contract:
//! * [`ConnectProxy::spawn`] listens on `127.0.0.1:0` and serves until the proxy is dropped
//!   (dropping it also ends open tunnels).
//! * Per client: the request head is read (at most 8 KiB, else `431` and the connection is
//!   closed). `CONNECT host:port HTTP/1.1` (or `HTTP/1.0`, which Python's `http.client`, and
//!   so urllib3, botocore and the AWS CLI, send) is answered with
//!   `HTTP/1.1 200 Connection Established\r\n\r\n` after a TCP connection to the *upstream*
//!   given at spawn (whatever the target, so a test can reach a "real" AWS host name without
//!   leaving the machine; `502` if the upstream refuses). Bytes are then copied both ways
//!   until either side closes. Bytes the client sent after the head are forwarded first.
//! * Any other method gets `405`; a malformed request line or a target that is not
//!   `host:port` gets `400`. Those request lines are recorded in [`ConnectProxy::refused`].
//! * Every accepted `CONNECT` target (as written by the client) is recorded, in order, in
//!   [`ConnectProxy::targets`].

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The longest request head the proxy reads.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

#[derive(Debug, Default)]
struct Log {
    targets: Vec<String>,
    refused: Vec<String>,
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    // A poisoned lock only means a task panicked while pushing to a Vec; the Vec is intact.
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running `CONNECT` proxy; dropping it stops it.
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl ConnectProxy {
    /// Listens on `127.0.0.1:0`, tunnelling every `CONNECT` to `upstream`.
    pub async fn spawn(upstream: SocketAddr) -> io::Result<ConnectProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Log::default()));
        let task = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&log)));
        Ok(ConnectProxy {
            addr,
            upstream,
            log,
            task,
        })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the form proxy settings take.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where every tunnel leads.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Every `CONNECT` target accepted so far, in order.
    pub fn targets(&self) -> Vec<String> {
        lock(&self.log).targets.clone()
    }

    /// The request line of every refused request (non-`CONNECT`, malformed, too long).
    pub fn refused(&self) -> Vec<String> {
        lock(&self.log).refused.clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts clients until aborted; aborting drops the `JoinSet`, ending every tunnel.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, log: Arc<Mutex<Log>>) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _peer)) => {
                    let log = Arc::clone(&log);
                    clients.spawn(async move {
                        if let Err(error) = serve_client(client, upstream, &log).await {
                            tracing::debug!(%error, "CONNECT proxy: client ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "CONNECT proxy: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|position| position + 4)
}

async fn respond(client: &mut TcpStream, status: &str) -> io::Result<()> {
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

/// `host:port` with a non-empty host and a numeric port.
fn is_authority(target: &str) -> bool {
    match target.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains('/')
                && !host.contains('@')
                && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

async fn serve_client(
    mut client: TcpStream,
    upstream: SocketAddr,
    log: &Mutex<Log>,
) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(&buffer)
            && end <= MAX_HEAD_BYTES
        {
            break end;
        }
        if buffer.len() >= MAX_HEAD_BYTES {
            let line = String::from_utf8_lossy(&buffer[..buffer.len().min(200)]).into_owned();
            lock(log).refused.push(format!("(head over 8 KiB) {line}"));
            return respond(&mut client, "431 Request Header Fields Too Large").await;
        }
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let request_line = head.split("\r\n").next().unwrap_or_default().to_owned();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        lock(log).refused.push(request_line.clone());
        return respond(&mut client, "400 Bad Request").await;
    };
    if method != "CONNECT" {
        lock(log).refused.push(request_line.clone());
        return respond(&mut client, "405 Method Not Allowed").await;
    }
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || !is_authority(target) {
        lock(log).refused.push(request_line.clone());
        return respond(&mut client, "400 Bad Request").await;
    }
    lock(log).targets.push(target.to_owned());
    let mut server = match TcpStream::connect(upstream).await {
        Ok(server) => server,
        Err(error) => {
            tracing::debug!(%error, %upstream, "CONNECT proxy: upstream refused");
            return respond(&mut client, "502 Bad Gateway").await;
        }
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    if buffer.len() > head_end {
        server.write_all(&buffer[head_end..]).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    #[tokio::test]
    async fn connect_tunnels_to_the_upstream_whatever_the_target() {
        let upstream = echo_server().await;
        let proxy = ConnectProxy::spawn(upstream).await.unwrap();
        assert_eq!(proxy.upstream(), upstream);
        assert!(proxy.url().starts_with("http://127.0.0.1:"));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        // The first tunnel bytes travel in the same segment as the head.
        client
            .write_all(
                b"CONNECT rolesanywhere.us-east-1.amazonaws.com:443 HTTP/1.1\r\n\
                  Host: rolesanywhere.us-east-1.amazonaws.com:443\r\n\r\nearly ",
            )
            .await
            .unwrap();
        assert_eq!(
            read_head(&mut client).await,
            "HTTP/1.1 200 Connection Established\r\n\r\n"
        );
        client.write_all(b"bytes").await.unwrap();
        let mut echoed = [0u8; 11];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"early bytes");
        assert_eq!(
            proxy.targets(),
            vec!["rolesanywhere.us-east-1.amazonaws.com:443".to_owned()]
        );
        assert!(proxy.refused().is_empty());
    }

    /// Python's `http.client` tunnels with `CONNECT host:port HTTP/1.0` (so does every
    /// botocore, and the AWS CLI v2 behind `HTTPS_PROXY`); proxies accept it.
    #[tokio::test]
    async fn connect_with_http_1_0_as_python_sends_it() {
        let upstream = echo_server().await;
        let proxy = ConnectProxy::spawn(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client
            .write_all(b"CONNECT sts.us-east-1.amazonaws.com:443 HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_head(&mut client).await,
            "HTTP/1.1 200 Connection Established\r\n\r\n"
        );
        client.write_all(b"bytes").await.unwrap();
        let mut echoed = [0u8; 5];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"bytes");
        assert_eq!(
            proxy.targets(),
            vec!["sts.us-east-1.amazonaws.com:443".to_owned()]
        );
    }

    #[tokio::test]
    async fn other_methods_and_malformed_requests_are_refused_and_recorded() {
        let upstream = echo_server().await;
        let proxy = ConnectProxy::spawn(upstream).await.unwrap();
        for (request, status) in [
            (
                &b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
                "405",
            ),
            (&b"CONNECT example.com HTTP/1.1\r\n\r\n"[..], "400"),
            (&b"CONNECT example.com:443 HTTP/2\r\n\r\n"[..], "400"),
            (&b"nonsense\r\n\r\n"[..], "400"),
        ] {
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            client.write_all(request).await.unwrap();
            let mut response = String::new();
            client.read_to_string(&mut response).await.unwrap();
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{response}"
            );
        }
        assert_eq!(
            proxy.refused(),
            vec![
                "GET http://example.com/ HTTP/1.1".to_owned(),
                "CONNECT example.com HTTP/1.1".to_owned(),
                "CONNECT example.com:443 HTTP/2".to_owned(),
                "nonsense".to_owned(),
            ]
        );
        assert!(proxy.targets().is_empty());
    }

    #[tokio::test]
    async fn an_oversized_head_is_refused() {
        let upstream = echo_server().await;
        let proxy = ConnectProxy::spawn(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        // Exactly the cap and no end of head: the proxy reads it all, so closing is clean.
        let mut request = b"CONNECT example.com:443 HTTP/1.1\r\n".to_vec();
        request.resize(MAX_HEAD_BYTES, b'a');
        client.write_all(&request).await.unwrap();
        let mut response = String::new();
        let _ = client.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
        assert_eq!(proxy.refused().len(), 1);
        assert!(proxy.targets().is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_upstream_gives_502() {
        // Bind then drop, so nothing listens on the port.
        let unused = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = unused.local_addr().unwrap();
        drop(unused);
        let proxy = ConnectProxy::spawn(upstream).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client
            .write_all(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 502 "), "{response}");
        assert_eq!(proxy.targets(), vec!["example.com:443".to_owned()]);
    }
}
