//! The process's edges to the system it runs on: socket activation and `sd_notify`
//! ([`activation`]), the environment read once ([`env`](mod@env)), the clock ([`clock`]), files
//! written atomically (`files`), logging ([`logging`], with [`repeats`] summarising floods) and the outbound HTTPS client
//! ([`transport`]). Everything else takes these as values, so it can be tested without them.

pub mod activation;
pub mod clock;
pub mod env;
pub(crate) mod files;
pub mod logging;
pub mod peer;
pub mod repeats;
pub mod transport;
pub mod watch;
