//! The load generator: drives a tollgate server with N concurrent HTTP connections for D
//! seconds on one operation, checks every response for errors, and prints requests/s,
//! p50/p99 latency and the error count, beside a `{ __typename }` baseline and the
//! store-only commit rate (the writer alone) measured in the same run.

/// mimalloc: the server allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use tollgate::app::Application;
use tollgate::config::{Limits, Settings};
use tollgate::ids::TopupId;
use tollgate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, Holder, LineSpec};
use tollgate::money::{Currency, MinorUnits};
use tollgate::service::platforms::NewPlatform;
use tollgate::service::{Draft, Services};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Operation {
    /// `createTopup` with a unique idempotency key per request.
    Topup,
    /// `{ __typename }` only.
    Typename,
    /// `createCharge` with a destination, priced by the platform's policy.
    Charge,
}

#[derive(Parser, Debug)]
#[command(about = "Drive a tollgate server and report throughput and latency")]
struct Options {
    /// The server's /graphql URL; without it an in-process server over a temporary data
    /// directory is started.
    #[arg(long)]
    url: Option<String>,
    /// A platform secret key (required with --url).
    #[arg(long)]
    key: Option<String>,
    #[arg(long, value_enum, default_value = "topup")]
    operation: Operation,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Skip the `{ __typename }` baseline and the store-only measurement.
    #[arg(long)]
    only: bool,
    /// Where the in-process server (and the store-only run) keep their data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The policies folder; the load platform uses marketplace.rhai.
    #[arg(long, default_value = "./policies")]
    policies: PathBuf,
}

/// The outcome of one timed run.
struct Measured {
    label: String,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies_micros: Vec<u64>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_millis(&self, percentile: f64) -> f64 {
        if self.latencies_micros.is_empty() {
            return 0.0;
        }
        let rank = ((self.latencies_micros.len() - 1) as f64 * percentile).round() as usize;
        self.latencies_micros[rank.min(self.latencies_micros.len() - 1)] as f64 / 1000.0
    }

    fn print(&self) {
        println!(
            "{:<28} {:>10.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {}   ({} requests in {:.1} s)",
            self.label,
            self.rate(),
            self.percentile_millis(0.50),
            self.percentile_millis(0.99),
            self.errors,
            self.requests,
            self.elapsed.as_secs_f64()
        );
    }
}

const TOPUP: &str = "mutation($key: String!) { createTopup(input: {amount: 1000, currency: \"usd\", idempotencyKey: $key}) { id } }";
const TYPENAME: &str = "{ __typename }";

const CHARGE: &str = "mutation($key: String!, $destination: ID!) { createCharge(input: {amount: 10000, currency: \"usd\", paymentMethod: \"pm_card_visa\", transferData: {destination: $destination}, metadata: {category: \"books\"}, idempotencyKey: $key}) { id } }";

fn body_for(operation: Operation, sequence: u64, run: u64, destination: &str) -> Value {
    let key = format!("load-{run}-{sequence}");
    match operation {
        Operation::Topup => json!({"query": TOPUP, "variables": {"key": key}}),
        Operation::Typename => json!({"query": TYPENAME}),
        Operation::Charge => {
            json!({"query": CHARGE, "variables": {"key": key, "destination": destination}})
        }
    }
}

/// A Custom account with CARD_PAYMENTS and TRANSFERS active, made through the API.
async fn onboarded_account(
    client: &reqwest::Client,
    url: &str,
    key: &str,
) -> Result<String, String> {
    let call = |query: &'static str, variables: Value| {
        let request = client
            .post(url)
            .bearer_auth(key)
            .json(&json!({"query": query, "variables": variables}));
        async move {
            let body: Value = request
                .send()
                .await
                .map_err(|error| error.to_string())?
                .json()
                .await
                .map_err(|error| error.to_string())?;
            if body.get("errors").is_some() {
                return Err(format!("setup failed: {body}"));
            }
            Ok(body)
        }
    };
    let created = call(
        "mutation { createAccount(input: {type: CUSTOM, country: \"US\", businessType: INDIVIDUAL}) { id } }",
        json!({}),
    )
    .await?;
    let account = created["data"]["createAccount"]["id"]
        .as_str()
        .ok_or("no account id")?
        .to_owned();
    call(
        "mutation($a: ID!) { submitAccountDetails(input: {account: $a, individual: {firstName: \"Load\", lastName: \"Test\", dobDay: 1, dobMonth: 1, dobYear: 1990, ssnLast4: \"0000\", address: {line1: \"1 Main St\", city: \"Springfield\", postalCode: \"12345\"}}, businessUrl: \"https://load.example\", mcc: \"5734\", tosAcceptance: true}) { id } }",
        json!({"a": account}),
    )
    .await?;
    call(
        "mutation($a: ID!) { addBankAccount(input: {account: $a, country: \"US\", currency: \"usd\", routingNumber: \"110000000\", accountNumber: \"000123456789\"}) { id } }",
        json!({"a": account}),
    )
    .await?;
    Ok(account)
}

async fn drive(
    url: &str,
    key: &str,
    destination: &str,
    operation: Operation,
    connections: usize,
    seconds: u64,
) -> Measured {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap_or_default();
    let sequence = Arc::new(AtomicU64::new(0));
    let run = rand::random::<u32>() as u64;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, sequence, url, key, destination) = (
            client.clone(),
            sequence.clone(),
            url.to_owned(),
            key.to_owned(),
            destination.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let body = body_for(
                    operation,
                    sequence.fetch_add(1, Ordering::Relaxed),
                    run,
                    &destination,
                );
                let sent = Instant::now();
                let response = client.post(&url).bearer_auth(&key).json(&body).send().await;
                let ok = match response {
                    Ok(response) => match response.json::<Value>().await {
                        Ok(value) => value.get("errors").is_none() && value.get("data").is_some(),
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                latencies.push(sent.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    collect(
        format!("{operation:?} over HTTP").to_lowercase(),
        started,
        tasks,
    )
    .await
}

/// Each task's latencies and error count, merged into one measurement.
type TaskResult = (Vec<u64>, u64);

async fn collect(
    label: String,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<TaskResult>>,
) -> Measured {
    let mut latencies_micros = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((latencies, task_errors)) = task.await {
            latencies_micros.extend(latencies);
            errors += task_errors;
        }
    }
    let elapsed = started.elapsed();
    latencies_micros.sort_unstable();
    Measured {
        label,
        requests: latencies_micros.len() as u64,
        errors,
        elapsed,
        latencies_micros,
    }
}

/// Commits of the same shape as a top-up (an entry, its balance transaction, the object,
/// an event, indexes and a release timer) straight to the writer: no HTTP, no GraphQL.
async fn store_only(
    services: Arc<Services>,
    platform: &str,
    connections: usize,
    seconds: u64,
) -> Measured {
    let platform_id = match tollgate::ids::PlatformId::parse(platform) {
        Ok(id) => id,
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::exit(2);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (services, platform_id) = (services.clone(), platform_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let Ok(usd) = Currency::parse("usd") else {
                return (latencies, 1);
            };
            let Ok(amount) = MinorUnits::positive_amount(1000) else {
                return (latencies, 1);
            };
            while Instant::now() < deadline {
                let sent = Instant::now();
                let now = services.clock.now(&platform_id);
                let id: TopupId = services.ids.next();
                let mut entry = EntryBuilder::new(
                    &services.ids,
                    &platform_id,
                    EntryKind::Topup,
                    id.as_ref(),
                    now,
                );
                let line = entry.line(LineSpec {
                    holder: Holder::Platform(platform_id.clone()),
                    transaction_type: BalanceTransactionType::Topup,
                    source_id: id.to_string(),
                    currency: usd,
                    amount,
                    fee_details: Vec::new(),
                    available_on: Some(now + chrono::Duration::days(2)),
                    description: None,
                });
                entry.system(Holder::Bank, usd, -amount);
                let mut draft = Draft::new(&platform_id, now);
                let built = line.is_ok()
                    && entry
                        .build()
                        .ok()
                        .and_then(|entry| draft.entry(entry).ok())
                        .and_then(|()| {
                            draft
                                .insert(id.as_ref(), &json!({"id": id.to_string()}), &[])
                                .ok()
                        })
                        .and_then(|()| {
                            draft
                                .event(
                                    &services.ids,
                                    "topup.created",
                                    None,
                                    &json!({"id": id.to_string()}),
                                )
                                .ok()
                        })
                        .is_some();
                let ok = built && services.store.commit(draft.commit).await.is_ok();
                latencies.push(sent.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    collect("store-only commits".into(), started, tasks).await
}

async fn run(options: Options) -> Result<(), String> {
    let temp = tempfile_dir(options.data.clone())?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse().map_err(|_| "address")?,
        simulated_clock: true,
        // One key drives thousands of requests a second: the per-key rate limits are off.
        limits: Limits {
            reads_per_second: 0,
            writes_per_second: 0,
            ..Limits::default()
        },
        ..Settings::new(temp.join("data"), options.policies.clone())
    };
    let application = Application::build(settings).map_err(|error| error.to_string())?;
    let services = application.services.clone();
    let created = services
        .create_platform(NewPlatform {
            name: "Load".into(),
            country: "US".into(),
            default_currency: Some("usd".into()),
            policy: Some("marketplace".into()),
        })
        .await
        .map_err(|error| error.to_string())?;
    let (url, key, server) = match (&options.url, &options.key) {
        (Some(url), Some(key)) => (url.clone(), key.clone(), None),
        (Some(_), None) => return Err("--url needs --key".into()),
        _ => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|error| error.to_string())?;
            let address = listener.local_addr().map_err(|error| error.to_string())?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(application.serve(listener, None, async move {
                let _ = stopped.await;
            }));
            (
                format!("http://{address}/graphql"),
                created.secret_key.clone(),
                Some((stop, server)),
            )
        }
    };
    println!(
        "tollgate loadgen: {:?}, {} connections, {} s per run, {} cores",
        options.operation,
        options.connections,
        options.seconds,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let destination = match options.operation {
        Operation::Charge => onboarded_account(&reqwest::Client::new(), &url, &key).await?,
        _ => String::new(),
    };
    let measured = drive(
        &url,
        &key,
        &destination,
        options.operation,
        options.connections,
        options.seconds,
    )
    .await;
    measured.print();
    if !options.only {
        let baseline = drive(
            &url,
            &key,
            "",
            Operation::Typename,
            options.connections,
            options.seconds,
        )
        .await;
        baseline.print();
        let store = store_only(
            services.clone(),
            &created.id,
            options.connections,
            options.seconds,
        )
        .await;
        store.print();
        println!(
            "ratios: {:?} / typename = {:.2}   {:?} / store-only = {:.2}",
            options.operation,
            measured.rate() / baseline.rate().max(1.0),
            options.operation,
            measured.rate() / store.rate().max(1.0)
        );
    }
    drop(services);
    if let Some((stop, server)) = server {
        let _ = stop.send(());
        let _ = server.await;
    }
    if measured.errors > 0 {
        return Err(format!("{} requests failed", measured.errors));
    }
    Ok(())
}

fn tempfile_dir(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let base = given.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tollgate-loadgen-{}", std::process::id()))
    });
    std::fs::create_dir_all(&base).map_err(|error| error.to_string())?;
    Ok(base)
}

fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
