//! The `tollgate` command line: serve, platform create and move, account create, verify,
//! backup, restore, migrate, policy check, test and backtest, schema, webhook verify, listen
//! and trigger.

/// mimalloc: the server allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use tollgate::app::Application;
use tollgate::config::{Limits, PublicUrl, Settings};
use tollgate::ids::{AccountId, PlatformId};
use tollgate::operator_client::OperatorClient;
use tollgate::service::backtests::{BacktestRequest, Candidate, CANDIDATE_POLICY_NAME};
use tollgate::service::platforms::NewPlatform;
use tollgate::service::ServiceError;
use tollgate::store::{Shards, Store, StoreList, StoreLocation, StoreOptions, StoreUrl};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A self-hosted, Connect-style payments gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: `text` (coloured only on a terminal) or `json`
    /// (one object a line, with the request id of the request being served).
    #[arg(long, global = true, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Start the GraphQL server.
    Serve(ServeArgs),
    /// Manage platforms.
    Platform {
        #[command(subcommand)]
        command: PlatformCommand,
    },
    /// Manage standalone accounts (account holders without a platform).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Check and test fee policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
    /// Prove the whole ledger: every entry balances and every balance equals its postings.
    Verify {
        /// The data directory of a stopped server (ignored with --server).
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
        /// The store: postgres://USER@HOST:PORT/DATABASE, or sled:PATH; sled in --data
        /// without it. Several, separated by commas, are shards: each is proven.
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
        store: Option<StoreList>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write a consistent snapshot of a running server's store to a file.
    Backup {
        /// The file to write (replaced only once the snapshot is complete).
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Exit 0 if a URL answers 2xx within 5 s (the container health check: /readyz).
    Probe {
        /// The URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
    /// Load a backup into a new data directory, then prove its ledger.
    Restore {
        /// The backup file written by `tollgate backup`.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to create; it must be absent or empty.
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
        /// Restore into this store instead (an empty PostgreSQL database, or sled:PATH).
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = ONE_STORE)]
        store: Option<StoreUrl>,
    },
    /// Copy a whole ledger from one store into a new, empty one (sled or PostgreSQL, either
    /// way), then prove the copy as `verify` does. Stop the servers of the source first.
    Migrate {
        /// The store to copy: postgres://USER@HOST:PORT/DATABASE or sled:PATH.
        #[arg(long, value_parser = ONE_STORE)]
        from: StoreUrl,
        /// The new store: an empty database, or sled:PATH of an absent or empty directory.
        #[arg(long, value_parser = ONE_STORE)]
        to: StoreUrl,
    },
    /// Webhook tools.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Forward the platform's events to a local URL, signed, as webhooks would be.
    Listen {
        /// Where to POST each event, e.g. http://localhost:3000/hooks.
        #[arg(long)]
        forward_to: String,
        /// The platform's secret key.
        #[arg(long, env = "TOLLGATE_KEY")]
        key: String,
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Only these event types (repeat the flag); every type when omitted.
        #[arg(long = "events")]
        events: Vec<String>,
    },
    /// Create, in test mode, the objects that fire an event (e.g. charge.succeeded).
    Trigger {
        event: String,
        #[arg(long, env = "TOLLGATE_KEY")]
        key: String,
        #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Check a delivery's Tollgate-Signature header against its body; exits non-zero when
    /// it does not verify.
    Verify {
        /// The endpoint's signing secret (whsec_…).
        #[arg(long)]
        secret: String,
        /// The Tollgate-Signature header's value, t=…,v1=….
        #[arg(long)]
        header: String,
        /// A file holding the exact body received.
        #[arg(long)]
        body_file: PathBuf,
        /// How far the timestamp may be from now, in seconds.
        #[arg(long, default_value_t = 300)]
        tolerance: i64,
    },
}

/// Where a running server's operator API is.
#[derive(Args)]
struct ServerArgs {
    /// A running server's URL (e.g. http://127.0.0.1:8080): act through its operator API.
    #[arg(long, env = "TOLLGATE_SERVER")]
    server: Option<String>,
    /// The key the server was started with (--operator-key).
    #[arg(long, env = "TOLLGATE_OPERATOR_KEY", hide_env_values = true)]
    operator_key: Option<String>,
}

impl ServerArgs {
    /// The operator client, when a server is named; an error when its key is missing.
    fn client(&self) -> Result<Option<OperatorClient>, String> {
        match (&self.server, &self.operator_key) {
            (None, _) => Ok(None),
            (Some(server), Some(key)) => Ok(Some(OperatorClient::new(server, key))),
            (Some(_), None) => {
                Err("--server needs --operator-key (or TOLLGATE_OPERATOR_KEY)".into())
            }
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// The address and port to listen on; GraphiQL shows the demo key only on loopback.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the store lives (created if missing).
    #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
    data: PathBuf,
    /// The store: postgres://USER@HOST:PORT/DATABASE (several servers may share one), or
    /// sled:PATH; sled in --data without it. Several, separated by commas, are shards: each
    /// request goes to the shard of the platform whose key it presents.
    #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
    store: Option<StoreList>,
    /// The folder of fee policies (`<name>.rhai`), watched for changes.
    #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
    policies: PathBuf,
    /// Each platform has its own business clock, moved only by its advanceClock mutation
    /// (1/true/yes or 0/false/no).
    #[arg(long, env = "TOLLGATE_SIMULATED_CLOCK", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    simulated_clock: bool,
    /// Create (once) a demo platform with a little data, pre-fill its key in GraphiQL, and
    /// run on the simulated clock; also lets webhooks reach private addresses.
    #[arg(long, env = "TOLLGATE_DEMO", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    demo: bool,
    /// A browser origin allowed to call the API (CORS), e.g. http://localhost:5173; repeat
    /// it or separate origins with commas; `*` allows any.
    #[arg(
        long = "cors-origin",
        env = "TOLLGATE_CORS_ORIGIN",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Turns on the operator API (/operator/graphql, /operator/backup) for this key, at
    /// least 16 characters: create platforms, verify and back up while serving.
    #[arg(long, env = "TOLLGATE_OPERATOR_KEY", hide_env_values = true)]
    operator_key: Option<String>,
    /// Hours an idempotency key is kept before it is deleted (at least 24).
    #[arg(long, env = "TOLLGATE_IDEMPOTENCY_RETENTION_HOURS",
          default_value_t = tollgate::config::DEFAULT_IDEMPOTENCY_RETENTION_HOURS)]
    idempotency_retention_hours: i64,
    /// Hours a platform's previous secret key keeps working after rotateSecretKey (0 to 720).
    #[arg(
        long = "key-rotation-overlap-hours",
        env = "TOLLGATE_KEY_ROTATION_OVERLAP_HOURS",
        default_value = "24"
    )]
    key_rotation_overlap: tollgate::domain::api_keys::RotationOverlap,
    /// The URL clients reach this server at, for the links it hands out (account links);
    /// defaults to http:// and the address it listens on.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    public_url: Option<PublicUrl>,
    #[command(flatten)]
    limits: Limits,
    /// Let webhooks reach loopback and private addresses (local development only).
    #[arg(long, env = "TOLLGATE_WEBHOOKS_ALLOW_PRIVATE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    webhooks_allow_private: bool,
    /// A PEM file of extra CA certificates trusted for https webhook endpoints.
    #[arg(long, env = "TOLLGATE_WEBHOOKS_EXTRA_CA")]
    webhooks_extra_ca: Option<PathBuf>,
    /// The storage engine's page cache in MiB: more keeps more of the store in memory.
    #[arg(long, env = "TOLLGATE_CACHE_MB", default_value_t = tollgate::config::DEFAULT_CACHE_MB,
          value_parser = clap::value_parser!(u64).range(tollgate::config::MIN_CACHE_MB..=tollgate::config::MAX_CACHE_MB))]
    cache_mb: u64,
    /// Several servers share the store: append committed events to the event feed in the
    /// store, and stream the other servers' events to this server's subscribers. Turn it on
    /// for every server of the fleet.
    #[arg(long, env = "TOLLGATE_EVENT_FEED", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    event_feed: bool,
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Create a platform; prints one JSON line with its id and secret key.
    Create {
        /// The platform's name, shown to its connected accounts.
        #[arg(long)]
        name: String,
        /// The platform's country (ISO 3166-1 alpha-2, e.g. US).
        #[arg(long)]
        country: String,
        /// The platform's default currency (ISO 4217, e.g. usd); the country's by default.
        #[arg(long)]
        default_currency: Option<String>,
        /// The policy (`<name>.rhai` in the policies folder) that prices its charges.
        #[arg(long)]
        policy: Option<String>,
        /// The data directory of a stopped server (ignored with --server).
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
        /// The store: postgres://USER@HOST:PORT/DATABASE, or sled:PATH; sled in --data
        /// without it. Several, separated by commas, are shards: the platform goes to the
        /// one holding the fewest platforms, and the first records where it went.
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
        store: Option<StoreList>,
        /// The policies folder, to check that the platform's policy exists.
        #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
        policies: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Move a platform to another shard, with every object, entry and balance, then prove
    /// both shards. No server may be running on either.
    Move {
        /// The platform (plat_…).
        platform: String,
        /// The shard to move it to: its position in --store, 0 for the first.
        #[arg(long)]
        to: usize,
        /// The shards, separated by commas, in the order the servers are given them.
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
        store: StoreList,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create a standalone STANDARD account with its own secret key; prints one JSON line
    /// with its id (acct_…) and secret key.
    Create {
        /// The account holder's email.
        #[arg(long)]
        email: String,
        /// The account's country (ISO 3166-1 alpha-2, e.g. US).
        #[arg(long)]
        country: String,
        /// The data directory of a stopped server (ignored with --server).
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
        /// The store: postgres://USER@HOST:PORT/DATABASE, or sled:PATH; sled in --data
        /// without it.
        #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
        store: Option<StoreList>,
        /// The policies folder (standalone accounts are priced by `default`).
        #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
        policies: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Compile a policy file: list its hooks, or report errors with line and column.
    Check {
        /// The policy file (`.rhai`).
        file: PathBuf,
    },
    /// Run the tests (`<name>.test.rhai`) of one policy, or of every policy.
    Test {
        /// A policy's name (`tickets`), file (`tickets.rhai`) or path; every policy if left out.
        name: Option<String>,
        /// The policies folder (a path in NAME takes precedence).
        #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
        policies: PathBuf,
    },
    /// Replay a platform's captured charges under the policy in FILE: prints the totals
    /// and the twenty largest changes. Reads a data directory no server holds.
    Backtest(BacktestArgs),
}

#[derive(Args)]
struct BacktestArgs {
    /// The candidate policy's Rhai source.
    file: PathBuf,
    /// The platform whose charges are replayed (plat_…).
    #[arg(long)]
    platform: String,
    /// Charges created at or after this RFC 3339 time, on the platform's clock.
    #[arg(long)]
    from: Option<String>,
    /// Charges created before this RFC 3339 time.
    #[arg(long)]
    to: Option<String>,
    /// Only charges on this connected account, or with it as their destination.
    #[arg(long)]
    account: Option<String>,
    /// Also write every replayed charge to this CSV file (amounts in minor units).
    #[arg(long)]
    csv: Option<PathBuf>,
    #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
    data: PathBuf,
    /// The store: postgres://USER@HOST:PORT/DATABASE, or sled:PATH; sled in --data
    /// without it.
    #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true, value_parser = STORE_LIST)]
    store: Option<StoreList>,
    #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
    policies: PathBuf,
}

async fn policy_command(command: PolicyCommand) -> Result<bool, String> {
    match command {
        PolicyCommand::Check { file } => match tollgate::policy::check_file(&file) {
            Ok(report) => {
                println!("{report}");
                Ok(true)
            }
            Err(error) => {
                println!("{error}");
                Ok(false)
            }
        },
        PolicyCommand::Test { name, policies } => {
            let (policies, name) = match name.as_deref().map(tollgate::policy::policy_argument) {
                Some((Some(folder), name)) => (folder, Some(name)),
                Some((None, name)) => (policies, Some(name)),
                None => (policies, None),
            };
            let report = tollgate::policy::run_tests(&policies, name.as_deref());
            println!("{report}");
            Ok(report.passed())
        }
        PolicyCommand::Backtest(args) => backtest(args).await,
    }
}

/// Parses `--store` (one store, or several separated by commas) without quoting the value
/// back in its error: it may hold a password.
#[derive(Clone)]
struct StoreParser<T>(std::marker::PhantomData<T>);

/// `--store` naming one store.
const ONE_STORE: StoreParser<StoreUrl> = StoreParser(std::marker::PhantomData);
/// `--store` naming one store or several (shards).
const STORE_LIST: StoreParser<StoreList> = StoreParser(std::marker::PhantomData);

impl<T> clap::builder::TypedValueParser for StoreParser<T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _argument: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        value
            .to_str()
            .ok_or_else(|| "the store is not text".to_owned())
            .and_then(str::parse)
            .map_err(|error| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--store: {error}\n"),
                )
            })
    }
}

fn parse_time(flag: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| format!("--{flag} {text} is not an RFC 3339 time: {error}"))
    })
    .transpose()
}

/// The request a `policy backtest` command makes: the file's source under its own name.
fn backtest_request(args: &BacktestArgs) -> Result<BacktestRequest, String> {
    let source = std::fs::read_to_string(&args.file)
        .map_err(|error| format!("could not read {}: {error}", args.file.display()))?;
    let name = args
        .file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(CANDIDATE_POLICY_NAME)
        .to_owned();
    Ok(BacktestRequest {
        candidate: Candidate::Source { name, source },
        from: parse_time("from", args.from.clone())?,
        to: parse_time("to", args.to.clone())?,
        account: args
            .account
            .as_deref()
            .map(AccountId::parse)
            .transpose()
            .map_err(|error| format!("--account: {error}"))?,
    })
}

async fn backtest(args: BacktestArgs) -> Result<bool, String> {
    let request = backtest_request(&args)?;
    let platform_id = PlatformId::parse(&args.platform).map_err(|error| error.to_string())?;
    let application = Application::open_for_reading(offline_settings(
        args.data.clone(),
        store_of_platform(&args.data, args.store.as_ref(), &args.platform)?,
        args.policies.clone(),
    ))
    .map_err(|error| error.to_string())?;
    let services = application.services.clone();
    let outcome = async {
        let platform = services
            .platform_by_id(&platform_id)?
            .ok_or_else(|| ServiceError::not_found("--platform", "platform", &args.platform))?;
        let caller = services.caller(platform, None, tollgate::service::Access::Change)?;
        services.backtest_policy(&caller, request).await
    }
    .await;
    drop(services);
    application.close().await;
    let backtest = outcome.map_err(|error| error.to_string())?;
    print!("{}", tollgate::backtest_report::table(&backtest));
    if let Some(path) = &args.csv {
        std::fs::write(path, tollgate::backtest_report::csv(&backtest))
            .map_err(|error| format!("could not write {}: {error}", path.display()))?;
    }
    Ok(true)
}

/// The store a platform lives on: the one store, or its shard as the directory says.
fn store_of_platform(
    data: &std::path::Path,
    list: Option<&StoreList>,
    platform: &str,
) -> Result<Option<StoreUrl>, String> {
    let Some(list) = list.filter(|list| list.0.len() > 1) else {
        return Ok(list.and_then(|list| list.0.first().cloned()));
    };
    let locations = StoreList::locations(Some(list), data);
    let shards = Shards::open(&locations, &StoreOptions::default())
        .map_err(|error| explain_locked(error.to_string()))?;
    let shard = shards.shard_of(platform);
    shards.close();
    let shard = shard.map_err(|error| error.to_string())?;
    Ok(list.0.get(shard).cloned())
}

fn offline_settings(data: PathBuf, store: Option<StoreUrl>, policies: PathBuf) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        store,
        ..Settings::new(data, policies)
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "info,tower_http=warn,{}",
            tollgate::store::ENGINE_LOG_LEVELS
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal, never in a file or a pipe.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    // Panics are logged like every other failure; where one is caught (the storage engine
    // on damaged files) the refusal that follows says what is wrong.
    std::panic::set_hook(Box::new(|info| tracing::error!(%info, "a thread panicked")));
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "could not listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining requests");
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    tollgate::http::cors::layer(&args.cors_origins)?;
    if let Some(key) = &args.operator_key {
        tollgate::http::operator::check_operator_key(key)?;
    }
    let settings = Settings {
        listen: args.listen,
        // The demo's tour moves time with advanceClock, which needs the simulated clock.
        simulated_clock: args.simulated_clock || args.demo,
        demo: args.demo,
        cors_origins: args.cors_origins,
        operator_key: args.operator_key,
        idempotency_retention_hours: args.idempotency_retention_hours,
        key_rotation_overlap: args.key_rotation_overlap,
        public_url: args.public_url,
        limits: args.limits,
        webhooks_allow_private: args.webhooks_allow_private || args.demo,
        webhooks_extra_ca: args.webhooks_extra_ca,
        cache_mb: args.cache_mb,
        event_feed: args.event_feed,
        store: args.store.as_ref().and_then(|list| list.0.first().cloned()),
        ..Settings::new(args.data, args.policies)
    };
    if let Some(list) = args.store.as_ref().filter(|list| list.0.len() > 1) {
        return serve_shards(settings, &list.0).await;
    }
    let mut application =
        Application::build(settings.clone()).map_err(|error| error.to_string())?;
    application
        .watch_policies()
        .map_err(|error| error.to_string())?;
    let demo_key = if settings.demo {
        let key = application
            .ensure_demo()
            .await
            .map_err(|error| error.to_string())?;
        println!("demo platform secret key: {key}");
        Some(key)
    } else {
        None
    };
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|error| format!("could not listen on {}: {error}", settings.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    println!("tollgate listening on http://{address}");
    tracing::info!(%address, "GraphiQL at http://{address}/");
    application
        .serve(listener, demo_key, shutdown_signal())
        .await
        .map_err(|error| error.to_string())
}

/// `serve` over several shards: one process, one listener, each request on its shard.
async fn serve_shards(settings: Settings, stores: &[StoreUrl]) -> Result<(), String> {
    if settings.demo {
        return Err("--demo runs on one store, not on shards".into());
    }
    let mut application = tollgate::sharded::ShardedApplication::build(&settings, stores)
        .map_err(|error| error.to_string())?;
    application
        .watch_policies()
        .map_err(|error| error.to_string())?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|error| format!("could not listen on {}: {error}", settings.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    println!(
        "tollgate listening on http://{address} over {} shards",
        stores.len()
    );
    application
        .serve(listener, shutdown_signal())
        .await
        .map_err(|error| error.to_string())
}

async fn create_platform(
    data: PathBuf,
    store: Option<StoreList>,
    policies: PathBuf,
    new: NewPlatform,
) -> Result<(), String> {
    let created = match store {
        Some(list) if list.0.len() > 1 => {
            create_platform_on_a_shard(&data, &list, policies, new).await?
        }
        single => {
            let store = single.and_then(|list| list.0.into_iter().next());
            let application = Application::build(offline_settings(data, store, policies))
                .map_err(|error| explain_locked(error.to_string()))?;
            let created = application.services.create_platform(new).await;
            application.close().await;
            created.map_err(|error| error.to_string())?
        }
    };
    let line = serde_json::to_string(&created).map_err(|error| error.to_string())?;
    println!("{line}");
    Ok(())
}

/// Creates a platform on the shard holding the fewest platforms and records it in the
/// directory on the first shard.
async fn create_platform_on_a_shard(
    data: &std::path::Path,
    list: &StoreList,
    policies: PathBuf,
    new: NewPlatform,
) -> Result<tollgate::service::platforms::CreatedPlatform, String> {
    let locations = StoreList::locations(Some(list), data);
    let shards = Shards::open(&locations, &StoreOptions::default())
        .map_err(|error| explain_locked(error.to_string()))?;
    let outcome = async {
        let number = shards
            .shard_for_new_platform()
            .map_err(|error| error.to_string())?;
        let store = shards.shard(number).map_err(|error| error.to_string())?;
        let application =
            Application::over_store(offline_settings(data.to_path_buf(), None, policies), store)
                .map_err(|error| error.to_string())?;
        let created = application.services.create_platform(new).await;
        application.close().await;
        let created = created.map_err(|error| error.to_string())?;
        shards
            .assign(&created.id, number)
            .await
            .map_err(|error| error.to_string())?;
        eprintln!(
            "{} is on shard {number} ({})",
            created.id,
            locations
                .get(number)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        Ok(created)
    }
    .await;
    shards.close();
    outcome
}

/// `platform move`: moves the platform, records its new shard, proves both shards.
fn move_platform(platform: &str, to: usize, list: &StoreList) -> Result<bool, String> {
    PlatformId::parse(platform).map_err(|error| error.to_string())?;
    let locations = StoreList::locations(Some(list), std::path::Path::new("."));
    let target = locations.get(to).ok_or_else(|| {
        format!(
            "there is no shard {to}: --store names {} (0 to {})",
            locations.len(),
            locations.len().saturating_sub(1)
        )
    })?;
    let shards = Shards::open(&locations, &StoreOptions::default())
        .map_err(|error| explain_locked(error.to_string()))?;
    let from = shards.shard_of(platform);
    shards.close();
    let from = from.map_err(|error| error.to_string())?;
    let source = locations
        .get(from)
        .ok_or_else(|| format!("the directory names shard {from}, which --store does not"))?;
    let moved = tollgate::store::move_platform(platform, source, target)
        .map_err(|error| error.to_string())?;
    println!(
        "{platform}: {} entries and {} records moved from shard {from} to shard {to}",
        moved.entries, moved.records
    );
    let shards =
        Shards::open(&locations, &StoreOptions::default()).map_err(|error| error.to_string())?;
    let outcome = tokio::runtime::Handle::current()
        .block_on(shards.assign(platform, to))
        .map_err(|error| error.to_string())
        .and_then(|()| {
            let mut balanced = true;
            for number in [from, to] {
                let store = shards.shard(number).map_err(|error| error.to_string())?;
                println!("shard {number} ({}):", locations[number]);
                balanced &= verify_open_store(store)?;
            }
            Ok(balanced)
        });
    shards.close();
    outcome
}

/// `migrate`: copies the whole store into a new one, then proves the copy.
fn migrate(from: &StoreUrl, to: &StoreUrl) -> Result<bool, String> {
    let here = std::path::Path::new(".");
    let source = StoreLocation::resolve(Some(from), here);
    let target = StoreLocation::resolve(Some(to), here);
    if let StoreLocation::Sled(path) = &source {
        if !path.is_dir() {
            return Err(format!("there is no store in {}", path.display()));
        }
    }
    let (store, writer) = Store::open_at(&source, StoreOptions::default())
        .map_err(|error| explain_locked(error.to_string()))?;
    let copied = store.migrate_to(&target);
    store.close();
    writer.join();
    let (copy, copy_writer, records) = copied.map_err(|error| error.to_string())?;
    println!("{records} records copied from {source} to {target}");
    let outcome = verify_open_store(&copy);
    copy.close();
    copy_writer.join();
    outcome
}

async fn create_standalone_account(
    data: PathBuf,
    store: Option<StoreUrl>,
    policies: PathBuf,
    email: &str,
    country: &str,
) -> Result<(), String> {
    let application = Application::build(offline_settings(data, store, policies))
        .map_err(|error| explain_locked(error.to_string()))?;
    let created = application
        .services
        .create_standalone_account(email, country)
        .await;
    application.close().await;
    let created = created.map_err(|error| error.to_string())?;
    let line = serde_json::to_string(&created).map_err(|error| error.to_string())?;
    println!("{line}");
    Ok(())
}

/// A hint for the message the embedded engine gives when a running server holds the store.
fn explain_locked(error: String) -> String {
    if error.contains("lock") {
        format!("{error}\n(a server is running on this data directory: use --server URL --operator-key KEY to act through it)")
    } else {
        error
    }
}

fn verify(data: PathBuf, store: Option<StoreList>) -> Result<bool, String> {
    let locations = StoreList::locations(store.as_ref(), &data);
    let shards = Shards::open(&locations, &StoreOptions::default())
        .map_err(|error| explain_locked(error.to_string()))?;
    let mut outcome = Ok(true);
    for (number, store) in shards.stores().iter().enumerate() {
        if shards.len() > 1 {
            println!("shard {number} ({}):", locations[number]);
        }
        match verify_open_store(store) {
            Ok(balanced) => outcome = outcome.map(|all| all && balanced),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    shards.close();
    outcome
}

/// Proves an open store's chain and ledger and prints the report; true when balanced.
fn verify_open_store(store: &Store) -> Result<bool, String> {
    let report = tollgate::service::ledger_check::verify_store(store);
    let chain = store.chain_head();
    let report = report.map_err(|error| error.to_string())?;
    let (sequence, hash) = chain.map_err(|error| error.to_string())?;
    println!(
        "chain: entries #1 to #{sequence} linked, head {hash}, none missing since the last acknowledged flush"
    );
    print_report(&report)
}

/// Prints a ledger report; true when the ledger is balanced.
fn print_report(report: &tollgate::service::ledger_check::LedgerReport) -> Result<bool, String> {
    for (currency, debits, credits) in &report.totals {
        println!("{currency}: debits {debits}, credits {credits}");
    }
    for violation in &report.violations {
        println!("violation: {violation}");
    }
    println!(
        "{} entries: {}",
        report.entries,
        if report.balanced {
            "balanced"
        } else {
            "NOT balanced"
        }
    );
    Ok(report.balanced)
}

/// `verify --server`: the same report, from the running server.
async fn verify_remote(client: &OperatorClient) -> Result<bool, String> {
    let report = client.verify().await?;
    for totals in report["totals"].as_array().into_iter().flatten() {
        println!(
            "{}: debits {}, credits {}",
            totals["currency"].as_str().unwrap_or_default(),
            totals["debits"].as_str().unwrap_or_default(),
            totals["credits"].as_str().unwrap_or_default()
        );
    }
    for violation in report["violations"].as_array().into_iter().flatten() {
        println!("violation: {}", violation.as_str().unwrap_or_default());
    }
    let balanced = report["balanced"].as_bool() == Some(true);
    println!(
        "{} entries: {}",
        report["entries"].as_str().unwrap_or_default(),
        if balanced { "balanced" } else { "NOT balanced" }
    );
    Ok(balanced)
}

async fn backup(to: PathBuf, server: ServerArgs) -> Result<bool, String> {
    let client = server
        .client()?
        .ok_or("backup needs a running server: --server URL --operator-key KEY")?;
    let records = client.backup_to(&to).await?;
    println!("{records} records written to {}", to.display());
    Ok(true)
}

/// How long `probe` waits for an answer.
const PROBE_TIMEOUT_SECONDS: u64 = 5;

async fn probe(url: &str) -> Result<bool, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(PROBE_TIMEOUT_SECONDS))
        .build()
        .map_err(|error| error.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    let status = response.status();
    println!("{url}: {status}");
    Ok(status.is_success())
}

fn restore(from: PathBuf, data: PathBuf, store: Option<StoreUrl>) -> Result<bool, String> {
    let file = std::fs::File::open(&from)
        .map_err(|error| format!("could not read {}: {error}", from.display()))?;
    let location = StoreLocation::resolve(store.as_ref(), &data);
    let (store, writer, records) = Store::restore(&mut std::io::BufReader::new(file), &location)
        .map_err(|error| error.to_string())?;
    match &location {
        StoreLocation::Sled(path) => println!("{records} records restored into {}", path.display()),
        StoreLocation::Postgres(_) => println!("{records} records restored into {location}"),
    }
    let report = tollgate::service::ledger_check::verify_store(&store);
    store.close();
    writer.join();
    print_report(&report.map_err(|error| error.to_string())?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tollgate: could not start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await.map(|()| true),
            Command::Platform {
                command:
                    PlatformCommand::Create {
                        name,
                        country,
                        default_currency,
                        policy,
                        data,
                        store,
                        policies,
                        server,
                    },
            } => match server.client() {
                Ok(Some(client)) => client
                    .create_platform(
                        &name,
                        &country,
                        default_currency.as_deref(),
                        policy.as_deref(),
                    )
                    .await
                    .and_then(|created| {
                        serde_json::to_string(&created).map_err(|error| error.to_string())
                    })
                    .map(|line| {
                        println!("{line}");
                        true
                    }),
                Ok(None) => create_platform(
                    data,
                    store,
                    policies,
                    NewPlatform {
                        name,
                        country,
                        default_currency,
                        policy,
                    },
                )
                .await
                .map(|()| true),
                Err(error) => Err(error),
            },
            Command::Account {
                command:
                    AccountCommand::Create {
                        email,
                        country,
                        data,
                        store,
                        policies,
                        server,
                    },
            } => match server.client() {
                Ok(Some(client)) => client
                    .create_standalone_account(&email, &country)
                    .await
                    .and_then(|created| {
                        serde_json::to_string(&created).map_err(|error| error.to_string())
                    })
                    .map(|line| {
                        println!("{line}");
                        true
                    }),
                // Standalone accounts live on the first shard.
                Ok(None) => create_standalone_account(
                    data,
                    store.and_then(|list| list.0.into_iter().next()),
                    policies,
                    &email,
                    &country,
                )
                .await
                .map(|()| true),
                Err(error) => Err(error),
            },
            Command::Verify {
                data,
                store,
                server,
            } => match server.client() {
                Ok(Some(client)) => verify_remote(&client).await,
                Ok(None) => tokio::task::block_in_place(|| verify(data, store)),
                Err(error) => Err(error),
            },
            Command::Backup { to, server } => backup(to, server).await,
            Command::Probe { url } => probe(&url).await,
            Command::Restore { from, data, store } => {
                tokio::task::block_in_place(|| restore(from, data, store))
            }
            Command::Migrate { from, to } => tokio::task::block_in_place(|| migrate(&from, &to)),
            Command::Platform {
                command:
                    PlatformCommand::Move {
                        platform,
                        to,
                        store,
                    },
            } => tokio::task::block_in_place(|| move_platform(&platform, to, &store)),
            Command::Policy { command } => policy_command(command).await,
            Command::Webhook {
                command:
                    WebhookCommand::Verify {
                        secret,
                        header,
                        body_file,
                        tolerance,
                    },
            } => {
                match tollgate::devtools::verify_command(&secret, &header, &body_file, tolerance) {
                    Ok(()) => {
                        println!("signature verified");
                        Ok(true)
                    }
                    Err(error) => {
                        println!("signature NOT verified: {error}");
                        Ok(false)
                    }
                }
            }
            Command::Listen {
                forward_to,
                key,
                url,
                events,
            } => {
                let types = (!events.is_empty()).then_some(events);
                tollgate::devtools::listen(&url, &key, &forward_to, types)
                    .await
                    .map(|()| true)
                    .map_err(|error| error.to_string())
            }
            Command::Trigger { event, key, url } => tollgate::devtools::trigger(&url, &key, &event)
                .await
                .map(|response| {
                    println!("{response}");
                    response.get("data").is_some_and(|data| !data.is_null())
                })
                .map_err(|error| error.to_string()),
            Command::Schema => {
                print!("{}", tollgate::graphql::sdl());
                Ok(true)
            }
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("tollgate: {message}");
            ExitCode::FAILURE
        }
    }
}
