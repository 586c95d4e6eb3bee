//! What runs each connection beside hyper: the header read timeout, and the drain at
//! shutdown. Both are looked after without costing a request anything but two counter
//! bumps: a cached credential fetch is cheap enough that per-request timers and locks showed.
//!
//! **Header read timeout.** A connection that does not send a complete request head in time
//! is closed, so slow-drip and idle clients cannot hold connections (and their permits) for
//! ever. hyper's own (`http1::Builder::header_read_timeout`) makes, registers and drops a
//! timer for every request head, which cost more than a tenth of a cached fetch. Here a
//! connection counts its [`Turns`] instead: one when a request's head has arrived and the
//! request goes to its service, one when the answer is ready. One timer per connection
//! looks at the count every quarter of the timeout, and a connection found waiting for a
//! head with no turn taken at [`LOOKS`] looks in a row is closed: between 1 and 1.25 times
//! the timeout after its last answer (or its accept). As with hyper, a request being
//! answered is never cut short, however long its answer takes.
//!
//! **Drain.** At shutdown each connection finishes the request it is answering and closes
//! ([`Drains::drain`]). hyper-util's `GracefulShutdown` polls a watch channel, under a lock
//! all connections share, at every wake-up of every connection; here the signal is polled
//! once to register, then again only once [`Draining`] has been started.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::task::Poll;
use std::time::Duration;

/// Consecutive looks at an unchanged, idle connection that close it.
const LOOKS: u32 = 4;

/// A connection's count of request turns: odd while a request is being answered.
#[derive(Debug, Default)]
pub(crate) struct Turns(AtomicU64);

impl Turns {
    /// A request's head has arrived; the turn ends when the returned [`Turn`] is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Turn {
        self.0.fetch_add(1, Relaxed);
        Turn(self.clone())
    }
}

/// A request being answered (see [`Turns::begin`]).
#[derive(Debug)]
pub(crate) struct Turn(Arc<Turns>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.0.fetch_add(1, Relaxed);
    }
}

/// A connection that can be asked to finish the request it is answering and close.
pub(crate) trait Drains: Future {
    fn drain(self: Pin<&mut Self>);
}

impl<I, S> Drains for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn drain(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// The signal that every connection is to drain (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Draining {
    started: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Draining {
    /// Asks every connection, running or yet to start, to drain.
    pub(crate) fn start(&self) {
        self.started.store(true, SeqCst);
        self.notify.notify_waiters();
    }
}

/// Runs `connection` until it ends; drains it once `draining` starts; closes it (drops it)
/// when it has waited `timeout` for a request head (see the module documentation), and
/// then answers `None`.
pub(crate) async fn run<C: Drains>(
    connection: C,
    turns: &Turns,
    timeout: Duration,
    draining: &Draining,
) -> Option<C::Output> {
    // Made before the flag is read: `notify_waiters` wakes every `Notified` made before it.
    let mut signal = std::pin::pin!(draining.notify.notified());
    let mut connection = std::pin::pin!(connection);
    let mut looks = Looks::new(turns, timeout);
    // Whether `signal` holds this task's waker: it is then never polled again, since
    // `Draining::start` sets the flag before it wakes anyone. (A task's waker stays the same
    // while it runs.)
    let (mut signal_armed, mut drained) = (false, false);
    std::future::poll_fn(|cx| {
        if !drained {
            if draining.started.load(SeqCst)
                || (!signal_armed && signal.as_mut().poll(cx).is_ready())
            {
                drained = true;
                connection.as_mut().drain();
            } else {
                signal_armed = true;
            }
        }
        if let Poll::Ready(output) = connection.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        looks.poll_idle_too_long(cx).map(|()| None)
    })
    .await
}

/// The header read timeout's looks at one connection's [`Turns`].
struct Looks<'a> {
    turns: &'a Turns,
    period: Duration,
    look: Pin<Box<tokio::time::Sleep>>,
    /// Whether `look` holds this task's waker: it is then polled again only once it has
    /// fired, not at every wake-up of a busy connection.
    armed: bool,
    /// The count at the last look, and how many looks in a row found it unchanged and even.
    last: u64,
    quiet: u32,
}

impl<'a> Looks<'a> {
    fn new(turns: &'a Turns, timeout: Duration) -> Self {
        let period = timeout / LOOKS;
        Self {
            turns,
            period,
            look: Box::pin(tokio::time::sleep(period)),
            armed: false,
            last: 0,
            quiet: 0,
        }
    }

    /// Ready once the connection has waited for a head through [`LOOKS`] looks in a row.
    fn poll_idle_too_long(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        loop {
            if self.armed && !self.look.is_elapsed() {
                return Poll::Pending;
            }
            if self.look.as_mut().poll(cx).is_pending() {
                self.armed = true;
                return Poll::Pending;
            }
            self.armed = false;
            let now = self.turns.0.load(Relaxed);
            if now.is_multiple_of(2) && now == self.last {
                self.quiet += 1;
                if self.quiet == LOOKS {
                    return Poll::Ready(());
                }
            } else {
                (self.last, self.quiet) = (now, 0);
            }
            let next = self.look.deadline() + self.period;
            self.look.as_mut().reset(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{Instant, Sleep, sleep};

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A connection that ends by itself only when given an end, and 100 ms after it is
    /// asked to drain.
    #[derive(Default)]
    struct Held {
        ends: Option<Pin<Box<Sleep>>>,
        drained: bool,
    }

    impl Held {
        fn ending_after(after: Duration) -> Self {
            Self {
                ends: Some(Box::pin(sleep(after))),
                drained: false,
            }
        }
    }

    impl Future for Held {
        type Output = &'static str;

        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
            let drained = self.drained;
            match &mut self.ends {
                Some(end) => end
                    .as_mut()
                    .poll(cx)
                    .map(|()| if drained { "drained" } else { "ended" }),
                None => Poll::Pending,
            }
        }
    }

    impl Drains for Held {
        fn drain(self: Pin<&mut Self>) {
            let this = self.get_mut();
            this.drained = true;
            this.ends = Some(Box::pin(sleep(Duration::from_millis(100))));
        }
    }

    /// How long `run` kept a connection that never ends by itself, while the requests
    /// `client` makes of the connection's turns run beside it.
    async fn kept_open_for<F>(client: impl FnOnce(Arc<Turns>) -> F) -> Duration
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let turns = Arc::<Turns>::default();
        let start = Instant::now();
        let client = tokio::spawn(client(turns.clone()));
        let closed = run(Held::default(), &turns, TIMEOUT, &Draining::default()).await;
        assert!(closed.is_none());
        client.abort();
        start.elapsed()
    }

    /// That a connection `kept` open was closed between 1 and 1.25 timeouts after `idle`,
    /// when it began to wait for a head.
    fn assert_closed_a_timeout_after(kept: Duration, idle: Duration) {
        assert!(
            kept >= idle + TIMEOUT && kept <= idle + TIMEOUT * 5 / 4,
            "closed after {kept:?}, idle from {idle:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_a_head_is_closed_after_the_timeout() {
        let kept = kept_open_for(|_| async {}).await;
        assert_closed_a_timeout_after(kept, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_keep_a_connection_open_and_idleness_after_them_closes_it() {
        let kept = kept_open_for(|turns| async move {
            // A request every 3 s for 60 s, each answered in 100 ms.
            for _ in 0..20 {
                sleep(Duration::from_millis(2900)).await;
                let turn = turns.begin();
                sleep(Duration::from_millis(100)).await;
                drop(turn);
            }
        })
        .await;
        assert_closed_a_timeout_after(kept, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_answered_slowly_is_not_cut_short() {
        let kept = kept_open_for(|turns| async move {
            let turn = turns.begin();
            sleep(TIMEOUT * 5).await;
            drop(turn);
        })
        .await;
        assert_closed_a_timeout_after(kept, TIMEOUT * 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ends_by_itself_is_not_held() {
        let ended = run(
            Held::ending_after(Duration::from_secs(1)),
            &Turns::default(),
            TIMEOUT,
            &Draining::default(),
        )
        .await;
        assert_eq!(ended, Some("ended"));
    }

    #[tokio::test(start_paused = true)]
    async fn draining_reaches_running_connections_and_those_that_start_after() {
        let draining = Arc::new(Draining::default());
        let start = Instant::now();
        let running = {
            let draining = draining.clone();
            tokio::spawn(async move {
                run(Held::default(), &Turns::default(), TIMEOUT, &draining).await
            })
        };
        sleep(Duration::from_secs(3)).await;
        draining.start();
        assert_eq!(running.await.unwrap(), Some("drained"));
        assert_eq!(start.elapsed(), Duration::from_millis(3100));
        let late = run(Held::default(), &Turns::default(), TIMEOUT, &draining).await;
        assert_eq!(late, Some("drained"));
    }
}
