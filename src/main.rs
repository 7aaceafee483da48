//! The `tollgate` command line: serve, platform create, verify, policy check, test and backtest.

/// mimalloc: the server allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use tollgate::app::Application;
use tollgate::config::{Limits, PublicUrl, Settings};
use tollgate::ids::{AccountId, PlatformId};
use tollgate::service::backtests::{BacktestRequest, Candidate, CANDIDATE_POLICY_NAME};
use tollgate::service::platforms::NewPlatform;
use tollgate::service::ServiceError;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A self-hosted, Connect-style payments gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Check and test fee policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
    /// Prove the whole ledger: every entry balances and every balance equals its postings.
    Verify {
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
    data: PathBuf,
    #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
    policies: PathBuf,
    /// Each platform has its own business clock, moved only by its advanceClock mutation.
    #[arg(long, env = "TOLLGATE_SIMULATED_CLOCK")]
    simulated_clock: bool,
    /// Create (once) a demo platform with a little data, and pre-fill its key in GraphiQL.
    #[arg(long, env = "TOLLGATE_DEMO")]
    demo: bool,
    /// Hours an idempotency key is kept before it is deleted (at least 24).
    #[arg(long, env = "TOLLGATE_IDEMPOTENCY_RETENTION_HOURS",
          default_value_t = tollgate::config::DEFAULT_IDEMPOTENCY_RETENTION_HOURS)]
    idempotency_retention_hours: i64,
    /// The URL clients reach this server at, for the links it hands out (account links);
    /// defaults to http:// and the address it listens on.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    public_url: Option<PublicUrl>,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Create a platform; prints one JSON line with its id and secret key.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        country: String,
        #[arg(long)]
        default_currency: Option<String>,
        #[arg(long)]
        policy: Option<String>,
        #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
        data: PathBuf,
        /// The policies folder, to check that the platform's policy exists.
        #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
        policies: PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Compile a policy file: list its hooks, or report errors with line and column.
    Check { file: PathBuf },
    /// Run the tests (`<name>.test.rhai`) of one policy, or of every policy.
    Test {
        name: Option<String>,
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
            let report = tollgate::policy::run_tests(&policies, name.as_deref());
            println!("{report}");
            Ok(report.passed())
        }
        PolicyCommand::Backtest(args) => backtest(args).await,
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
    let application =
        Application::open_for_reading(offline_settings(args.data.clone(), args.policies.clone()))
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

fn offline_settings(data: PathBuf, policies: PathBuf) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Settings::new(data, policies)
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn,sled=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    let settings = Settings {
        listen: args.listen,
        simulated_clock: args.simulated_clock,
        demo: args.demo,
        idempotency_retention_hours: args.idempotency_retention_hours,
        public_url: args.public_url,
        limits: args.limits,
        ..Settings::new(args.data, args.policies)
    };
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

async fn create_platform(data: PathBuf, policies: PathBuf, new: NewPlatform) -> Result<(), String> {
    let application =
        Application::build(offline_settings(data, policies)).map_err(|error| error.to_string())?;
    let created = application.services.create_platform(new).await;
    application.close().await;
    let created = created.map_err(|error| error.to_string())?;
    let line = serde_json::to_string(&created).map_err(|error| error.to_string())?;
    println!("{line}");
    Ok(())
}

fn verify(data: PathBuf) -> Result<bool, String> {
    let (store, writer) = tollgate::store::Store::open(&data).map_err(|error| error.to_string())?;
    let report = tollgate::service::ledger_check::verify_store(&store);
    let chain = store.chain_head();
    store.close();
    writer.join();
    let report = report.map_err(|error| error.to_string())?;
    let (sequence, hash) = chain.map_err(|error| error.to_string())?;
    println!(
        "chain: entries #1 to #{sequence} linked, head {hash}, none missing since the last acknowledged flush"
    );
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
                        policies,
                    },
            } => create_platform(
                data,
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
            Command::Verify { data } => tokio::task::block_in_place(|| verify(data)),
            Command::Policy { command } => policy_command(command).await,
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
