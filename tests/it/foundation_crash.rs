//! Crash safety: `tollgate serve` as a child process, killed with SIGKILL mid-load twenty
//! times while clients run the whole mix of money movements (top-ups, destination, direct
//! and separate charges, transfers with and without a source, refunds, reversals, payouts).
//! After every kill `tollgate verify` passes (hash chain, high-water record, trial balance);
//! after every restart each acknowledged operation replays its stored result (an object id
//! or a refusal) under its key, and every acknowledged object exists exactly once.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::charges_support::{ADD_BANK_ACCOUNT, CREATE_ACCOUNT, SUBMIT_DETAILS};
use crate::helpers::run_verify;

const KILL_ROUNDS: usize = 20;
const CLIENTS: usize = 8;
/// How many acknowledgements a round waits for before it kills the server.
const ACKS_BEFORE_KILL: usize = 24;

const TOPUP: &str = "mutation($amount: MinorUnits!, $key: String) { createTopup(input: {amount: $amount, currency: \"usd\", idempotencyKey: $key}) { id } }";
const CHARGE: &str = "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }";
const TRANSFER: &str =
    "mutation($input: CreateTransferInput!) { createTransfer(input: $input) { id } }";
const REFUND: &str = "mutation($input: CreateRefundInput!) { createRefund(input: $input) { id } }";
const REVERSAL: &str = "mutation($input: CreateTransferReversalInput!) { createTransferReversal(input: $input) { id } }";
const PAYOUT: &str = "mutation($input: CreatePayoutInput!) { createPayout(input: $input) { id } }";

/// One request, as sent: replaying it must give the same outcome.
#[derive(Clone, Debug)]
struct Operation {
    query: &'static str,
    field: &'static str,
    variables: Value,
    connect_account: Option<String>,
}

/// What the server answered: the object's id, or a refusal's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Created(String),
    Refused(String, String),
}

#[derive(Clone, Debug)]
struct Acknowledged {
    operation: Operation,
    outcome: Outcome,
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
            "--data",
        ])
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .arg("--policies")
        .arg(crate::helpers::policies_dir())
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

fn create_platform(data: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "platform",
            "create",
            "--name",
            "Crash Test",
            "--country",
            "US",
            "--data",
        ])
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .arg("--policies")
        .arg(crate::helpers::policies_dir())
        .output()
        .expect("platform create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout).expect("utf8");
    assert_eq!(line.lines().count(), 1, "exactly one JSON line: {line}");
    let created: Value = serde_json::from_str(line.trim()).expect("json line");
    assert!(created["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("plat_")));
    created["secretKey"].as_str().expect("secretKey").to_owned()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    connect_account: Option<&str>,
    query: &str,
    variables: &Value,
) -> Option<Value> {
    let mut request = client
        .post(url)
        .bearer_auth(key)
        .json(&json!({"query": query, "variables": variables}));
    if let Some(account) = connect_account {
        request = request.header("Connect-Account", account);
    }
    request.send().await.ok()?.json().await.ok()
}

/// Sends an operation; `None` when it was not acknowledged (the server died first, or the
/// answer was an internal error).
async fn send(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    operation: &Operation,
) -> Option<Outcome> {
    let body = post(
        client,
        url,
        key,
        operation.connect_account.as_deref(),
        operation.query,
        &operation.variables,
    )
    .await?;
    if let Some(id) = body["data"][operation.field]["id"].as_str() {
        return Some(Outcome::Created(id.to_owned()));
    }
    let code = body["errors"][0]["extensions"]["code"].as_str()?;
    assert_ne!(code, "INVALID_REQUEST", "{operation:?}: {body}");
    if code == "INTERNAL" {
        return None;
    }
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    Some(Outcome::Refused(code.to_owned(), message.to_owned()))
}

/// A fully enabled CUSTOM account with a US bank account.
async fn seller(client: &reqwest::Client, url: &str, key: &str) -> String {
    let body = post(
        client,
        url,
        key,
        None,
        CREATE_ACCOUNT,
        &json!({"type": "CUSTOM", "country": "US"}),
    )
    .await
    .expect("create account");
    let id = body["data"]["createAccount"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    for query in [SUBMIT_DETAILS, ADD_BANK_ACCOUNT] {
        let body = post(client, url, key, None, query, &json!({"account": id}))
            .await
            .expect("onboard");
        assert!(body.get("errors").is_none(), "{body}");
    }
    id
}

/// The second request of a step, made from the id the first one returned.
type FollowUp = Box<dyn Fn(&str) -> Operation + Send>;

fn operation(query: &'static str, field: &'static str, input: Value) -> Operation {
    Operation {
        query,
        field,
        variables: json!({"input": input}),
        connect_account: None,
    }
}

/// Runs the `n`th step of the mix; a step may be two dependent requests (a charge and its
/// refund). Returns what was acknowledged, and whether the server still answered.
async fn step(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    seller: &str,
    n: u64,
) -> (Vec<Acknowledged>, bool) {
    let amount = 1000 + (n % 97);
    let first = format!("op-{n}-a");
    let second = format!("op-{n}-b");
    let destination_charge = |key: &str| {
        operation(
            CHARGE,
            "createCharge",
            json!({"amount": amount, "currency": "usd",
            "paymentMethod": "pm_card_bypassPending", "applicationFeeAmount": 10,
            "transferData": {"destination": seller}, "idempotencyKey": key}),
        )
    };
    let unsourced_transfer = |amount: u64, key: &str| {
        operation(
            TRANSFER,
            "createTransfer",
            json!({"amount": amount, "currency": "usd",
            "destination": seller, "idempotencyKey": key}),
        )
    };
    let (head, follow): (Operation, Option<FollowUp>) = match n % 8 {
        0 => (
            Operation {
                query: TOPUP,
                field: "createTopup",
                variables: json!({"amount": amount, "key": first}),
                connect_account: None,
            },
            None,
        ),
        1 => (destination_charge(&first), None),
        2 => (
            Operation {
                connect_account: Some(seller.to_owned()),
                ..operation(
                    CHARGE,
                    "createCharge",
                    json!({"amount": amount, "currency": "usd",
                    "paymentMethod": "pm_card_visa", "applicationFeeAmount": 5, "idempotencyKey": first}),
                )
            },
            None,
        ),
        3 => {
            let seller = seller.to_owned();
            let second = second.clone();
            (
                operation(
                    CHARGE,
                    "createCharge",
                    json!({"amount": amount, "currency": "usd",
                    "paymentMethod": "pm_card_bypassPending", "idempotencyKey": first}),
                ),
                Some(Box::new(move |charge: &str| {
                    operation(
                        TRANSFER,
                        "createTransfer",
                        json!({"amount": 100, "currency": "usd",
                        "destination": seller, "sourceTransaction": charge, "idempotencyKey": second}),
                    )
                })),
            )
        }
        4 => {
            let second = second.clone();
            (
                destination_charge(&first),
                Some(Box::new(move |charge: &str| {
                    operation(
                        REFUND,
                        "createRefund",
                        json!({"charge": charge, "amount": 50,
                        "reverseTransfer": true, "idempotencyKey": second}),
                    )
                })),
            )
        }
        5 => (unsourced_transfer(20, &first), None),
        6 => (
            operation(
                PAYOUT,
                "createPayout",
                json!({"account": seller, "amount": 10,
                "currency": "usd", "idempotencyKey": first}),
            ),
            None,
        ),
        _ => {
            let second = second.clone();
            (
                unsourced_transfer(30, &first),
                Some(Box::new(move |transfer: &str| {
                    operation(
                        REVERSAL,
                        "createTransferReversal",
                        json!({"transfer": transfer,
                        "amount": 10, "idempotencyKey": second}),
                    )
                })),
            )
        }
    };
    let mut acknowledged = Vec::new();
    let Some(outcome) = send(client, url, key, &head).await else {
        return (acknowledged, false);
    };
    acknowledged.push(Acknowledged {
        operation: head,
        outcome: outcome.clone(),
    });
    if let (Some(follow), Outcome::Created(id)) = (follow, outcome) {
        let next = follow(&id);
        let Some(outcome) = send(client, url, key, &next).await else {
            return (acknowledged, false);
        };
        acknowledged.push(Acknowledged {
            operation: next,
            outcome,
        });
    }
    (acknowledged, true)
}

/// Every acknowledged operation replays its stored outcome, and every object it made exists.
async fn check_acknowledged(client: &reqwest::Client, url: &str, key: &str, all: &[Acknowledged]) {
    for acknowledged in all {
        let replayed = send(client, url, key, &acknowledged.operation).await;
        assert_eq!(
            replayed.as_ref(),
            Some(&acknowledged.outcome),
            "{:?}",
            acknowledged.operation
        );
        if let Outcome::Created(id) = &acknowledged.outcome {
            let body = post(
                client,
                url,
                key,
                acknowledged.operation.connect_account.as_deref(),
                "query($id: ID!) { node(id: $id) { id } }",
                &json!({"id": id}),
            )
            .await
            .expect("node");
            if !id.starts_with("trr_") {
                assert_eq!(body["data"]["node"]["id"], json!(id), "{body}");
            }
        }
    }
}

/// Refunds and reversals each happened exactly once: every acknowledged one shows in its
/// charge's or transfer's amount exactly once.
async fn check_exactly_once(client: &reqwest::Client, url: &str, key: &str, all: &[Acknowledged]) {
    for acknowledged in all {
        let (query, id, path) = match acknowledged.operation.field {
            "createRefund" => (
                "query($id: ID!) { charge(id: $id) { amountRefunded { amount } } }",
                &acknowledged.operation.variables["input"]["charge"],
                ("charge", "amountRefunded"),
            ),
            "createTransferReversal" => (
                "query($id: ID!) { transfer(id: $id) { amountReversed { amount } } }",
                &acknowledged.operation.variables["input"]["transfer"],
                ("transfer", "amountReversed"),
            ),
            _ => continue,
        };
        if !matches!(acknowledged.outcome, Outcome::Created(_)) {
            continue;
        }
        let expected = &acknowledged.operation.variables["input"]["amount"];
        let body = post(client, url, key, None, query, &json!({"id": id}))
            .await
            .expect("read");
        assert_eq!(&body["data"][path.0][path.1]["amount"], expected, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_operations_survive_twenty_sigkills() {
    let started = std::time::Instant::now();
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let secret_key = Arc::new(create_platform(&data));
    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let next_step = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let setup = start_server(&data).await;
    let seller = Arc::new(seller(&client, &setup.url, &secret_key).await);
    let mut server = Some(setup);
    let mut checked = 0;

    for _round in 0..KILL_ROUNDS {
        let mut current = match server.take() {
            Some(running) => running,
            None => start_server(&data).await,
        };
        // What was acknowledged before the last kill is all still there.
        let before: Vec<Acknowledged> = acknowledged.lock().expect("lock")[checked..].to_vec();
        check_acknowledged(&client, &current.url, &secret_key, &before).await;
        checked += before.len();

        let url = Arc::new(current.url.clone());
        let target = acknowledged.lock().expect("lock").len() + ACKS_BEFORE_KILL;
        let (enough, mut enough_seen) = tokio::sync::watch::channel(false);
        let enough = Arc::new(enough);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (url, key, seller, acknowledged, next_step, enough) = (
                url.clone(),
                secret_key.clone(),
                seller.clone(),
                acknowledged.clone(),
                next_step.clone(),
                enough.clone(),
            );
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let n = next_step.fetch_add(1, Ordering::SeqCst);
                    let (done, alive) = step(&client, &url, &key, &seller, n).await;
                    let count = {
                        let mut acknowledged = acknowledged.lock().expect("lock");
                        acknowledged.extend(done);
                        acknowledged.len()
                    };
                    if count >= target {
                        let _ = enough.send(true);
                    }
                    if !alive {
                        return;
                    }
                }
            }));
        }
        enough_seen
            .wait_for(|enough| *enough)
            .await
            .expect("acknowledgements");
        // Kill while the clients are still sending.
        current.child.start_kill().expect("SIGKILL");
        current.child.wait().await.expect("wait");
        for client in clients {
            client.await.expect("client task");
        }
        let (passed, output) = run_verify(&data);
        assert!(passed, "verify failed after a kill: {output}");
    }

    let mut current = start_server(&data).await;
    let all = acknowledged.lock().expect("lock").clone();
    assert!(all.len() >= KILL_ROUNDS * ACKS_BEFORE_KILL);
    check_acknowledged(&client, &current.url, &secret_key, &all[checked..]).await;
    check_exactly_once(&client, &current.url, &secret_key, &all).await;
    let body = post(
        &client,
        &current.url,
        &secret_key,
        None,
        "{ ledgerCheck { balanced entries violations } }",
        &json!({}),
    )
    .await
    .expect("ledgerCheck");
    assert_eq!(
        body["data"]["ledgerCheck"]["violations"],
        json!([]),
        "{body}"
    );
    assert_eq!(
        body["data"]["ledgerCheck"]["balanced"],
        json!(true),
        "{body}"
    );
    current.child.start_kill().expect("SIGKILL");
    current.child.wait().await.expect("wait");
    let (passed, output) = run_verify(&data);
    assert!(passed, "verify failed: {output}");
    let mut by_kind: std::collections::BTreeMap<String, usize> = Default::default();
    for acknowledged in &all {
        let kind = match &acknowledged.outcome {
            Outcome::Created(_) => acknowledged.operation.field.to_owned(),
            Outcome::Refused(code, _) => format!("{} {code}", acknowledged.operation.field),
        };
        *by_kind.entry(kind).or_default() += 1;
    }
    println!(
        "{KILL_ROUNDS} kills survived: {} operations acknowledged {by_kind:?}, {} steps issued, {:.1} s",
        all.len(),
        next_step.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    for kind in [
        "createTopup",
        "createCharge",
        "createTransfer",
        "createRefund",
        "createTransferReversal",
        "createPayout",
    ] {
        assert!(
            by_kind.get(kind).is_some_and(|count| *count > 0),
            "no {kind} in {by_kind:?}"
        );
    }
}
