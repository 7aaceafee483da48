//! Settings from flags and `TOLLGATE_*` variables, and every limit as a named constant.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Days before card and top-up funds become available, unless a policy holds them longer.
pub const DEFAULT_AVAILABILITY_DELAY_DAYS: i64 = 2;
/// Lists return at most this many items per page.
pub const MAX_PAGE_SIZE: usize = 100;
/// Lists return this many items when `first` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 10;
/// The largest request body accepted on /graphql.
pub const MAX_REQUEST_BODY_BYTES: usize = 256 * 1024;
/// The deepest query accepted.
pub const MAX_QUERY_DEPTH: usize = 16;
/// The most expensive query accepted (each field costs 1).
pub const MAX_QUERY_COMPLEXITY: usize = 5000;
/// How long one HTTP request may take before it is cut off.
pub const REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// How often the scheduler looks for due work when the clock is the system's.
pub const SCHEDULER_INTERVAL_MILLISECONDS: u64 = 1000;
/// The most timers the scheduler handles in one commit.
pub const MAX_TIMERS_PER_COMMIT: usize = 256;
/// The furthest one `advanceClock` call may move time.
pub const MAX_CLOCK_ADVANCE_DAYS: i64 = 3660;

/// The most webhook deliveries in flight at once, over every endpoint. Each endpoint has
/// at most one, so its events arrive in order.
pub const MAX_WEBHOOK_DELIVERIES_IN_FLIGHT: usize = 32;
/// How long a webhook delivery may take to connect (TLS included).
pub const WEBHOOK_CONNECT_TIMEOUT_SECONDS: u64 = 5;
/// How long one webhook delivery may take in all, answer included.
pub const WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// How long an idle connection to an endpoint is kept for the next delivery.
pub const WEBHOOK_IDLE_CONNECTION_SECONDS: u64 = 30;
/// At most one log line per endpoint per this many seconds about failed deliveries.
pub const WEBHOOK_FAILURE_LOG_INTERVAL_SECONDS: u64 = 60;
/// The most endpoints the delivery worker tracks at once (the rest wait for a rescan).
pub const MAX_WEBHOOK_ENDPOINTS_TRACKED: usize = 100_000;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub policies_dir: PathBuf,
    pub simulated_clock: bool,
    pub demo: bool,
    /// Webhooks may go to loopback and private addresses (local development only).
    pub webhooks_allow_private: bool,
    /// A PEM file of extra CA certificates trusted for https webhook endpoints.
    pub webhooks_extra_ca: Option<PathBuf>,
}

impl Settings {
    /// Settings for a store in `data_dir` priced by `policies_dir`, with every other value
    /// at its default: loopback on port 8080, the system clock, no demo data. Callers
    /// override fields with struct update syntax, so a new setting is added in one place.
    pub fn new(data_dir: PathBuf, policies_dir: PathBuf) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            policies_dir,
            simulated_clock: false,
            demo: false,
            webhooks_allow_private: false,
            webhooks_extra_ca: None,
        }
    }
}
