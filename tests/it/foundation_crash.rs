//! Crash safety: `tollgate serve` as a child process, killed with SIGKILL mid-load five
//! times. Every acknowledged top-up exists exactly once afterwards, retrying its key
//! returns the same object, and `tollgate verify` passes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{run_verify, TOPUP};

const KILL_ROUNDS: usize = 5;
const CLIENTS: usize = 16;
/// How many acknowledgements a round waits for before it kills the server.
const ACKS_BEFORE_KILL: usize = 40;

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

async fn topup(client: &reqwest::Client, url: &str, key: &str, n: u64) -> Option<String> {
    let body: Value = client
        .post(url)
        .bearer_auth(key)
        .json(&json!({"query": TOPUP, "variables": {"amount": n, "currency": "usd", "key": format!("crash-{n}")}}))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]["createTopup"]["id"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_topups_survive_repeated_sigkill() {
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let secret_key = Arc::new(create_platform(&data));
    let acknowledged: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let next_amount = Arc::new(std::sync::atomic::AtomicU64::new(1));

    for _round in 0..KILL_ROUNDS {
        let mut server = start_server(&data).await;
        let url = Arc::new(server.url.clone());
        let target = acknowledged.lock().expect("lock").len() + ACKS_BEFORE_KILL;
        let (enough, mut enough_seen) = tokio::sync::watch::channel(false);
        let enough = Arc::new(enough);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (url, key, acknowledged, next_amount, enough) = (
                url.clone(),
                secret_key.clone(),
                acknowledged.clone(),
                next_amount.clone(),
                enough.clone(),
            );
            clients.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let n = next_amount.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(id) = topup(&client, &url, &key, n).await else {
                        return;
                    };
                    let count = {
                        let mut acknowledged = acknowledged.lock().expect("lock");
                        acknowledged.insert(n, id);
                        acknowledged.len()
                    };
                    if count >= target {
                        let _ = enough.send(true);
                    }
                }
            }));
        }
        enough_seen
            .wait_for(|enough| *enough)
            .await
            .expect("acknowledgements");
        // Kill while the clients are still sending.
        server.child.start_kill().expect("SIGKILL");
        server.child.wait().await.expect("wait");
        for client in clients {
            client.await.expect("client task");
        }
    }

    let mut server = start_server(&data).await;
    let client = reqwest::Client::new();
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= KILL_ROUNDS * ACKS_BEFORE_KILL);
    for (n, id) in &acknowledged {
        let replayed = topup(&client, &server.url, &secret_key, *n).await;
        assert_eq!(replayed.as_deref(), Some(id.as_str()), "key crash-{n}");
    }
    // Every top-up that exists has a distinct key, so none is there twice; and every
    // acknowledged one is among them.
    let body: Value = client
        .post(&server.url)
        .bearer_auth(secret_key.as_str())
        .json(&json!({"query": "{ ledgerCheck { balanced entries } balance { pending { amount } } }"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["ledgerCheck"]["balanced"],
        json!(true),
        "{body}"
    );
    let entries = body["data"]["ledgerCheck"]["entries"]
        .as_u64()
        .expect("entries");
    let issued = next_amount.load(std::sync::atomic::Ordering::SeqCst) - 1;
    assert!(
        entries >= acknowledged.len() as u64 && entries <= issued,
        "{entries} entries for {} acks",
        acknowledged.len()
    );
    let pending = body["data"]["balance"]["pending"][0]["amount"]
        .as_u64()
        .expect("pending");
    let acknowledged_total: u64 = acknowledged.keys().sum();
    let issued_total: u64 = (1..=issued).sum();
    assert!(pending >= acknowledged_total && pending <= issued_total);
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.expect("wait");
    let (passed, output) = run_verify(&data);
    assert!(passed, "verify failed: {output}");
}
