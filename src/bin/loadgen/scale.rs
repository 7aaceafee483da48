//! `loadgen scale`: builds a store of many destination charges over many connected accounts
//! through the API (batches of `createCharges`, so through the services and the writer),
//! then measures what size does to it: single-charge throughput empty and full, balance
//! latency, the first and last page of the largest account's balance transactions,
//! `tollgate verify` time, startup time, RSS and disk bytes per charge.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drive::{self, Load};
use crate::ops::{self, Mix, Operation};
use crate::stats::{percentile_millis, Measured};
use crate::target::{self, Target};

/// Charges per `createCharges` request while building.
const BUILD_BATCH_SIZE: usize = 100;
/// How many times each page is read for its latency.
const PAGE_READS: usize = 200;
/// The page size of the balance-transaction reads.
const PAGE_SIZE: usize = 100;
/// How long a restarted server may take to answer /readyz.
const MAX_STARTUP_SECONDS: u64 = 300;

#[derive(clap::Args, Debug)]
pub struct ScaleOptions {
    #[arg(long, default_value_t = 1_000_000)]
    charges: usize,
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Concurrent requests while building and measuring.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of each single-charge and balance measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Where to build the store (a new temporary directory otherwise).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value = "./policies")]
    policies: PathBuf,
    /// The servers' page cache in MiB (the building one and the restarted one).
    #[arg(long, default_value_t = tollgate::config::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// Keep the data directory afterwards.
    #[arg(long)]
    keep: bool,
    /// Print only the JSON report, without progress lines.
    #[arg(long)]
    json: bool,
}

pub async fn run(
    options: ScaleOptions,
    client_runtime: tokio::runtime::Handle,
) -> Result<(), String> {
    let data = crate::data_dir(options.data.clone(), "scale")?;
    let mut report = json!({"machine": crate::machine(), "charges": options.charges, "accounts": options.accounts});
    let target = Target::start(target::load_settings(
        data.clone(),
        None,
        options.policies.clone(),
        options.cache_mb,
    ))
    .await?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let accounts =
        target::onboard(&client, &target.url, &target.key, options.accounts.max(1)).await?;
    report["onboarding_seconds"] = json!(started.elapsed().as_secs_f64());
    progress(
        &options,
        &format!(
            "{} accounts onboarded in {:.1} s",
            accounts.len(),
            started.elapsed().as_secs_f64()
        ),
    );

    let empty = single_charges(
        &target.url,
        &target.key,
        &accounts,
        &options,
        &client_runtime,
    )
    .await?;
    report["single_charges_empty"] = empty.to_json();
    progress(
        &options,
        &format!("single charges, empty store: {:.0}/s", empty.rate()),
    );

    let built = build(&target, &accounts, &options, &client_runtime).await?;
    report["build"] = built;
    progress(&options, &format!("built: {}", report["build"]));

    let full = single_charges(
        &target.url,
        &target.key,
        &accounts,
        &options,
        &client_runtime,
    )
    .await?;
    report["single_charges_full"] = full.to_json();
    report["single_charges_full_vs_empty"] = json!(full.rate() / empty.rate().max(1.0));
    report["rss_mib_after_build"] =
        json!(rss_kib(std::process::id()).map(|kib| kib as f64 / 1024.0));
    let key = target.key.clone();
    target.stop().await;

    let disk = directory_bytes(&data);
    report["disk_bytes"] = json!(disk);
    report["disk_bytes_per_charge"] = json!(disk as f64 / options.charges.max(1) as f64);

    let tollgate = tollgate_binary()?;
    let verify_started = Instant::now();
    let verified = Command::new(&tollgate)
        .arg("verify")
        .arg("--data")
        .arg(&data)
        .output()
        .map_err(|error| format!("tollgate verify: {error}"))?;
    report["verify_seconds"] = json!(verify_started.elapsed().as_secs_f64());
    report["verify_passed"] = json!(verified.status.success());
    progress(
        &options,
        &format!(
            "verify: {} in {:.1} s",
            verified.status,
            verify_started.elapsed().as_secs_f64()
        ),
    );

    let served = restarted(
        &tollgate,
        &data,
        &options,
        &key,
        &accounts,
        &client_runtime,
        &mut report,
    )
    .await;
    if !options.keep {
        let _ = std::fs::remove_dir_all(data.parent().unwrap_or(&data));
    }
    served?;
    // The report is JSON either way; --json only silences the progress lines.
    println!("{report:#}");
    if report["verify_passed"] != json!(true) {
        return Err(format!(
            "tollgate verify failed: {}",
            String::from_utf8_lossy(&verified.stdout)
        ));
    }
    Ok(())
}

fn progress(options: &ScaleOptions, line: &str) {
    if !options.json {
        eprintln!("scale: {line}");
    }
}

/// Single destination charges for `--seconds`.
async fn single_charges(
    url: &str,
    key: &str,
    accounts: &[String],
    options: &ScaleOptions,
    client_runtime: &tokio::runtime::Handle,
) -> Result<Measured, String> {
    timed(
        url,
        key,
        accounts,
        Mix::only(Operation::Charge),
        options,
        client_runtime,
    )
    .await
}

async fn timed(
    url: &str,
    key: &str,
    accounts: &[String],
    mix: Mix,
    options: &ScaleOptions,
    client_runtime: &tokio::runtime::Handle,
) -> Result<Measured, String> {
    let load = Arc::new(Load {
        url: url.to_owned(),
        key: key.to_owned(),
        mix,
        connections: options.connections,
        duration: Duration::from_secs(options.seconds),
        accounts: accounts.to_vec(),
        batch_size: 1,
        nonce: drive::run_nonce(),
        refundable: Mutex::new(Vec::new()),
        sequence: AtomicU64::new(0),
        requests: None,
    });
    let measured = client_runtime
        .spawn(async move { drive::drive(load, "timed").await })
        .await
        .map_err(|error| error.to_string())?;
    if measured.errors() > 0 {
        return Err(format!(
            "{} requests failed: {}",
            measured.errors(),
            measured.to_json()
        ));
    }
    Ok(measured)
}

/// Builds `--charges` charges in batches; every batch also charges the first account, so it
/// holds the most balance transactions.
/// How often a batch of the build is sent before the run gives up: a batch that timed out
/// on a busy machine is sent again with the same idempotency keys.
const BUILD_ATTEMPTS: usize = 5;

async fn build(
    target: &Target,
    accounts: &[String],
    options: &ScaleOptions,
    client_runtime: &tokio::runtime::Handle,
) -> Result<Value, String> {
    let batches = options.charges.div_ceil(BUILD_BATCH_SIZE);
    let next = Arc::new(AtomicUsize::new(0));
    let accounts = Arc::new(accounts.to_vec());
    let nonce = drive::run_nonce();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        let (next, accounts, nonce, client) = (
            next.clone(),
            accounts.clone(),
            nonce.clone(),
            client.clone(),
        );
        let (url, key, total, json_output) = (
            target.url.clone(),
            target.key.clone(),
            options.charges,
            options.json,
        );
        tasks.push(client_runtime.spawn(async move {
            let mut done = Vec::new();
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<_, String>(done);
                }
                let size = BUILD_BATCH_SIZE.min(total - batch * BUILD_BATCH_SIZE);
                let inputs: Vec<Value> = (0..size)
                    .map(|index| {
                        let destination = if index == 0 {
                            &accounts[0]
                        } else {
                            &accounts[(batch * BUILD_BATCH_SIZE + index) % accounts.len()]
                        };
                        ops::charge_input(&format!("{nonce}-{batch}-{index}"), destination)
                    })
                    .collect();
                let sent = Instant::now();
                let body = target::call_idempotent(
                    &client,
                    &url,
                    &key,
                    ops::BATCH,
                    json!({"inputs": inputs}),
                    BUILD_ATTEMPTS,
                )
                .await?;
                let results = body["data"]["createCharges"]
                    .as_array()
                    .ok_or("no results")?;
                if results.len() != size
                    || results.iter().any(|result| {
                        !result["error"].is_null() || result["charge"]["status"] != "SUCCEEDED"
                    })
                {
                    return Err(format!("a batch failed: {body}"));
                }
                done.push((
                    started.elapsed().as_secs_f64(),
                    sent.elapsed().as_micros() as u64,
                    size,
                ));
                if !json_output && batch % (batches / 20).max(1) == 0 {
                    eprintln!(
                        "scale: {} of {} charges, {:.0} s",
                        batch * BUILD_BATCH_SIZE,
                        total,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await.map_err(|error| error.to_string())??);
    }
    let seconds = started.elapsed().as_secs_f64();
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut latencies: Vec<u64> = done.iter().map(|(_, micros, _)| *micros).collect();
    latencies.sort_unstable();
    let tenth = (done.len() / 10).max(1);
    let window_rate = |from: usize, to: usize| {
        let charges: usize = done[from..=to].iter().map(|(_, _, size)| size).sum();
        let start = if from == 0 { 0.0 } else { done[from - 1].0 };
        charges as f64 / (done[to].0 - start).max(f64::EPSILON)
    };
    let last = done.len().saturating_sub(1);
    Ok(json!({
        "seconds": seconds,
        "charges_per_second": options.charges as f64 / seconds,
        "first_tenth_charges_per_second": window_rate(0, tenth - 1),
        "last_tenth_charges_per_second": window_rate(last + 1 - tenth, last),
        "batch_p50_ms": percentile_millis(&latencies, 0.50),
        "batch_p99_ms": percentile_millis(&latencies, 0.99),
        "largest_account": accounts[0],
    }))
}

/// Restarts the store as its own `tollgate serve` process: its startup time, balance and
/// page latencies, and its RSS.
async fn restarted(
    tollgate: &Path,
    data: &Path,
    options: &ScaleOptions,
    key: &str,
    accounts: &[String],
    client_runtime: &tokio::runtime::Handle,
    report: &mut Value,
) -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|error| error.to_string())?
        .port();
    let started = Instant::now();
    let mut child = Command::new(tollgate)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--policies")
        .arg(&options.policies)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--simulated-clock",
        ])
        .args(["--reads-per-second", "0", "--writes-per-second", "0"])
        .args(["--cache-mb", &options.cache_mb.to_string()])
        .stdout(Stdio::null())
        .stderr(server_log(data))
        .spawn()
        .map_err(|error| format!("tollgate serve: {error}"))?;
    let measured = async {
        let client = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{port}/readyz");
        loop {
            if client
                .get(&ready)
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(MAX_STARTUP_SECONDS) {
                return Err("the restarted server never became ready".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        report["startup_seconds"] = json!(started.elapsed().as_secs_f64());
        let url = format!("http://127.0.0.1:{port}/graphql");
        let balances = timed(
            &url,
            key,
            accounts,
            Mix::only(Operation::Balance),
            options,
            client_runtime,
        )
        .await?;
        report["balance"] = balances.to_json();
        report["pages"] = pages(&client, &url, key, &accounts[0]).await?;
        report["rss_mib_served"] = json!(rss_kib(child.id()).map(|kib| kib as f64 / 1024.0));
        Ok(())
    }
    .await;
    // Our own child, stopped by its handle.
    let _ = child.kill();
    let _ = child.wait();
    measured
}

/// How often one page of the walk through every page is asked for before the run fails.
const WALK_ATTEMPTS: usize = 3;

const PAGE: &str = "query($account: ID!, $after: String) { balanceTransactions(first: 100, after: $after, account: $account) { nodes { id amount { amount } } pageInfo { endCursor hasNextPage } } }";

/// The first and the last page of an account's balance transactions, each read
/// `PAGE_READS` times.
async fn pages(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    account: &str,
) -> Result<Value, String> {
    // The cursor the walk read its latest page after; at the end, the last page's.
    let mut after: Option<String> = None;
    let mut count = 0usize;
    let mut page_count = 0usize;
    let mut walk_micros = Vec::new();
    let mut walk_failures = Vec::new();
    loop {
        let sent = Instant::now();
        let mut answer = Err(String::new());
        // A page that fails (a read past the request deadline on a cold cache) is asked for
        // again and reported, rather than ending the run.
        for _ in 0..WALK_ATTEMPTS {
            answer = target::call(
                client,
                url,
                key,
                PAGE,
                json!({"account": account, "after": after}),
            )
            .await;
            match &answer {
                Ok(_) => break,
                Err(failure) => walk_failures.push(json!({
                    "page": page_count + 1,
                    "after_ms": sent.elapsed().as_secs_f64() * 1000.0,
                    "failure": failure,
                })),
            }
        }
        let body = answer?;
        walk_micros.push(sent.elapsed().as_micros() as u64);
        let connection = &body["data"]["balanceTransactions"];
        count += connection["nodes"].as_array().map_or(0, Vec::len);
        page_count += 1;
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let last_after = after;
    walk_micros.sort_unstable();
    let timed_page = |after: Option<String>| async move {
        let mut latencies = Vec::with_capacity(PAGE_READS);
        for _ in 0..PAGE_READS {
            let sent = Instant::now();
            let body = target::call(
                client,
                url,
                key,
                PAGE,
                json!({"account": account, "after": after}),
            )
            .await?;
            latencies.push(sent.elapsed().as_micros() as u64);
            if body["data"]["balanceTransactions"]["nodes"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                return Err(format!("an empty page: {body}"));
            }
        }
        latencies.sort_unstable();
        Ok::<_, String>(
            json!({"p50_ms": percentile_millis(&latencies, 0.5), "p99_ms": percentile_millis(&latencies, 0.99)}),
        )
    };
    Ok(json!({
        "account": account,
        "page_size": PAGE_SIZE,
        "balance_transactions": count,
        "pages": page_count,
        "walk": {
            "p50_ms": percentile_millis(&walk_micros, 0.5),
            "p99_ms": percentile_millis(&walk_micros, 0.99),
            "max_ms": percentile_millis(&walk_micros, 1.0),
            "failures": walk_failures,
        },
        "first": timed_page(None).await?,
        "last": timed_page(last_after).await?,
    }))
}

/// Where the restarted server's log goes: `serve.log` beside the data directory (kept with
/// `--keep`), or nowhere when it cannot be made.
fn server_log(data: &Path) -> Stdio {
    let path = data.with_file_name("serve.log");
    std::fs::File::create(path).map_or_else(|_| Stdio::null(), Stdio::from)
}

fn tollgate_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|error| error.to_string())?;
    let binary = me.with_file_name("tollgate");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!("no tollgate binary beside {}", me.display()))
    }
}

/// The resident set of a process, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The bytes of every file under `path`.
fn directory_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => directory_bytes(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}
