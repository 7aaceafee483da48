//! The webhook outbox: events committed while an endpoint is down arrive in commit order
//! once it is back; three days of failures disable the endpoint; a server killed with
//! SIGKILL between attempts resumes exactly where it stopped; 50 endpoints that never
//! answer stay within the delivery bounds and leave another platform's latency alone.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use tollgate::config::MAX_WEBHOOK_DELIVERIES_IN_FLIGHT;
use tollgate::service::platforms::NewPlatform;

use crate::helpers::{assert_no_errors, spawn_app, TestApp, TOPUP};
use crate::webhooks_support::{
    advance_seconds, create_endpoint, create_endpoint_as, deliveries, receiver,
    wait_for_deliveries, CREATE_ENDPOINT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_two_days_down_arrive_in_commit_order_and_three_days_disable() {
    let app = spawn_app().await;
    let hooks = receiver(&[], 503).await;
    let (endpoint, _) = create_endpoint(&app, &hooks.url, &["topup.created"]).await;
    let mut topups = Vec::new();
    for amount in [101, 102, 103] {
        let body = app
            .graphql(TOPUP, json!({"amount": amount, "currency": "usd"}))
            .await;
        assert_no_errors(&body);
        topups.push(body["data"]["createTopup"]["id"].clone());
    }
    // The oldest is tried first; the others wait behind it, in order.
    wait_for_deliveries(&app, &endpoint, "the head's first attempt", |found| {
        found.len() == 3 && found[2]["attempts"] == 1
    })
    .await;
    advance_seconds(&app, 86_400).await;
    wait_for_deliveries(&app, &endpoint, "the head's second attempt", |found| {
        found[2]["attempts"] == 2
    })
    .await;
    advance_seconds(&app, 86_400).await;
    let found = wait_for_deliveries(&app, &endpoint, "the head's third attempt", |found| {
        found[2]["attempts"] == 3
    })
    .await;
    assert_eq!(found[0]["attempts"], 0);
    assert_eq!(found[1]["attempts"], 0);
    assert_eq!(hooks.count(), 3);

    // Back after two days: the next retry sends all three, oldest first.
    hooks.answer_from_now(200);
    advance_seconds(&app, 3600).await;
    hooks.wait_for(6).await;
    let delivered: Vec<Value> = hooks.hits()[3..]
        .iter()
        .map(|hit| hit.json()["data"]["object"]["id"].clone())
        .collect();
    assert_eq!(delivered, topups);
    let found = wait_for_deliveries(&app, &endpoint, "all acknowledged", |found| {
        found
            .iter()
            .all(|delivery| delivery["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(found[2]["attempts"], 4);
    assert_eq!(found[0]["attempts"], 1);

    // Down for three days: disabled, with its event, and its deliveries fail.
    hooks.answer_from_now(500);
    let body = app
        .graphql(TOPUP, json!({"amount": 104, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    wait_for_deliveries(&app, &endpoint, "the new delivery's attempt", |found| {
        found.len() == 4 && found[0]["attempts"] == 1
    })
    .await;
    advance_seconds(&app, 3 * 86_400).await;
    let found = wait_for_deliveries(&app, &endpoint, "the endpoint disabled", |found| {
        found[0]["status"] == "FAILED"
    })
    .await;
    assert_eq!(found[0]["attempts"], 2);
    assert_eq!(
        found[0]["error"],
        "the endpoint failed every attempt for three days and was disabled"
    );
    let body = app
        .graphql(
            "query($id: ID!) { webhookEndpoint(id: $id) { disabled } events(type: \"webhook_endpoint.disabled\") { nodes { data { object } } } }",
            json!({"id": endpoint}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["webhookEndpoint"]["disabled"], true);
    let events = body["data"]["events"]["nodes"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["object"]["id"], endpoint.as_str());
    assert_eq!(events[0]["data"]["object"]["disabled"], true);
    // A disabled endpoint gets nothing more.
    let attempts = hooks.count();
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 105, "currency": "usd"}))
            .await,
    );
    advance_seconds(&app, 86_400).await;
    assert_eq!(deliveries(&app, &endpoint).await.len(), 4);
    assert_eq!(hooks.count(), attempts);
}

struct Server {
    child: Child,
    url: String,
}

async fn start_server(data: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--simulated-clock",
            "--webhooks-allow-private",
            "--data",
        ])
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollgate serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read stdout")
            .expect("server exited before listening");
        if let Some(address) = line.strip_prefix("tollgate listening on ") {
            break format!("{address}/graphql");
        }
    };
    Server { child, url }
}

async fn call(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(&server.url)
        .bearer_auth(key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

async fn server_attempts(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    endpoint: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = call(
            client,
            server,
            key,
            "query($id: ID!) { webhookEndpoint(id: $id) { deliveries { nodes { attempts status } } } }",
            json!({"id": endpoint}),
        )
        .await;
        let delivery = body["data"]["webhookEndpoint"]["deliveries"]["nodes"][0].clone();
        if !delivery.is_null() {
            return delivery;
        }
        assert!(Instant::now() < deadline, "no delivery: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_server_attempts(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    endpoint: &str,
    attempts: i64,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivery = server_attempts(client, server, key, endpoint).await;
        if delivery["attempts"] == attempts {
            return delivery;
        }
        assert!(Instant::now() < deadline, "still {delivery}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_attempts_resumes_where_it_stopped() {
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "platform",
            "create",
            "--name",
            "Crash Hooks",
            "--country",
            "US",
            "--data",
        ])
        .arg(&data)
        .envs(crate::helpers::store_env(&data))
        .output()
        .expect("platform create");
    assert!(output.status.success());
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let key = created["secretKey"].as_str().expect("key").to_owned();
    let client = reqwest::Client::new();
    let hooks = receiver(&[500, 500, 500], 200).await;

    let mut server = start_server(&data).await;
    let body = call(
        &client,
        &server,
        &key,
        CREATE_ENDPOINT,
        json!({"url": hooks.url, "events": ["topup.created"]}),
    )
    .await;
    assert_no_errors(&body);
    let endpoint = body["data"]["createWebhookEndpoint"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_no_errors(
        &call(
            &client,
            &server,
            &key,
            TOPUP,
            json!({"amount": 999, "currency": "usd"}),
        )
        .await,
    );
    wait_for_server_attempts(&client, &server, &key, &endpoint, 1).await;
    let advance = "mutation($s: Int!) { advanceClock(input: {seconds: $s}) }";
    assert_no_errors(&call(&client, &server, &key, advance, json!({"s": 30})).await);
    // The second attempt is recorded (and flushed) before the kill.
    wait_for_server_attempts(&client, &server, &key, &endpoint, 2).await;
    assert_eq!(hooks.count(), 2);
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.expect("wait");

    let mut server = start_server(&data).await;
    let delivery = server_attempts(&client, &server, &key, &endpoint).await;
    assert_eq!(delivery, json!({"attempts": 2, "status": "PENDING"}));
    assert_no_errors(&call(&client, &server, &key, advance, json!({"s": 60})).await);
    wait_for_server_attempts(&client, &server, &key, &endpoint, 3).await;
    assert_no_errors(&call(&client, &server, &key, advance, json!({"s": 120})).await);
    let delivery = wait_for_server_attempts(&client, &server, &key, &endpoint, 4).await;
    assert_eq!(delivery["status"], "SUCCEEDED");
    assert_eq!(hooks.count(), 4);

    // Killed again after the 2xx was recorded: nothing is sent twice.
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.expect("wait");
    let mut server = start_server(&data).await;
    assert_no_errors(&call(&client, &server, &key, advance, json!({"s": 86_400})).await);
    let delivery = server_attempts(&client, &server, &key, &endpoint).await;
    assert_eq!(delivery, json!({"attempts": 4, "status": "SUCCEEDED"}));
    let event_ids: std::collections::BTreeSet<String> = hooks
        .hits()
        .iter()
        .map(|hit| hit.json()["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(event_ids.len(), 1);
    assert_eq!(hooks.count(), 4);
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.expect("wait");
}

/// A receiver that accepts connections and never answers; counts connections open now and
/// the most open at once.
async fn black_hole() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (open_handle, most_handle) = (open.clone(), most.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let now = open_handle.fetch_add(1, Ordering::SeqCst) + 1;
            most_handle.fetch_max(now, Ordering::SeqCst);
            let open = open_handle.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                // Read until the client gives up; never answer.
                while let Ok(read) = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await {
                    if read == 0 {
                        break;
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{address}/hooks"), open, most)
}

fn resident_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|value| value.parse().ok())
        })
        .unwrap_or(0)
}

const CHARGE: &str = "mutation { createCharge(input: {amount: 2000, currency: \"usd\", paymentMethod: \"pm_card_visa\"}) { id } }";

/// Median and 99th percentile of `count` sequential charges, in milliseconds.
async fn charge_latency(app: &TestApp, key: &str, count: usize) -> (f64, f64) {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let body = app.graphql_as(key, None, CHARGE, json!({})).await;
        assert_no_errors(&body);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[count / 2], times[(count * 99 / 100).min(count - 1)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_endpoints_that_never_answer_stay_within_bounds() {
    const ENDPOINTS: usize = 50;
    const TOPUPS_PER_PLATFORM: usize = 100;
    const CHARGES: usize = 100;
    let app = spawn_app().await;
    let (url, open, most) = black_hole().await;
    let (_, quiet_key) = app.second_platform().await;
    // Warm up first, so the baseline is not the first requests' cost.
    charge_latency(&app, &quiet_key, CHARGES / 5).await;
    let (baseline_p50, baseline_p99) = charge_latency(&app, &quiet_key, CHARGES).await;
    let memory_before = resident_memory_kib();

    // 50 endpoints over four platforms (16 each at most), every event to each.
    let mut keys = vec![app.secret_key.clone()];
    for index in 0..3 {
        let created = app
            .services
            .create_platform(NewPlatform {
                name: format!("Dead Hooks {index}"),
                country: "US".into(),
                default_currency: Some("usd".into()),
                policy: None,
            })
            .await
            .expect("platform");
        keys.push(created.secret_key);
    }
    for index in 0..ENDPOINTS {
        create_endpoint_as(&app, &keys[index % keys.len()], &url, &["*"]).await;
    }
    // Every endpoint already has an event to deliver (the endpoints made after it): the
    // first wave fills every delivery slot, and no more, within the 10 s attempt timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    while most.load(Ordering::SeqCst) < MAX_WEBHOOK_DELIVERIES_IN_FLIGHT
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_wave_sockets = most.load(Ordering::SeqCst);
    assert_eq!(first_wave_sockets, MAX_WEBHOOK_DELIVERIES_IN_FLIGHT);

    let started = Instant::now();
    let mut writers = Vec::new();
    for key in keys.clone() {
        let client = app.client.clone();
        let graphql = app.url();
        writers.push(tokio::spawn(async move {
            for n in 0..TOPUPS_PER_PLATFORM {
                let body: Value = client
                    .post(&graphql)
                    .bearer_auth(&key)
                    .json(&json!({"query": TOPUP, "variables": {"amount": 100 + n, "currency": "usd"}}))
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                assert!(body.get("errors").is_none(), "{body}");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let topups_seconds = started.elapsed().as_secs_f64();
    // The quiet platform's charges while every slot hangs and thousands of deliveries wait.
    let (loaded_p50, loaded_p99) = charge_latency(&app, &quiet_key, CHARGES).await;
    let memory_after = resident_memory_kib();
    let webhooks = &app.services.webhooks;
    println!(
        "50 dead endpoints: {} attempts in flight at most (bound {MAX_WEBHOOK_DELIVERIES_IN_FLIGHT}), {} now; \
         receiver sockets: {first_wave_sockets} in the first wave, {} at most over the run (closed and reopened \
         sockets overlap at the receiver when a wave times out), {} open now; \
         resident memory {} KiB -> {} KiB (+{} KiB); {} top-ups in {topups_seconds:.1} s; \
         another platform's charges p50 {baseline_p50:.1} ms -> {loaded_p50:.1} ms, p99 {baseline_p99:.1} ms -> {loaded_p99:.1} ms",
        webhooks.most_in_flight(),
        webhooks.in_flight(),
        most.load(Ordering::SeqCst),
        open.load(Ordering::SeqCst),
        memory_before,
        memory_after,
        memory_after.saturating_sub(memory_before),
        keys.len() * TOPUPS_PER_PLATFORM,
    );
    assert_eq!(webhooks.most_in_flight(), MAX_WEBHOOK_DELIVERIES_IN_FLIGHT);
    assert!(
        memory_after.saturating_sub(memory_before) < 256 * 1024,
        "memory grew by {} KiB",
        memory_after.saturating_sub(memory_before)
    );
    // Loose, for a shared machine: the quiet platform's median stays the same order.
    assert!(
        loaded_p50 < baseline_p50 * 3.0 + 20.0,
        "p50 {baseline_p50:.1} ms -> {loaded_p50:.1} ms"
    );
}
