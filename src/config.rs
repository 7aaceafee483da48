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
/// How long the scheduler may leave a due timer before /readyz reports it not ready.
pub const MAX_READY_SCHEDULER_LAG_SECONDS: i64 = 60;
/// The longest request id taken from a client's `x-request-id` (longer ones are replaced).
pub const MAX_REQUEST_ID_CHARS: usize = 64;
/// The longest GraphQL operation name written to the access log.
pub const MAX_LOGGED_OPERATION_NAME_CHARS: usize = 64;
/// How long browsers may cache a CORS preflight answer.
pub const CORS_MAX_AGE_SECONDS: u64 = 600;
/// How often the scheduler looks for due work when the clock is the system's.
pub const SCHEDULER_INTERVAL_MILLISECONDS: u64 = 1000;
/// The most timers the scheduler handles in one commit.
pub const MAX_TIMERS_PER_COMMIT: usize = 256;
/// How many times a timer's work is tried before the timer is set aside with an event.
pub const MAX_TIMER_ATTEMPTS: u32 = 5;
/// The wait before a failed timer is tried again; it doubles with every further failure.
pub const TIMER_RETRY_BASE_SECONDS: i64 = 60;
/// The furthest one `advanceClock` call may move time.
pub const MAX_CLOCK_ADVANCE_DAYS: i64 = 3660;

/// How long an idempotency key is kept, by default (Stripe keeps them 24 hours at least).
pub const DEFAULT_IDEMPOTENCY_RETENTION_HOURS: i64 = 7 * 24;
/// The shortest retention accepted: a client retrying within a day must get its first result.
pub const MIN_IDEMPOTENCY_RETENTION_HOURS: i64 = 24;
/// The longest retention accepted (ten years), so expiry times stay representable.
pub const MAX_IDEMPOTENCY_RETENTION_HOURS: i64 = 10 * 366 * 24;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub policies_dir: PathBuf,
    pub simulated_clock: bool,
    pub demo: bool,
    /// Browser origins allowed to call the API (CORS); empty allows none, `*` any.
    pub cors_origins: Vec<String>,
    /// The key of the operator API (`/operator/graphql`); without one it is off.
    pub operator_key: Option<String>,
    /// How long idempotency keys are kept before a timer deletes them.
    pub idempotency_retention_hours: i64,
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
            cors_origins: Vec::new(),
            operator_key: None,
            idempotency_retention_hours: DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
        }
    }
}
