//! What the ledger can prove: damaged, shortened or altered copies of a data directory are
//! refused by `tollgate verify` and by startup; refusals are replayed under their key; keys
//! expire after their retention; `ledgerCheck` stays consistent under write load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::charges_support::enabled_account;
use crate::helpers::{assert_no_errors, error_code, run_verify, spawn_app, start, TestApp, TOPUP};

const TRANSFER: &str = "mutation($amount: MinorUnits!, $destination: ID!, $key: String) {
  createTransfer(input: {amount: $amount, currency: \"usd\", destination: $destination, idempotencyKey: $key}) { id }
}";

fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_refusal_is_stored_under_its_key_and_replayed_after_funds_arrive() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = app
        .graphql(
            TOPUP,
            json!({"amount": 1000, "currency": "usd", "key": "fund"}),
        )
        .await;
    assert_no_errors(&body);

    let transfer =
        |amount: i64, key: &str| json!({"amount": amount, "destination": seller, "key": key});
    let refused = app.graphql(TRANSFER, transfer(700, "pay-1")).await;
    assert_eq!(error_code(&refused), "INSUFFICIENT_FUNDS", "{refused}");

    app.advance_days(2).await;
    assert_eq!(app.balance(None, "usd").await, (1000, 0));
    // The funds are there now, but the key already holds its first result.
    let replayed = app.graphql(TRANSFER, transfer(700, "pay-1")).await;
    assert_eq!(error_code(&replayed), "INSUFFICIENT_FUNDS", "{replayed}");
    assert_eq!(error_message(&replayed), error_message(&refused));
    let conflict = app.graphql(TRANSFER, transfer(701, "pay-1")).await;
    assert_eq!(error_code(&conflict), "IDEMPOTENCY_CONFLICT", "{conflict}");
    assert_eq!(app.balance(None, "usd").await, (1000, 0));
    assert_eq!(app.balance(Some(&seller), "usd").await, (0, 0));

    // Input refused by validation stores nothing: the key is free for the corrected request.
    let invalid = app.graphql(TRANSFER, transfer(0, "pay-2")).await;
    assert_eq!(error_code(&invalid), "INVALID_REQUEST", "{invalid}");
    let accepted = app.graphql(TRANSFER, transfer(700, "pay-2")).await;
    assert_no_errors(&accepted);
    assert_eq!(app.balance(None, "usd").await, (300, 0));
    assert_eq!(app.balance(Some(&seller), "usd").await, (700, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn idempotency_keys_expire_after_their_retention() {
    let app = spawn_app().await;
    let first = app
        .graphql(
            TOPUP,
            json!({"amount": 700, "currency": "usd", "key": "order-9"}),
        )
        .await;
    assert_no_errors(&first);
    app.advance_days(6).await;
    let conflict = app
        .graphql(
            TOPUP,
            json!({"amount": 701, "currency": "usd", "key": "order-9"}),
        )
        .await;
    assert_eq!(error_code(&conflict), "IDEMPOTENCY_CONFLICT", "{conflict}");
    // Seven days after its first use the key is deleted and may name a new request.
    app.advance_days(1).await;
    let second = app
        .graphql(
            TOPUP,
            json!({"amount": 701, "currency": "usd", "key": "order-9"}),
        )
        .await;
    assert_no_errors(&second);
    assert_ne!(
        first["data"]["createTopup"]["id"],
        second["data"]["createTopup"]["id"]
    );
    assert_eq!(second["data"]["createTopup"]["amount"]["amount"], 701);
}

#[tokio::test]
async fn a_retention_under_a_day_is_refused() {
    let temp = tempfile::tempdir().expect("temp");
    let settings = tollgate::config::Settings {
        idempotency_retention_hours: 23,
        ..tollgate::config::Settings::new(temp.path().join("data"), crate::helpers::policies_dir())
    };
    match tollgate::app::Application::build(settings) {
        Err(error) => assert_eq!(
            error.to_string(),
            "idempotency keys must be kept 24 to 87840 hours, not 23"
        ),
        Ok(_) => panic!("a retention of 23 hours was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_check_is_consistent_under_write_load() {
    const WRITERS: usize = 8;
    const TOPUPS_PER_WRITER: usize = 25;
    let app = std::sync::Arc::new(spawn_app().await);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..TOPUPS_PER_WRITER {
                let body = app
                    .graphql(
                        TOPUP,
                        json!({"amount": 100 + n, "currency": "usd", "key": format!("w{writer}-{n}")}),
                    )
                    .await;
                assert_no_errors(&body);
            }
        }));
    }
    let mut checks = 0;
    while writers.iter().any(|writer| !writer.is_finished()) {
        let body = app
            .graphql("{ ledgerCheck { balanced entries violations } }", json!({}))
            .await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["ledgerCheck"]["violations"],
            json!([]),
            "{body}"
        );
        assert_eq!(body["data"]["ledgerCheck"]["balanced"], json!(true));
        checks += 1;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    println!(
        "{checks} ledger checks during {} top-ups",
        WRITERS * TOPUPS_PER_WRITER
    );
    assert!(checks > 0);
    let body = app
        .graphql(
            "{ ledgerCheck { balanced entries totals { currency debits credits } } }",
            json!({}),
        )
        .await;
    let total: usize = (0..TOPUPS_PER_WRITER).map(|n| 100 + n).sum::<usize>() * WRITERS;
    assert_eq!(
        body["data"]["ledgerCheck"],
        json!({"balanced": true, "entries": WRITERS * TOPUPS_PER_WRITER,
               "totals": [{"currency": "usd", "debits": total, "credits": total}]})
    );
}

/// Copies a data directory (the server is stopped) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for item in std::fs::read_dir(from).expect("read dir") {
        let item = item.expect("item");
        let target = to.join(item.file_name());
        if item.file_type().expect("type").is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).expect("copy");
        }
    }
}

async fn topups(app: &TestApp, range: std::ops::Range<u64>) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        let body = app
            .graphql(
                TOPUP,
                json!({"amount": n, "currency": "usd", "key": format!("t{n}")}),
            )
            .await;
        assert_no_errors(&body);
        ids.push(
            body["data"]["createTopup"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    ids
}

/// Starts `tollgate serve` on a data directory and returns its exit status and output,
/// killing it if it is still serving after a bound.
async fn serve_refusal(data: &Path) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--simulated-clock",
            "--data",
        ])
        .arg(data)
        .arg("--policies")
        .arg(crate::helpers::policies_dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("the server should refuse the store, not serve it")
        .expect("run serve");
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `tollgate verify` and `tollgate serve` both refuse the copy with a message containing
/// one of `expected`, with a normal failure exit (1), never a panic's (101).
async fn assert_refused(data: &Path, expected: &[&str]) -> String {
    let (passed, output) = run_verify(data);
    assert!(!passed, "verify passed a tampered copy: {output}");
    assert!(
        expected.iter().any(|phrase| output.contains(phrase)),
        "verify said: {output}"
    );
    let (code, served) = serve_refusal(data).await;
    assert_eq!(code, Some(1), "{served}");
    assert!(
        expected.iter().any(|phrase| served.contains(phrase)),
        "serve said: {served}"
    );
    output
}

/// Flips one bit in every stored copy of `needle` in the store's `db` file.
fn flip_every(data: &Path, needle: &[u8]) -> usize {
    let path = data.join("db");
    let mut bytes = std::fs::read(&path).expect("read db");
    let mut flipped = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .windows(needle.len())
        .position(|window| window == needle)
    {
        let position = at + found + needle.len() - 1;
        bytes[position] ^= 0x01;
        flipped += 1;
        at = position + 1;
    }
    std::fs::write(&path, bytes).expect("write db");
    flipped
}

/// The last bytes of the stored journal entry of `source` (its compressed body's tail,
/// found nowhere else in the files), read through the store of a stopped server.
fn stored_entry_tail(data: &Path, platform: &str, source: &str) -> Vec<u8> {
    let (store, writer) = tollgate::store::Store::open(data).expect("open");
    let mut entry_id = None;
    store
        .for_each_entry(Some(platform), |entry| {
            if entry.source_id == source {
                entry_id = Some(entry.id.to_string());
            }
        })
        .expect("entries");
    let key = tollgate::store::Key::entry(platform, &entry_id.expect("the top-up's entry"));
    let stored = store.get_raw(&key).expect("read").expect("stored entry");
    store.close();
    writer.join();
    stored[stored.len() - 16..].to_vec()
}

#[tokio::test]
async fn tampered_copies_of_a_data_dir_are_refused_by_verify_and_startup() {
    // It copies, truncates and flips bits in sled's files and its high-water record.
    if crate::helpers::skipped_on_postgres(
        "tampered_copies_of_a_data_dir_are_refused_by_verify_and_startup",
    ) {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let data: PathBuf = temp.path().join("data");
    let app = start(data.clone(), None).await;
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    let platform_id = app.platform_id.clone();
    topups(&app, 1..11).await;
    app.stop().await;
    let early = temp.path().join("early");
    copy_dir(&data, &early);
    let app = start(data.clone(), Some(platform)).await;
    let ids = topups(&app, 11..31).await;
    app.stop().await;

    let (passed, output) = run_verify(&data);
    assert!(passed, "{output}");
    assert!(
        output.contains("chain: entries #1 to #30 linked"),
        "{output}"
    );

    // The last twenty entries deleted: the store of ten entries with the record of thirty.
    let shortened = temp.path().join("shortened");
    copy_dir(&early, &shortened);
    std::fs::copy(
        data.join(tollgate::store::HIGH_WATER_FILE),
        shortened.join(tollgate::store::HIGH_WATER_FILE),
    )
    .expect("copy record");
    let message = assert_refused(
        &shortened,
        &["has lost acknowledged commits: its ledger ends at entry #10 but entries up to #30 were acknowledged; entry #11 is the first missing"],
    )
    .await;
    println!("deleted last entries: {message}");

    // The db file cut to a third of its size.
    let truncated = temp.path().join("truncated");
    copy_dir(&data, &truncated);
    let db = truncated.join("db");
    let length = std::fs::metadata(&db).expect("size").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .and_then(|file| file.set_len(length / 3))
        .expect("truncate");
    let message = assert_refused(
        &truncated,
        &[
            "has lost acknowledged commits",
            "is damaged",
            "files are damaged",
        ],
    )
    .await;
    println!("truncated to a third: {message}");

    // One bit flipped in every stored copy of one top-up's journal entry.
    let flipped = temp.path().join("flipped");
    let needle = stored_entry_tail(&data, &platform_id, &ids[5]);
    copy_dir(&data, &flipped);
    assert!(flip_every(&flipped, &needle) > 0);
    let message = assert_refused(
        &flipped,
        &[
            "files are damaged",
            "is damaged",
            "was altered",
            "has lost acknowledged commits",
        ],
    )
    .await;
    println!("flipped byte: {message}");

    // The high-water record removed.
    let unrecorded = temp.path().join("unrecorded");
    copy_dir(&data, &unrecorded);
    std::fs::remove_file(unrecorded.join(tollgate::store::HIGH_WATER_FILE)).expect("remove");
    assert_refused(&unrecorded, &["the high-water record"]).await;

    // The original still passes.
    let (passed, output) = run_verify(&data);
    assert!(passed, "{output}");
}
