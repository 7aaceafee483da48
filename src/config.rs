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
/// The most charges one policy backtest replays; a window holding more is refused with
/// the count beyond it.
pub const MAX_BACKTEST_CHARGES: usize = 100_000;
/// Threads that run policy hooks, off the async runtime. Hooks are CPU work, so the pool
/// is a little larger than the machine's two cores: a slow platform holding its share
/// still leaves threads for everyone else.
pub const POLICY_POOL_THREADS: usize = 4;
/// Hook calls one platform may run at once. One: a platform whose policy runs at its
/// 50 ms budget uses at most one core, and an ordinary policy (10-20 µs a call) still
/// prices tens of thousands of charges a second within it.
pub const POLICY_CALLS_PER_PLATFORM: usize = 1;
/// Hook calls admitted to the pool's queue at once, across all platforms; more wait their
/// turn without holding a thread.
pub const MAX_QUEUED_POLICY_CALLS: usize = 1024;
/// How long one HTTP request may take before it is cut off, whatever it is doing: the outer
/// guard behind the GraphQL deadline (`Limits::request_deadline_milliseconds`).
pub const REQUEST_TIMEOUT_SECONDS: u64 = 30;

/// The most a query may cost. A field costs 1 plus, for a connection, its page size
/// (`first`, or the default page) times the cost of what it selects, and for a list without
/// paging, its bound times the same; expensive fields cost more (below). 10 000 allows a
/// full page of 100 items with a page of 10 under each and their fields (about 3 000), and
/// keeps the largest response near a few hundred kilobytes.
pub const MAX_QUERY_COST: u64 = 10_000;
/// The most fields a query may name once its fragments are expanded (counted without
/// expanding them): a doubling chain of fragments is refused before it is walked.
pub const MAX_QUERY_FIELDS: u64 = 2_000;
/// The deepest nesting of selections and fragment spreads the cost walk follows; deeper
/// documents are refused rather than recursed into.
pub const MAX_SELECTION_NESTING: usize = 64;
/// What `ledgerCheck` costs: it reads a trial balance of the whole platform.
pub const LEDGER_CHECK_COST: u64 = 1_000;
/// What a policy backtest costs: it replays up to `MAX_BACKTEST_CHARGES` charges, so one
/// request holds at most one.
pub const BACKTEST_COST: u64 = MAX_QUERY_COST / 2;
/// What `previewCharge` costs: it runs the platform's policy, up to its time budget.
pub const PREVIEW_CHARGE_COST: u64 = 500;
/// What a platform's balance costs: it scans the connected accounts' negative balances for
/// the reserve (also `Platform.negativeAccounts`).
pub const PLATFORM_BALANCE_COST: u64 = 100;
/// What each mutation field costs: a durable commit, and often a policy run. Twenty fit in
/// one request; more are refused rather than run one after another.
pub const MUTATION_COST: u64 = 500;
/// What each charge of a `createCharges` batch adds to its mutation's cost: the batch
/// shares one request and one flush, so a full batch of 100 (5 500 with the mutation) and
/// what it selects for each charge fit in one query.
pub const BATCHED_CHARGE_COST: u64 = 50;
/// What each `__schema` or `__type` field costs against `MAX_QUERY_COST`: ten fit in a
/// query. What they select is counted against `MAX_INTROSPECTION_COST`.
pub const INTROSPECTION_COST: u64 = 1_000;
/// The most an introspection may be estimated to cost, each list taken at the largest size
/// it has in this schema, so the estimates grow with the schema. GraphiQL's documentation
/// query is estimated at about 1.7 million (it reads a few thousand values);
/// `types { fields { type { fields { type { fields } } } } }` at several million, and every
/// further level at twenty times more.
pub const MAX_INTROSPECTION_COST: u64 = 2_000_000;
/// The size assumed for a list of what hangs off one charge (transfers, refunds, reversals).
pub const CHARGE_CHILDREN_BOUND: u64 = 10;
/// The bound assumed for a list field without paging whose bound is not known better.
pub const DEFAULT_LIST_BOUND: u64 = 100;
/// The largest response body; a larger one is replaced by an error.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// How long the GraphQL part of a request may run; fields not started by then are not run.
pub const REQUEST_DEADLINE_MILLISECONDS: u64 = 10_000;
/// How long a client may take to send a request's headers, and how long an idle kept-alive
/// connection stays open waiting for the next request.
pub const HEADER_READ_TIMEOUT_MILLISECONDS: u64 = 10_000;
/// The most HTTP connections served at once; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1_024;
/// Per platform key: read requests (queries, subscriptions) per second, and the burst
/// allowed above that rate. Ten times Stripe's live-mode 100 a second: one self-hosted
/// server commits a few thousand requests a second, and a platform's own batch jobs and
/// back end share its key; the limit is there so one key cannot take all of it.
pub const READS_PER_SECOND: u32 = 1_000;
pub const READ_BURST: u32 = 5_000;
/// Per platform key: mutations per second (each mutation field counts once), and the burst.
pub const WRITES_PER_SECOND: u32 = 1_000;
pub const WRITE_BURST: u32 = 5_000;
/// How long a websocket may take to send `connection_init`.
pub const WEBSOCKET_INIT_TIMEOUT_MILLISECONDS: u64 = 10_000;
/// The most subscriptions one websocket connection may hold at once.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 16;
/// The most subscriptions one platform may hold at once, over all its connections.
pub const MAX_SUBSCRIPTIONS_PER_PLATFORM: usize = 256;
/// How long one websocket message may take to reach the client before it is dropped.
pub const WEBSOCKET_SEND_TIMEOUT_MILLISECONDS: u64 = 10_000;
/// How many events a subscriber may fall behind before it is dropped as too slow.
pub const EVENT_STREAM_CAPACITY: usize = 1_024;

/// The limits that protect the server from any one client; each has a flag and a
/// `TOLLGATE_*` variable, with the constants above as defaults. A rate of 0 turns that rate
/// limit off.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// The most a query may cost (see MAX_QUERY_COST).
    #[arg(long, env = "TOLLGATE_MAX_QUERY_COST", default_value_t = MAX_QUERY_COST)]
    pub max_query_cost: u64,
    /// The most fields a query may name once its fragments are expanded.
    #[arg(long, env = "TOLLGATE_MAX_QUERY_FIELDS", default_value_t = MAX_QUERY_FIELDS)]
    pub max_query_fields: u64,
    /// The most an introspection may be estimated to cost.
    #[arg(long, env = "TOLLGATE_MAX_INTROSPECTION_COST", default_value_t = MAX_INTROSPECTION_COST)]
    pub max_introspection_cost: u64,
    /// The largest response body; a larger one is replaced by an error.
    #[arg(long, env = "TOLLGATE_MAX_RESPONSE_BYTES", default_value_t = MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,
    /// How long the GraphQL part of a request may run.
    #[arg(long, env = "TOLLGATE_REQUEST_DEADLINE_MS", default_value_t = REQUEST_DEADLINE_MILLISECONDS)]
    pub request_deadline_milliseconds: u64,
    /// How long a client may take to send its request headers (also the idle keep-alive time).
    #[arg(long, env = "TOLLGATE_HEADER_READ_TIMEOUT_MS", default_value_t = HEADER_READ_TIMEOUT_MILLISECONDS)]
    pub header_read_timeout_milliseconds: u64,
    /// The most HTTP connections served at once.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", default_value_t = MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Per key: queries and subscriptions per second (0: no limit).
    #[arg(long, env = "TOLLGATE_READS_PER_SECOND", default_value_t = READS_PER_SECOND)]
    pub reads_per_second: u32,
    /// Per key: reads allowed at once above the rate.
    #[arg(long, env = "TOLLGATE_READ_BURST", default_value_t = READ_BURST)]
    pub read_burst: u32,
    /// Per key: mutation fields per second (0: no limit).
    #[arg(long, env = "TOLLGATE_WRITES_PER_SECOND", default_value_t = WRITES_PER_SECOND)]
    pub writes_per_second: u32,
    /// Per key: writes allowed at once above the rate.
    #[arg(long, env = "TOLLGATE_WRITE_BURST", default_value_t = WRITE_BURST)]
    pub write_burst: u32,
    /// How long a websocket may take to send connection_init.
    #[arg(long, env = "TOLLGATE_WEBSOCKET_INIT_TIMEOUT_MS", default_value_t = WEBSOCKET_INIT_TIMEOUT_MILLISECONDS)]
    pub websocket_init_timeout_milliseconds: u64,
    /// The most subscriptions one websocket may hold.
    #[arg(long, env = "TOLLGATE_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = MAX_SUBSCRIPTIONS_PER_CONNECTION)]
    pub max_subscriptions_per_connection: usize,
    /// The most subscriptions one platform may hold over all its websockets.
    #[arg(long, env = "TOLLGATE_MAX_SUBSCRIPTIONS_PER_PLATFORM", default_value_t = MAX_SUBSCRIPTIONS_PER_PLATFORM)]
    pub max_subscriptions_per_platform: usize,
    /// How long one websocket message may take to reach the client.
    #[arg(long, env = "TOLLGATE_WEBSOCKET_SEND_TIMEOUT_MS", default_value_t = WEBSOCKET_SEND_TIMEOUT_MILLISECONDS)]
    pub websocket_send_timeout_milliseconds: u64,
    /// How many events a subscriber may fall behind before it is dropped.
    #[arg(long, env = "TOLLGATE_EVENT_STREAM_CAPACITY", default_value_t = EVENT_STREAM_CAPACITY)]
    pub event_stream_capacity: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_query_cost: MAX_QUERY_COST,
            max_query_fields: MAX_QUERY_FIELDS,
            max_introspection_cost: MAX_INTROSPECTION_COST,
            max_response_bytes: MAX_RESPONSE_BYTES,
            request_deadline_milliseconds: REQUEST_DEADLINE_MILLISECONDS,
            header_read_timeout_milliseconds: HEADER_READ_TIMEOUT_MILLISECONDS,
            max_connections: MAX_CONNECTIONS,
            reads_per_second: READS_PER_SECOND,
            read_burst: READ_BURST,
            writes_per_second: WRITES_PER_SECOND,
            write_burst: WRITE_BURST,
            websocket_init_timeout_milliseconds: WEBSOCKET_INIT_TIMEOUT_MILLISECONDS,
            max_subscriptions_per_connection: MAX_SUBSCRIPTIONS_PER_CONNECTION,
            max_subscriptions_per_platform: MAX_SUBSCRIPTIONS_PER_PLATFORM,
            websocket_send_timeout_milliseconds: WEBSOCKET_SEND_TIMEOUT_MILLISECONDS,
            event_stream_capacity: EVENT_STREAM_CAPACITY,
        }
    }
}
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

/// The storage engine's page cache, by default: reads of recent objects and balances come
/// from memory; the server's resident memory is about this plus a few tens of MiB.
pub const DEFAULT_CACHE_MB: u64 = 256;
/// The smallest and largest page cache accepted.
pub const MIN_CACHE_MB: u64 = 8;
pub const MAX_CACHE_MB: u64 = 64 * 1024;

/// How long an idempotency key is kept, by default (Stripe keeps them 24 hours at least).
pub const DEFAULT_IDEMPOTENCY_RETENTION_HOURS: i64 = 7 * 24;
/// The shortest retention accepted: a client retrying within a day must get its first result.
pub const MIN_IDEMPOTENCY_RETENTION_HOURS: i64 = 24;
/// The longest retention accepted (ten years), so expiry times stay representable.
pub const MAX_IDEMPOTENCY_RETENTION_HOURS: i64 = 10 * 366 * 24;
/// The most webhook deliveries in flight at once, over every endpoint. Each endpoint has
/// at most one, so its events arrive in order.
pub const MAX_WEBHOOK_DELIVERIES_IN_FLIGHT: usize = 32;
/// How long a webhook delivery may take to connect (TLS included).
pub const WEBHOOK_CONNECT_TIMEOUT_SECONDS: u64 = 5;
/// How long one webhook delivery may take in all, answer included.
pub const WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// How long a server's claim on a webhook delivery holds (wall time): well past one
/// attempt (`WEBHOOK_TIMEOUT_SECONDS`) and its recording, so a live server's attempt is never
/// sent again by another; a claim left by a server that died runs out after it.
pub const WEBHOOK_DELIVERY_LEASE_SECONDS: i64 = 60;
/// How long an idle connection to an endpoint is kept for the next delivery.
pub const WEBHOOK_IDLE_CONNECTION_SECONDS: u64 = 30;
/// At most one log line per endpoint per this many seconds about failed deliveries.
pub const WEBHOOK_FAILURE_LOG_INTERVAL_SECONDS: u64 = 60;
/// How often a server following the event feed (`--event-feed`) reads the other servers'
/// feeds: the most a subscriber on one server waits for an event committed through another.
pub const EVENT_FEED_POLL_MILLISECONDS: u64 = 100;
/// How long an entry stays in the event feed: far longer than any follower lags, short
/// enough that the feed stays small (a few seconds of events at full load per second kept).
pub const EVENT_FEED_RETENTION_SECONDS: i64 = 60;
/// How often each server prunes the feed of entries past their retention.
pub const EVENT_FEED_PRUNE_SECONDS: u64 = 10;
/// The most feed entries appended or read in one commit or one read.
pub const MAX_EVENT_FEED_BATCH: usize = 1_000;
/// The most committed events waiting to be appended to the feed; past it (the store
/// refusing appends for long) the oldest are dropped with an error logged.
pub const MAX_EVENT_FEED_PENDING: usize = 65_536;
/// The most endpoints the delivery worker tracks at once (the rest wait for a rescan).
pub const MAX_WEBHOOK_ENDPOINTS_TRACKED: usize = 100_000;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The store `--store` names; sled in `data_dir` when `None`.
    pub store: Option<crate::store::StoreUrl>,
    pub policies_dir: PathBuf,
    pub simulated_clock: bool,
    pub demo: bool,
    /// Webhooks may go to loopback and private addresses (local development only).
    pub webhooks_allow_private: bool,
    /// A PEM file of extra CA certificates trusted for https webhook endpoints.
    pub webhooks_extra_ca: Option<PathBuf>,
    /// The most charges one policy backtest replays.
    pub max_backtest_charges: usize,
    /// Browser origins allowed to call the API (CORS); empty allows none, `*` any.
    pub cors_origins: Vec<String>,
    /// The key of the operator API (`/operator/graphql`); without one it is off.
    pub operator_key: Option<String>,
    /// How long idempotency keys are kept before a timer deletes them.
    pub idempotency_retention_hours: i64,
    /// How long a platform's previous secret key keeps working after `rotateSecretKey`.
    pub key_rotation_overlap: crate::domain::api_keys::RotationOverlap,
    /// The URL clients reach this server at, for links it hands out (account links); `None`
    /// means `http://` and the address the server listens on.
    pub public_url: Option<PublicUrl>,
    pub limits: Limits,
    /// The most memory the storage engine's page cache may hold, in MiB.
    pub cache_mb: u64,
    /// Several servers share the store: append committed events to the event feed and
    /// stream the other servers' events to this server's subscribers.
    pub event_feed: bool,
}

/// An absolute `http` or `https` URL without a trailing slash, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PublicUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<PublicUrl, String> {
        let parsed = url::Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err("the public URL must be http:// or https:// with a host".into());
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err("the public URL may not have a query or a fragment".into());
        }
        Ok(PublicUrl(parsed.as_str().trim_end_matches('/').to_owned()))
    }
}

impl Settings {
    /// Settings for a store in `data_dir` priced by `policies_dir`, with every other value
    /// at its default: loopback on port 8080, the system clock, no demo data. Callers
    /// override fields with struct update syntax, so a new setting is added in one place.
    pub fn new(data_dir: PathBuf, policies_dir: PathBuf) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            store: None,
            policies_dir,
            simulated_clock: false,
            demo: false,
            webhooks_allow_private: false,
            webhooks_extra_ca: None,
            max_backtest_charges: MAX_BACKTEST_CHARGES,
            cors_origins: Vec::new(),
            operator_key: None,
            idempotency_retention_hours: DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
            key_rotation_overlap: crate::domain::api_keys::RotationOverlap::default(),
            public_url: None,
            limits: Limits::default(),
            cache_mb: DEFAULT_CACHE_MB,
            event_feed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_absolute_http_without_a_trailing_slash() {
        let parsed: PublicUrl = "https://pay.example.com/".parse().expect("url");
        assert_eq!(parsed.as_str(), "https://pay.example.com");
        let with_path: PublicUrl = "http://10.0.0.1:8080/tollgate/".parse().expect("url");
        assert_eq!(with_path.as_str(), "http://10.0.0.1:8080/tollgate");
        for bad in [
            "pay.example.com",
            "ftp://pay.example.com",
            "https://pay.example.com/?a=1",
            "javascript:alert(1)",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }
}
