//! The webhook commands: `tollgate webhook verify` checks a signature as a receiver would;
//! `tollgate listen` forwards the platform's events to a local URL, signed with a session
//! secret it prints; `tollgate trigger` fires an event.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{assert_no_errors, spawn_app, TOPUP};
use crate::webhooks_support::{receiver, signed_by, WAIT};

fn verify(
    secret: &str,
    header: &str,
    body_file: &std::path::Path,
    extra: &[&str],
) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "webhook",
            "verify",
            "--secret",
            secret,
            "--header",
            header,
            "--body-file",
        ])
        .arg(body_file)
        .args(extra)
        .output()
        .expect("run webhook verify");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn webhook_verify_checks_secret_body_and_age() {
    let temp = tempfile::tempdir().expect("temp");
    let body_file = temp.path().join("body.json");
    let body = r#"{"id":"evt_1","type":"charge.succeeded"}"#;
    std::fs::write(&body_file, body).expect("write");
    let now = chrono::Utc::now().timestamp();
    let secrets = ["whsec_new", "whsec_old"];
    let header =
        tollgate::service::webhook_client::signature_header(&secrets, now, body).expect("sign");
    assert_eq!(
        verify("whsec_new", &header, &body_file, &[]),
        (true, "signature verified\n".into())
    );
    assert!(verify("whsec_old", &header, &body_file, &[]).0);
    let (passed, output) = verify("whsec_other", &header, &body_file, &[]);
    assert!(!passed);
    assert_eq!(
        output,
        "signature NOT verified: no v1 signature matches the body signed with this secret\n"
    );
    let old = tollgate::service::webhook_client::signature_header(&secrets, now - 600, body)
        .expect("sign");
    assert!(!verify("whsec_new", &old, &body_file, &[]).0);
    assert!(verify("whsec_new", &old, &body_file, &["--tolerance", "900"]).0);
    std::fs::write(&body_file, format!("{body} ")).expect("write");
    assert!(!verify("whsec_new", &header, &body_file, &[]).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_one_event_end_to_end() {
    let app = spawn_app().await;
    let hooks = receiver(&[], 200).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "listen",
            "--forward-to",
            &hooks.url,
            "--key",
            &app.secret_key,
            "--url",
        ])
        .arg(format!("http://{}", app.address))
        .args(["--events", "topup.created"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn listen");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("ready in time")
        .expect("read")
        .expect("a line");
    let secret = ready
        .split_whitespace()
        .find(|word| word.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret in {ready:?}"))
        .to_owned();
    // The subscription starts right after the line is printed; a top-up made before it is
    // live would be missed, so keep making them until one arrives.
    let mut made = Vec::new();
    let delivered = tokio::time::timeout(WAIT, async {
        loop {
            let body = app
                .graphql(TOPUP, json!({"amount": 555, "currency": "usd"}))
                .await;
            assert_no_errors(&body);
            made.push(body["data"]["createTopup"]["id"].clone());
            if tokio::time::timeout(Duration::from_millis(500), hooks.wait_for(1))
                .await
                .is_ok()
            {
                return;
            }
        }
    })
    .await;
    assert!(delivered.is_ok(), "nothing forwarded");
    let hit = hooks.hits()[0].clone();
    assert!(
        signed_by(&secret, &hit.signature, &hit.body),
        "{}",
        hit.signature
    );
    let event = hit.json();
    assert_eq!(event["type"], "topup.created");
    assert!(made.contains(&event["data"]["object"]["id"]), "{event}");
    assert_eq!(event["data"]["object"]["amount"]["amount"], 555);
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a delivery line")
        .expect("read")
        .expect("line");
    assert!(line.contains("topup.created"), "{line}");
    assert!(line.contains(event["id"].as_str().expect("id")), "{line}");
    assert!(line.ends_with("--> 200"), "{line}");
    child.start_kill().expect("kill");
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_fires_the_event_it_names() {
    let app = spawn_app().await;
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "trigger",
            "topup.created",
            "--key",
            &app.secret_key,
            "--url",
        ])
        .arg(format!("http://{}", app.address))
        .output()
        .await
        .expect("run trigger");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body = app
        .graphql(
            "{ events(type: \"topup.created\") { nodes { data { object } } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["events"]["nodes"].as_array().expect("events");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["data"]["object"]["amount"]["amount"], 2000);
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["trigger", "charge.succeded", "--key", &app.secret_key])
        .output()
        .await
        .expect("run trigger");
    assert!(!output.status.success());
}
