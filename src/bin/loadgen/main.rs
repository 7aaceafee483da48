//! The load generator: drives a tollgate server with N concurrent connections for D
//! seconds on a mix of operations (destination charges priced by the policy, batches,
//! refunds of earlier charges, transfers, balance and list reads), checks every answer's
//! body, and reports per operation requests/s and p50/p99/p99.9 beside a `{ __typename }`
//! baseline, the store-only commit rate and its own CPU use, as text or JSON. `loadgen
//! scale` builds a large store through the API and measures it (see `scale.rs`).

/// mimalloc: the server allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cpu;
mod drive;
mod ops;
mod scale;
mod stats;
mod store_only;
mod target;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use drive::Load;
use ops::{Mix, Operation};
use stats::Measured;
use target::Target;
use tollgate::store::postgres::scratch::ScratchDatabase;
use tollgate::store::StoreUrl;

/// Threads of the client's own runtime carry this name, so their CPU time can be read.
pub const CLIENT_THREAD_NAME: &str = "loadgen-client";
/// The client's runtime threads.
const CLIENT_THREADS: usize = 2;

#[derive(Parser, Debug)]
#[command(about = "Drive a tollgate server and report throughput and latency")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunOptions,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a store of many charges over many accounts through the API, then measure it.
    Scale(scale::ScaleOptions),
}

#[derive(clap::Args, Debug)]
struct RunOptions {
    /// The server's /graphql URL; without it an in-process server over a temporary data
    /// directory is started.
    #[arg(long)]
    url: Option<String>,
    /// A platform secret key (required with --url).
    #[arg(long)]
    key: Option<String>,
    /// Weighted operations: typename, topup, charge, batch, refund, transfer, balance, list,
    /// read (balance and list), e.g. charge=70,refund=10,transfer=10,read=10.
    #[arg(long, default_value = "charge")]
    mix: Mix,
    /// One operation alone (the same as --mix OPERATION).
    #[arg(long)]
    operation: Option<Mix>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Send exactly this many requests of the mix (over all connections), however long they
    /// take, instead of running for --seconds: with `valgrind --tool=callgrind`, two runs of
    /// different counts give the instructions one request costs.
    #[arg(long)]
    requests: Option<u64>,
    /// Connected accounts the charges, transfers and reads are spread over.
    #[arg(long, default_value_t = 16)]
    accounts: usize,
    /// Charges per `createCharges` request of the batch operation.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Skip the `{ __typename }` baseline and the store-only measurement.
    #[arg(long)]
    only: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Where the in-process server keeps its data (a new temporary directory otherwise).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The policies folder; the load platform uses marketplace.rhai.
    #[arg(long, default_value = "./policies")]
    policies: PathBuf,
    /// The in-process server's page cache in MiB.
    #[arg(long, default_value_t = tollgate::config::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// The in-process server appends its events to the event feed, as with several servers.
    #[arg(long)]
    event_feed: bool,
    /// The in-process server's store: postgres://USER@HOST:PORT/DATABASE (a new database,
    /// dropped after the run, when the URL names none), or sled:PATH; sled in a temporary
    /// directory without it.
    #[arg(long)]
    store: Option<StoreUrl>,
}

/// The machine a figure was measured on.
pub fn machine() -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_default();
    json!({
        "cores": std::thread::available_parallelism().map_or(1, usize::from),
        "cpu_model": cpu_model,
        "load_average_1m": cpu::load_average(),
    })
}

/// A data directory for an in-process server: the given one, or a new temporary one.
pub fn data_dir(given: Option<PathBuf>, purpose: &str) -> Result<PathBuf, String> {
    let base = given.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tollgate-{purpose}-{}", drive::run_nonce()))
    });
    std::fs::create_dir_all(&base).map_err(|error| error.to_string())?;
    Ok(base.join("data"))
}

async fn run(options: RunOptions, client_runtime: tokio::runtime::Handle) -> Result<(), String> {
    let mix = options.operation.clone().unwrap_or(options.mix.clone());
    let mut temporary = None;
    let mut scratch = None;
    let target = match (&options.url, &options.key) {
        (Some(url), Some(key)) => Target::remote(url.clone(), key.clone()),
        (Some(_), None) => return Err("--url needs --key".into()),
        _ => {
            let data = data_dir(options.data.clone(), "loadgen")?;
            temporary = Some(data.clone());
            let (store, database) = run_store(options.store.clone())?;
            scratch = database;
            if let Some(store) = &store {
                println!("store: {store:?}");
            }
            Target::start(tollgate::config::Settings {
                event_feed: options.event_feed,
                ..target::load_settings(data, store, options.policies.clone(), options.cache_mb)
            })
            .await?
        }
    };
    let nonce = drive::run_nonce();
    let setup = reqwest::Client::new();
    let needs_accounts = mix
        .operations()
        .iter()
        .any(|operation| !matches!(operation, Operation::Typename | Operation::Topup));
    let accounts = if needs_accounts {
        target::onboard(&setup, &target.url, &target.key, options.accounts.max(1)).await?
    } else {
        Vec::new()
    };
    if mix.contains(Operation::Transfer) {
        target::fund_platform(&setup, &target.url, &target.key, &nonce).await?;
    }
    let refundable = if mix.contains(Operation::Refund) {
        let count = (options.connections * 8).max(512);
        target::seed_charges(&setup, &target.url, &target.key, &accounts, count, &nonce).await?
    } else {
        Vec::new()
    };
    let load = |mix: Mix, refundable: Vec<String>| {
        Arc::new(Load {
            url: target.url.clone(),
            key: target.key.clone(),
            mix,
            connections: options.connections,
            duration: match options.requests {
                Some(_) => Duration::MAX,
                None => Duration::from_secs(options.seconds),
            },
            requests: options.requests,
            accounts: accounts.clone(),
            batch_size: options.batch_size.clamp(1, 100),
            nonce: drive::run_nonce(),
            refundable: Mutex::new(refundable),
            sequence: AtomicU64::new(0),
        })
    };
    let load_before = cpu::load_average();
    let client_before = cpu::thread_cpu_seconds(CLIENT_THREAD_NAME);
    let process_before = cpu::thread_cpu_seconds("");
    let main_load = load(mix.clone(), refundable);
    let measured = client_runtime
        .spawn(async move { drive::drive(main_load, "mix over HTTP").await })
        .await
        .map_err(|error| error.to_string())?;
    let client_cpu = cpu::thread_cpu_seconds(CLIENT_THREAD_NAME)
        .zip(client_before)
        .map(|(after, before)| after - before);
    let process_cpu = cpu::thread_cpu_seconds("")
        .zip(process_before)
        .map(|(after, before)| after - before);
    let seconds = measured.elapsed.as_secs_f64();
    let loadgen = json!({
        "client_cpu_seconds": client_cpu,
        "process_cpu_seconds": process_cpu,
        "client_cores_used": client_cpu.map(|cpu| cpu / seconds),
        "client_share_of_process_cpu": client_cpu.zip(process_cpu).map(|(client, all)| client / all.max(f64::EPSILON)),
    });
    let mut report = json!({
        "machine": machine(),
        "load_average_before": load_before,
        "connections": options.connections,
        "seconds": options.seconds,
        "accounts": accounts.len(),
        "run": measured.to_json(),
        "loadgen": loadgen,
    });
    if !options.json {
        measured.print();
        println!("loadgen: {loadgen}");
    }
    if !options.only {
        let baseline_load = load(Mix::only(Operation::Typename), Vec::new());
        let baseline = client_runtime
            .spawn(async move { drive::drive(baseline_load, "{ __typename } baseline").await })
            .await
            .map_err(|error| error.to_string())?;
        report["baseline"] = baseline.to_json();
        if !options.json {
            baseline.print();
        }
        if let Some((services, platform)) = &target.local {
            let store = store_only::run(
                services.clone(),
                platform.clone(),
                options.connections,
                options.seconds,
            )
            .await;
            report["store_only"] = store.to_json();
            report["ratios"] = ratios(&measured, &baseline, &store);
            if !options.json {
                store.print();
                println!("ratios: {}", report["ratios"]);
            }
        }
    }
    report["load_average_after"] = json!(cpu::load_average());
    if options.json {
        println!("{report:#}");
    }
    target.stop().await;
    drop(scratch);
    // A temporary data directory goes with the run; one given with --data stays.
    if let (None, Some(data)) = (&options.data, &temporary) {
        let _ = std::fs::remove_dir_all(data.parent().unwrap_or(data));
    }
    if measured.errors() > 0 {
        return Err(format!("{} requests failed", measured.errors()));
    }
    Ok(())
}

/// The store `--store` names; a PostgreSQL server without a database gets a new one for
/// the run, returned so it is dropped when the run ends.
fn run_store(
    store: Option<StoreUrl>,
) -> Result<(Option<StoreUrl>, Option<ScratchDatabase>), String> {
    match store {
        Some(StoreUrl::Postgres(server)) if server.database().is_none() => {
            let database = ScratchDatabase::create(&server).map_err(|error| error.to_string())?;
            let url = database.url().clone();
            Ok((Some(StoreUrl::Postgres(url)), Some(database)))
        }
        other => Ok((other, None)),
    }
}

/// The run's requests/s and charges/s against the baseline's and the store-only rate.
fn ratios(measured: &Measured, baseline: &Measured, store: &Measured) -> Value {
    let charges_per_second: f64 = ["charge", "batch"]
        .iter()
        .filter_map(|name| measured.operations.get(*name))
        .map(|stats| {
            stats.latencies_micros.len() as f64 * stats.items_per_request.max(1) as f64
                / measured.elapsed.as_secs_f64()
        })
        .sum();
    json!({
        "requests_vs_typename": measured.rate() / baseline.rate().max(1.0),
        "requests_vs_store_only": measured.rate() / store.rate().max(1.0),
        "charges_per_second": charges_per_second,
        "charges_vs_store_only": charges_per_second / store.rate().max(1.0),
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_THREADS)
        .thread_name(CLIENT_THREAD_NAME)
        .enable_all()
        .build();
    let (server_runtime, client_runtime) = match (server_runtime, client_runtime) {
        (Ok(server), Ok(client)) => (server, client),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("loadgen: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client = client_runtime.handle().clone();
    let outcome = match cli.command {
        Some(Command::Scale(options)) => server_runtime.block_on(scale::run(options, client)),
        None => server_runtime.block_on(run(cli.run, client)),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
