//! The header read timeout: a connection that does not send a complete request head in time
//! is closed, so slow-drip and idle clients cannot hold connections (and their permits)
//! for ever.
//!
//! hyper's own (`http1::Builder::header_read_timeout`) makes, registers and drops a timer
//! for every request head, which costs more than a tenth of a cached credential fetch.
//! Here a connection counts its [`Turns`] instead: one when a request's head has arrived and
//! the request goes to its service, one when the answer is ready. One timer per connection
//! looks at the count every quarter of the timeout, and a connection found waiting for a
//! head with no turn taken at [`LOOKS`] looks in a row is closed: between 1 and 1.25 times
//! the timeout after its last answer (or its accept). As with hyper, a request being
//! answered is never cut short, however long its answer takes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

/// Runs `serving` (a connection) until it ends, or until it has waited `timeout` for a
/// request head (see the module documentation); `None` then, and `serving` is dropped,
/// which closes the connection.
pub(crate) async fn closing_idle<F: Future>(
    serving: F,
    turns: &Turns,
    timeout: Duration,
) -> Option<F::Output> {
    let period = timeout / LOOKS;
    let mut serving = std::pin::pin!(serving);
    let mut look = std::pin::pin!(tokio::time::sleep(period));
    // Whether `look` holds this task's waker: it is then polled again only once it has
    // fired, not at every wake-up of a busy connection.
    let mut armed = false;
    let (mut last, mut quiet) = (0, 0);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = serving.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        loop {
            if armed && !look.is_elapsed() {
                return Poll::Pending;
            }
            if look.as_mut().poll(cx).is_pending() {
                armed = true;
                return Poll::Pending;
            }
            armed = false;
            let now = turns.0.load(Relaxed);
            if now.is_multiple_of(2) && now == last {
                quiet += 1;
                if quiet == LOOKS {
                    return Poll::Ready(None);
                }
            } else {
                (last, quiet) = (now, 0);
            }
            let next = look.deadline() + period;
            look.as_mut().reset(next);
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// How long `closing_idle` kept a connection that never ends by itself, while `client`
    /// runs beside it.
    async fn kept_open_for(
        turns: Arc<Turns>,
        client: impl Future<Output = ()> + Send + 'static,
    ) -> Duration {
        let start = Instant::now();
        let client = tokio::spawn(client);
        let closed = closing_idle(std::future::pending::<()>(), &turns, TIMEOUT).await;
        assert!(closed.is_none());
        client.abort();
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_a_head_is_closed_after_the_timeout() {
        let kept = kept_open_for(Arc::default(), async {}).await;
        assert!(kept >= TIMEOUT && kept <= TIMEOUT * 5 / 4, "{kept:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_keep_a_connection_open_and_idleness_after_them_closes_it() {
        let turns = Arc::<Turns>::default();
        let client = {
            let turns = turns.clone();
            async move {
                // A request every 3 s for 60 s, each answered in 100 ms.
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(2900)).await;
                    let turn = turns.begin();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    drop(turn);
                }
            }
        };
        let kept = kept_open_for(turns, client).await;
        let last_answer = Duration::from_secs(60);
        assert!(
            kept >= last_answer + TIMEOUT && kept <= last_answer + TIMEOUT * 5 / 4,
            "{kept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_answered_slowly_is_not_cut_short() {
        let turns = Arc::<Turns>::default();
        let client = {
            let turns = turns.clone();
            async move {
                let turn = turns.begin();
                tokio::time::sleep(TIMEOUT * 5).await;
                drop(turn);
            }
        };
        let kept = kept_open_for(turns, client).await;
        let answered = TIMEOUT * 5;
        assert!(
            kept >= answered + TIMEOUT && kept <= answered + TIMEOUT * 5 / 4,
            "{kept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ends_by_itself_is_not_held() {
        let turns = Turns::default();
        let serving = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            "done"
        };
        assert_eq!(closing_idle(serving, &turns, TIMEOUT).await, Some("done"));
    }
}
