//! systemd integration: inherited listening sockets and readiness notification.
//!
//! Socket activation (<https://www.freedesktop.org/software/systemd/man/sd_listen_fds.html>):
//! `LISTEN_PID`/`LISTEN_FDS` pass descriptors starting at 3, `LISTEN_FDNAMES` names them
//! (from `FileDescriptorName=`). Every TCP and Unix stream socket is taken. Without
//! activation, `--listen` addresses are bound instead.
//!
//! Notification (<https://www.freedesktop.org/software/systemd/man/sd_notify.html>):
//! `READY=1` once listening, `STATUS=…` as things change, `STOPPING=1` on shutdown, and
//! `WATCHDOG=1` every half `WATCHDOG_USEC` when the unit sets `WatchdogSec=`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::system::env::Environment;

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// A listening socket with the name systemd gave it, if any.
#[derive(Debug)]
pub struct NamedListener {
    pub name: Option<String>,
    pub listener: Listener,
}

impl NamedListener {
    /// Where it listens, for logs.
    pub fn describe(&self) -> String {
        let address = match &self.listener {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".into()),
        };
        match &self.name {
            Some(name) => format!("{address} ({name})"),
            None => address,
        }
    }
}

/// An address for `--listen`: `HOST:PORT` or `unix:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path, like unix:/run/needroleshere/sock".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        text.parse().map(Self::Tcp).map_err(|_| {
            format!("{text:?} is not IP:PORT (e.g. 127.0.0.1:7224 or [::1]:7224) or unix:/path")
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why listening sockets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("inherited descriptor #{index} ({name}) is neither a TCP nor a Unix stream socket")]
    UnsupportedSocket { index: usize, name: String },
    #[error(
        "inherited descriptor #{index} ({name}) is a socket that is not listening: pass \
         listening sockets (ListenStream= in a .socket unit, without Accept=yes)"
    )]
    NotListening { index: usize, name: String },
    #[error("cannot use inherited descriptor #{index}")]
    Inherit {
        index: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: ListenAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Takes every socket passed by systemd.
pub fn inherited(env: &Environment) -> Result<Vec<NamedListener>, ActivationError> {
    let mut fds = listenfd::ListenFd::from_env();
    let names: Vec<&str> = env
        .listen_fdnames
        .as_deref()
        .map(|n| n.split(':').collect())
        .unwrap_or_default();
    let mut listeners = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        let name = names
            .get(index)
            .filter(|n| !n.is_empty() && **n != "unknown")
            .map(|n| (*n).to_owned());
        let inherit = |source| ActivationError::Inherit { index, source };
        // A socket that is bound but not listening fails every accept, forever.
        let check_listening = |fd: std::os::fd::BorrowedFd<'_>| match is_listening(fd) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ActivationError::NotListening {
                index,
                name: name.clone().unwrap_or_else(|| "unnamed".into()),
            }),
            Err(source) => Err(inherit(source)),
        };
        let listener = if let Ok(Some(tcp)) = fds.take_tcp_listener(index) {
            check_listening(std::os::fd::AsFd::as_fd(&tcp))?;
            tcp.set_nonblocking(true).map_err(inherit)?;
            Listener::Tcp(tokio::net::TcpListener::from_std(tcp).map_err(inherit)?)
        } else if let Ok(Some(unix)) = fds.take_unix_listener(index) {
            check_listening(std::os::fd::AsFd::as_fd(&unix))?;
            unix.set_nonblocking(true).map_err(inherit)?;
            Listener::Unix(tokio::net::UnixListener::from_std(unix).map_err(inherit)?)
        } else {
            return Err(ActivationError::UnsupportedSocket {
                index,
                name: name.unwrap_or_else(|| "unnamed".into()),
            });
        };
        listeners.push(NamedListener { name, listener });
    }
    Ok(listeners)
}

/// Whether `fd` is a listening socket (`SO_ACCEPTCONN`).
fn is_listening(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    socket2::SockRef::from(&fd).is_listener()
}

/// Binds `addr` (a stale Unix socket file left by a previous run is replaced).
pub async fn bind(addr: &ListenAddr) -> Result<NamedListener, ActivationError> {
    let failed = |source| ActivationError::Bind {
        addr: addr.clone(),
        source,
    };
    let listener = match addr {
        ListenAddr::Tcp(socket) => Listener::Tcp(
            tokio::net::TcpListener::bind(socket)
                .await
                .map_err(failed)?,
        ),
        ListenAddr::Unix(path) => {
            use std::os::unix::fs::FileTypeExt as _;
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                std::fs::remove_file(path).map_err(failed)?;
            }
            Listener::Unix(tokio::net::UnixListener::bind(path).map_err(failed)?)
        }
    };
    Ok(NamedListener {
        name: None,
        listener,
    })
}

/// Sends `state` to systemd when `NOTIFY_SOCKET` is set; a failure is logged, not fatal.
pub fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Pings the watchdog every half period while the process runs.
pub fn spawn_watchdog(env: &Environment) {
    let Some(usec) = env.watchdog_usec.filter(|u| *u > 0) else {
        return;
    };
    let period = Duration::from_micros(usec) / 2;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            "127.0.0.1:7224".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("127.0.0.1:7224".parse().unwrap())
        );
        assert!(matches!(
            "[::1]:80".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp(_)
        ));
        assert_eq!(
            "unix:/run/x.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/run/x.sock".into())
        );
        assert!("unix:".parse::<ListenAddr>().is_err());
        assert!(
            "localhost:80"
                .parse::<ListenAddr>()
                .unwrap_err()
                .contains("IP:PORT")
        );
    }

    #[test]
    fn only_listening_sockets_are_listening() {
        use std::os::fd::AsFd as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(is_listening(listener.as_fd()).unwrap());
        let bound =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        bound
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        assert!(!is_listening(bound.as_fd()).unwrap());
    }

    #[tokio::test]
    async fn binding_a_unix_socket_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let addr = ListenAddr::Unix(dir.path().join("s.sock"));
        let first = bind(&addr).await.unwrap();
        drop(first);
        let second = bind(&addr).await.unwrap();
        assert!(second.describe().starts_with("unix:"));
    }
}
