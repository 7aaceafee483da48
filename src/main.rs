//! The `tollgate` command line: serve, platform create, verify, policy, schema, webhook
//! verify, listen and trigger.

/// mimalloc: the server allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use tollgate::app::Application;
use tollgate::config::Settings;
use tollgate::service::platforms::NewPlatform;

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

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, env = "TOLLGATE_DATA", default_value = "./data")]
    data: PathBuf,
    #[arg(long, env = "TOLLGATE_POLICIES", default_value = "./policies")]
    policies: PathBuf,
    /// Business time moves only with the advanceClock mutation.
    #[arg(long, env = "TOLLGATE_SIMULATED_CLOCK")]
    simulated_clock: bool,
    /// Create (once) a demo platform with a little data, and pre-fill its key in GraphiQL.
    /// Also allows webhooks to private addresses.
    #[arg(long, env = "TOLLGATE_DEMO")]
    demo: bool,
    /// Let webhooks reach loopback and private addresses (local development only).
    #[arg(long, env = "TOLLGATE_WEBHOOKS_ALLOW_PRIVATE")]
    webhooks_allow_private: bool,
    /// A PEM file of extra CA certificates trusted for https webhook endpoints.
    #[arg(long, env = "TOLLGATE_WEBHOOKS_EXTRA_CA")]
    webhooks_extra_ca: Option<PathBuf>,
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
}

fn policy_command(command: PolicyCommand) -> Result<bool, String> {
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
    }
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
        webhooks_allow_private: args.webhooks_allow_private || args.demo,
        webhooks_extra_ca: args.webhooks_extra_ca,
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
    store.close();
    writer.join();
    let report = report.map_err(|error| error.to_string())?;
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
            Command::Policy { command } => policy_command(command),
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
