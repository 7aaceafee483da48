//! One platform's slow policy does not slow another platform: hooks run on the policy
//! threads with one call per platform at a time, never on the async runtime's threads.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, spawn_app_with_policies, TestApp};
use tollgate::service::platforms::NewPlatform;

/// Runs until the 50 ms time budget stops it: each sort is one Rhai operation, so the
/// operation limit is never what ends it.
const SLOW_POLICY: &str = "fn hold_days(charge) {
    let values = [];
    for i in 0..1000 { values.push(1000 - i); }
    loop { values.sort(); values.reverse(); }
}
";

/// Concurrent clients charging the slow platform.
const SLOW_CLIENTS: usize = 8;
/// Charges timed on the other platform, one after another.
const MEASURED_CHARGES: usize = 200;
/// The slow policy's hooks each hold a policy thread for the whole time budget.
const SLOW_HOOK: Duration = Duration::from_millis(tollgate::policy::CALL_TIME_BUDGET_MS);

const CHARGE: &str = "mutation { createCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\"}) { id } }";

fn policies() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp policies");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in ["gateway.rhai", "gateway.test.rhai", "default.rhai"] {
        std::fs::copy(shipped.join(name), folder.path().join(name)).expect("copy policy");
    }
    std::fs::write(folder.path().join("slow.rhai"), SLOW_POLICY).expect("write policy");
    folder
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let index = (sorted.len() * percent).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

/// Times `MEASURED_CHARGES` charges of the app's own platform; returns them sorted.
async fn time_charges(app: &TestApp) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(MEASURED_CHARGES);
    for _ in 0..MEASURED_CHARGES {
        let started = Instant::now();
        let body = app.graphql(CHARGE, json!({})).await;
        latencies.push(started.elapsed());
        assert_no_errors(&body);
    }
    latencies.sort();
    latencies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_at_its_time_budget_does_not_slow_another_platform() {
    let folder = policies();
    let app = spawn_app_with_policies(folder.path().to_path_buf(), "default").await;
    let slow = app
        .services
        .create_platform(NewPlatform {
            name: "Slow Platform".into(),
            country: "US".into(),
            default_currency: Some("usd".into()),
            policy: Some("slow".into()),
        })
        .await
        .expect("slow platform");

    let unloaded = time_charges(&app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let slow_answers = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        let (client, url, key) = (app.client.clone(), app.url(), slow.secret_key.clone());
        let (stop, slow_answers) = (Arc::clone(&stop), Arc::clone(&slow_answers));
        clients.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let body: Value = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({ "query": CHARGE }))
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                codes.push(
                    body["errors"][0]["extensions"]["code"]
                        .as_str()
                        .unwrap_or("none")
                        .to_owned(),
                );
                slow_answers.fetch_add(1, Ordering::Relaxed);
            }
            codes
        }));
    }
    // The slow platform is busy before the other one is timed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow_answers.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let loaded = time_charges(&app).await;
    let measured_for = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut slow_codes = Vec::new();
    for client in clients {
        slow_codes.extend(client.await.expect("client"));
    }

    let size = app.services.policies.pool_size();
    println!(
        "policy fairness: pool of {} threads, {} call(s) per platform; slow platform answered {} charges in {:?} ({} clients)",
        size.threads,
        size.calls_per_platform,
        slow_codes.len(),
        measured_for,
        SLOW_CLIENTS
    );
    println!(
        "other platform's charge: unloaded p50 {:?} p99 {:?}; beside the slow policy p50 {:?} p99 {:?} max {:?}",
        percentile(&unloaded, 50),
        percentile(&unloaded, 99),
        percentile(&loaded, 50),
        percentile(&loaded, 99),
        loaded.last().copied().unwrap_or_default()
    );
    // Every slow charge ran into the time budget: the load was real.
    assert!(!slow_codes.is_empty());
    assert!(
        slow_codes.iter().all(|code| code == "POLICY_ERROR"),
        "{slow_codes:?}"
    );
    // Hooks on the runtime's threads made every charge of the other platform wait behind
    // a 50 ms hook of the slow one. On the policy threads it waits for none: its median
    // stays below the length of one slow hook (the percentiles printed above
    // are for reading, not asserted: the machines are shared and noisy).
    let loaded_p50 = percentile(&loaded, 50);
    assert!(
        loaded_p50 < SLOW_HOOK,
        "the other platform's median charge took {loaded_p50:?}, a slow hook is {SLOW_HOOK:?}"
    );
}
