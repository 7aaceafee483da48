//! Two real `tollgate serve` processes over one PostgreSQL database, reached only by their
//! URLs: the bank workload through both conserves money; a payout run both start at once
//! pays each account once; one idempotency key sent to both gives one result; and when one
//! is killed (SIGKILL) under load the other keeps serving, the killed one starts again, the
//! store verifies and the total holds. Skipped, with a line saying so, when no PostgreSQL
//! server answers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::bank_workload::{self, Endpoint};
use crate::charges_support::{ADD_BANK_ACCOUNT, CREATE_ACCOUNT, SUBMIT_DETAILS};
use crate::helpers::{assert_no_errors, policies_dir, TOPUP};
use crate::test_store::without_synchronous_commit;
use tollgate::store::postgres::scratch::{self, ScratchDatabase};
use tollgate::store::PostgresUrl;

/// How long the load runs before one server is killed, and after.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1_500);
const LOAD_AFTER_KILL: Duration = Duration::from_millis(1_500);
const LOAD_CLIENTS: usize = 8;

/// The PostgreSQL server to test on: `TOLLGATE_TEST_STORE`, or the local default.
fn postgres_server() -> Option<PostgresUrl> {
    let text = std::env::var("TOLLGATE_TEST_STORE")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".to_owned());
    let server: PostgresUrl = text.parse().expect("a PostgreSQL URL");
    if scratch::reachable(&server) {
        Some(server)
    } else {
        println!(
            "multi_process: skipped, no PostgreSQL server answers at {server} \
             (set TOLLGATE_TEST_STORE=postgres://USER@HOST:PORT/)"
        );
        None
    }
}

/// One `tollgate serve` process.
struct Process {
    child: Child,
    endpoint: Endpoint,
}

/// Starts `tollgate serve` on port 0 over `store`, with `data` as its data directory.
async fn serve(store: &PostgresUrl, data: &Path, key: &str) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--simulated-clock",
            "--event-feed",
        ])
        .arg("--data")
        .arg(data)
        .arg("--policies")
        .arg(policies_dir())
        .env("TOLLGATE_STORE", store.secret())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollgate serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read the server's output")
            .expect("the server exited before it listened");
        if let Some(url) = line.strip_prefix("tollgate listening on ") {
            break url.to_owned();
        }
    };
    // Whatever else it prints is read and dropped, so it never waits on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Process {
        child,
        endpoint: Endpoint::new(format!("{url}/graphql"), key.to_owned()),
    }
}

/// `tollgate` run to completion with `args` over `store`; its stdout, once it succeeded.
fn tollgate(store: &PostgresUrl, cwd: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(cwd)
        .env("TOLLGATE_STORE", store.secret())
        .env("TOLLGATE_POLICIES", policies_dir())
        .output()
        .expect("run tollgate");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tollgate {args:?}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// A CUSTOM US account onboarded through `endpoint`, on a daily schedule two days behind.
async fn seller_on_a_daily_schedule(endpoint: &Endpoint) -> String {
    let body = endpoint
        .graphql(CREATE_ACCOUNT, json!({"type": "CUSTOM", "country": "US"}))
        .await;
    assert_no_errors(&body);
    let id = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for mutation in [SUBMIT_DETAILS, ADD_BANK_ACCOUNT] {
        let body = endpoint.graphql(mutation, json!({"account": id})).await;
        assert_no_errors(&body);
    }
    let body = endpoint
        .graphql(
            "mutation($input: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $input) { id } }",
            json!({"input": {"account": id, "interval": "DAILY", "delayDays": 2}}),
        )
        .await;
    assert_no_errors(&body);
    id
}

async fn advance_to(endpoint: &Endpoint, time: &str) {
    let body = endpoint
        .graphql(
            "mutation($t: DateTime!) { advanceClock(input: {to: $t}) }",
            json!({ "t": time }),
        )
        .await;
    assert_no_errors(&body);
}

/// An account's payouts as (amount, status).
async fn payouts_of(endpoint: &Endpoint, account: &str) -> Vec<(i64, String)> {
    let body = endpoint
        .graphql(
            "query($id: ID!) { account(id: $id) { payouts(first: 100) { nodes { amount { amount } status } } } }",
            json!({ "id": account }),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["account"]["payouts"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            (
                node["amount"]["amount"].as_i64().expect("amount"),
                node["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

/// Top-ups through `endpoint` until `until`: what was sent, and what was acknowledged.
#[derive(Default)]
struct Topups {
    sent: AtomicI64,
    acknowledged: AtomicI64,
    failed: AtomicI64,
}

async fn top_up_until(endpoint: Endpoint, until: Instant, topups: Arc<Topups>, seed: i64) {
    let mut amount = 100 + seed;
    while Instant::now() < until {
        amount = 100 + (amount * 7 + 13) % 900;
        topups.sent.fetch_add(amount, Ordering::SeqCst);
        let answered = endpoint
            .client()
            .post(&endpoint.graphql_url)
            .bearer_auth(&endpoint.secret_key)
            .json(&json!({"query": TOPUP, "variables": {"amount": amount, "currency": "usd"}}))
            .send()
            .await;
        let body: Option<Value> = match answered {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        match body {
            Some(body) if body.get("errors").is_none() => {
                topups.acknowledged.fetch_add(amount, Ordering::SeqCst);
            }
            _ => {
                topups.failed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_over_one_database_share_every_guarantee_and_survive_a_kill() {
    let Some(server) = postgres_server() else {
        return;
    };
    let database = ScratchDatabase::create(&server).expect("a new database");
    let store = without_synchronous_commit(database.url());
    let temp = tempfile::tempdir().expect("temp dir");
    let data_of = |name: &str| -> PathBuf { temp.path().join(name) };
    let created = tollgate(
        &store,
        temp.path(),
        &[
            "platform",
            "create",
            "--name",
            "Two processes",
            "--country",
            "US",
        ],
    );
    let created: Value = serde_json::from_str(created.trim()).expect("one JSON line");
    let key = created["secretKey"].as_str().expect("secretKey").to_owned();
    let first = serve(&store, &data_of("first"), &key).await;
    let mut second = serve(&store, &data_of("second"), &key).await;
    let (one, two) = (first.endpoint.clone(), second.endpoint.clone());

    // The bank workload through both processes: every read sees the same total.
    let bank =
        Arc::new(bank_workload::set_up_over(vec![one.clone(), two.clone()], Vec::new()).await);
    bank_workload::run(bank.clone()).await;

    // A payout run both processes start at once pays each account once.
    advance_to(&one, "2027-03-01T12:00:00Z").await;
    let mut sellers = Vec::new();
    for index in 0..4 {
        let through = if index % 2 == 0 { &one } else { &two };
        let seller = seller_on_a_daily_schedule(through).await;
        let body = through
            .graphql(
                "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
                json!({"input": {"amount": 1_000 + 111 * index, "currency": "usd",
                       "paymentMethod": "pm_card_visa", "applicationFeeAmount": 0,
                       "transferData": {"destination": seller}}}),
            )
            .await;
        assert_no_errors(&body);
        sellers.push(seller);
    }
    advance_to(&two, "2027-03-03T23:00:00Z").await;
    // Each process moves the clock by two hours past the day's run and runs what is due.
    let advance = "mutation { advanceClock(input: {seconds: 7200}) }";
    let (a, b) = tokio::join!(
        one.graphql(advance, json!({})),
        two.graphql(advance, json!({}))
    );
    assert_no_errors(&a);
    assert_no_errors(&b);
    advance_to(&one, "2027-03-08T00:00:00Z").await;
    for (index, seller) in sellers.iter().enumerate() {
        assert_eq!(
            payouts_of(&two, seller).await,
            vec![(1_000 + 111 * index as i64, "PAID".to_owned())],
            "{seller}"
        );
    }

    // One idempotency key sent to both at once gives one charge, and one answer.
    let create = "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id amount { amount } status } }";
    let input = json!({"input": {"amount": 4_321, "currency": "usd", "paymentMethod": "pm_card_visa",
                                 "idempotencyKey": "order-17"}});
    let (a, b) = tokio::join!(
        one.graphql(create, input.clone()),
        two.graphql(create, input.clone())
    );
    assert_no_errors(&a);
    assert_eq!(a, b);
    let charge = a["data"]["createCharge"]["id"].clone();
    let listed = two
        .graphql("{ charges(first: 100) { nodes { id } } }", json!({}))
        .await;
    let with_it = listed["data"]["charges"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|node| node["id"] == charge)
        .count();
    assert_eq!(with_it, 1, "{listed}");

    // Top-ups through both; the second process is killed mid-load. The first answers every
    // request throughout.
    let (before, balanced) = bank.total_through(&one).await;
    assert!(balanced);
    let through_first = Arc::new(Topups::default());
    let through_second = Arc::new(Topups::default());
    let until = Instant::now() + LOAD_BEFORE_KILL + LOAD_AFTER_KILL;
    let mut clients = Vec::new();
    for client in 0..LOAD_CLIENTS {
        let (endpoint, topups) = if client % 2 == 0 {
            (one.clone(), through_first.clone())
        } else {
            (two.clone(), through_second.clone())
        };
        clients.push(tokio::spawn(top_up_until(
            endpoint,
            until,
            topups,
            client as i64,
        )));
    }
    tokio::time::sleep(LOAD_BEFORE_KILL).await;
    second
        .child
        .start_kill()
        .expect("SIGKILL the second process");
    let killed = second.child.wait().await.expect("the second process ends");
    assert!(!killed.success());
    for client in clients {
        client.await.expect("a load client");
    }
    assert_eq!(
        through_first.failed.load(Ordering::SeqCst),
        0,
        "the first process failed requests while the second was killed"
    );
    assert!(through_first.acknowledged.load(Ordering::SeqCst) > 0);
    assert!(
        through_second.failed.load(Ordering::SeqCst) > 0,
        "the kill was mid-load"
    );

    // The killed process starts again over the same database and serves.
    second = serve(&store, &data_of("second"), &key).await;
    let (after, balanced) = bank.total_through(&second.endpoint).await;
    assert!(balanced, "the trial balance after the restart");
    let acknowledged = through_first.acknowledged.load(Ordering::SeqCst)
        + through_second.acknowledged.load(Ordering::SeqCst);
    let sent =
        through_first.sent.load(Ordering::SeqCst) + through_second.sent.load(Ordering::SeqCst);
    // Every acknowledged top-up is there; one in flight at the kill may or may not be.
    assert!(
        after - before >= acknowledged && after - before <= sent,
        "the total moved by {} with {acknowledged} acknowledged and {sent} sent",
        after - before
    );
    let body = second
        .endpoint
        .graphql(TOPUP, json!({"amount": 1_234, "currency": "usd"}))
        .await;
    assert_no_errors(&body);

    // Both stopped, the store verifies.
    drop(first);
    drop(second);
    let verified = tollgate(&store, temp.path(), &["verify"]);
    println!("{verified}");
    drop(database);
}
