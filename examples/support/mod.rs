//! What the harness programs of `scripts/bench.sh` share.
#![allow(dead_code, reason = "each harness program uses a part of it")]

/// The value at percentile `p` (0–100, nearest rank) of `sorted`, which must be sorted;
/// `None` when it is empty.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((p / 100.0) * last as f64).round() as usize;
    sorted.get(rank.min(last)).copied()
}

/// Parses a socket address and refuses any that is not loopback: the harness never sends
/// traffic off the machine.
pub(crate) fn loopback(text: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = text.parse().map_err(|e| format!("{e}"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{addr} is not a loopback address"))
    }
}
