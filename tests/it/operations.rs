//! Running the server: request ids, keys in every accepted form, one NOT_FOUND for every
//! unknown id, health and readiness, Prometheus metrics, CORS, logs and the CLI's flags.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::charges_support::{create_charge, enabled_account};
use crate::helpers::{
    assert_no_errors, error_code, error_param, policies_dir, spawn_app, spawn_app_configured,
};

const PLATFORM_NAME: &str = "{ platform { name } }";

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_carry_it() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url())
        .bearer_auth(&app.secret_key)
        .json(&json!({"query": "{ charge(id: \"ch_0000000000000000000000000a\") { id } }"}))
        .send()
        .await
        .expect("send");
    let header = response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    assert!(header.starts_with("req_"), "{header}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        header.as_str()
    );

    // A caller's own well-formed id is kept; an unusable one is replaced.
    for (sent, kept) in [("trace-42.a_b", true), ("bad id with spaces", false)] {
        let response = app
            .client
            .post(app.url())
            .header("x-request-id", sent)
            .json(&json!({"query": PLATFORM_NAME}))
            .send()
            .await
            .expect("send");
        let returned = response.headers()["x-request-id"]
            .to_str()
            .expect("text")
            .to_owned();
        assert_eq!(returned == sent, kept, "{sent} -> {returned}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["requestId"],
            returned.as_str()
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_key_is_accepted_as_bearer_in_any_case_and_as_basic_user() {
    let app = spawn_app().await;
    let send = |authorization: String| {
        let request = app
            .client
            .post(app.url())
            .header("Authorization", authorization)
            .json(&json!({"query": PLATFORM_NAME}));
        async move {
            request
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    for authorization in [
        format!("Bearer {}", app.secret_key),
        format!("bearer {}", app.secret_key),
        format!("BEARER {}", app.secret_key),
    ] {
        let body = send(authorization).await;
        assert_eq!(body["data"]["platform"]["name"], "Test Platform", "{body}");
    }
    let body: Value = app
        .client
        .post(app.url())
        .basic_auth(&app.secret_key, Some(""))
        .json(&json!({"query": PLATFORM_NAME}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["platform"]["name"], "Test Platform", "{body}");
    let body: Value = app
        .client
        .post(app.url())
        .basic_auth("sk_not_a_key", None::<&str>)
        .json(&json!({"query": PLATFORM_NAME}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    app.stop().await;
}

/// The same id with its last character changed: well-formed, and nobody's.
fn unknown_like(id: &str) -> String {
    let (body, last) = id.split_at(id.len() - 1);
    format!("{body}{}", if last == "a" { "b" } else { "a" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unknown_or_foreign_id_is_not_found_naming_the_id() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = app
        .graphql(
            "mutation($a: ID!) { updatePayoutSchedule(input: {account: $a, interval: MANUAL}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    let charge = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "transferData": {"destination": seller}, "applicationFeeAmount": 500}),
    )
    .await;
    assert_no_errors(&charge);
    let charge_id = charge["data"]["createCharge"]["id"]
        .as_str()
        .expect("charge")
        .to_owned();
    let disputed = create_charge(
        &app,
        None,
        json!({"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
    )
    .await;
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { dispute { id } } }",
            json!({"id": disputed["data"]["createCharge"]["id"]}),
        )
        .await;
    let dispute = body["data"]["charge"]["dispute"]["id"]
        .as_str()
        .expect("dispute")
        .to_owned();
    let body = app
        .graphql(
            "mutation($c: ID!) { createRefund(input: {charge: $c, amount: 1000}) { id } }",
            json!({"c": charge_id}),
        )
        .await;
    assert_no_errors(&body);
    let refund = body["data"]["createRefund"]["id"]
        .as_str()
        .expect("refund")
        .to_owned();
    app.advance_days(3).await;
    let body = app
        .graphql(
            "mutation($a: ID!) { createPayout(input: {account: $a, amount: 1000, currency: \"usd\"}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    let payout = body["data"]["createPayout"]["id"]
        .as_str()
        .expect("payout")
        .to_owned();
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { transfers { id } applicationFee { id } } }",
            json!({"id": charge_id}),
        )
        .await;
    let transfer = body["data"]["charge"]["transfers"][0]["id"]
        .as_str()
        .expect("transfer")
        .to_owned();
    let fee = body["data"]["charge"]["applicationFee"]["id"]
        .as_str()
        .expect("fee")
        .to_owned();

    let lookups = [
        ("charge", charge_id.as_str()),
        ("transfer", transfer.as_str()),
        ("payout", payout.as_str()),
        ("refund", refund.as_str()),
        ("dispute", dispute.as_str()),
        ("applicationFee", fee.as_str()),
        ("account", seller.as_str()),
        ("node", charge_id.as_str()),
    ];
    let (_, other_key) = app.second_platform().await;
    for (field, id) in lookups {
        let query = format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}");
        let found = app.graphql(&query, json!({"id": id})).await;
        assert_eq!(found["data"][field]["id"], id, "{field}: {found}");
        let unknown = app.graphql(&query, json!({"id": unknown_like(id)})).await;
        let foreign = app
            .graphql_as(&other_key, None, &query, json!({"id": id}))
            .await;
        for body in [unknown, foreign] {
            assert_eq!(error_code(&body), "NOT_FOUND", "{field}: {body}");
            assert_eq!(error_param(&body), Some("id"), "{field}: {body}");
            assert_eq!(body["data"][field], Value::Null, "{field}: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let base = format!("http://{}", app.address);
    let health = app
        .client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(
        ready,
        json!({"ready": true, "writerAlive": true, "storeOpen": true,
               "policiesLoaded": ready["policiesLoaded"], "schedulerLagSeconds": 0})
    );
    assert!(ready["policiesLoaded"].as_u64().expect("count") >= 2);

    let body = app
        .graphql(
            r#"mutation { createTopup(input: {amount: 5000, currency: "usd"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let page = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/plain"));
    let page = page.text().await.expect("text");
    for metric in [
        "tollgate_http_requests_total{operation=\"createTopup\",status=\"200\"}",
        "tollgate_http_request_duration_seconds_bucket{operation=\"createTopup\",le=\"0.5\"}",
        "tollgate_writer_group_commits_bucket",
        "tollgate_writer_flush_seconds_bucket",
        "tollgate_writer_queue_depth",
        "tollgate_scheduler_lag_seconds 0",
    ] {
        assert!(page.contains(metric), "{metric} missing from:\n{page}");
    }
    app.stop().await;
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let app = spawn_app_configured(|settings| {
        settings.cors_origins = vec!["http://localhost:5173".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type,connect-account",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.expect("preflight");
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .expect("headers");
    assert!(headers.contains("authorization") && headers.contains("connect-account"));
    let refused = preflight("http://evil.example").await.expect("preflight");
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let response = app
        .client
        .post(app.url())
        .bearer_auth(&app.secret_key)
        .header("Origin", "http://localhost:5173")
        .json(&json!({"query": PLATFORM_NAME}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(
        response.headers()["access-control-expose-headers"],
        "x-request-id"
    );
    app.stop().await;

    let closed = spawn_app().await;
    let preflight = closed
        .client
        .request(reqwest::Method::OPTIONS, closed.url())
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    closed.stop().await;
}

/// Starts the binary with `args`; returns the child, its URL, and its stderr lines.
async fn serve(
    args: &[&str],
    environment: &[(&str, &str)],
) -> (
    tokio::process::Child,
    String,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    tempfile::TempDir,
) {
    let temp = tempfile::tempdir().expect("temp");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(temp.path().join("data"))
        .envs(crate::helpers::store_env(&temp.path().join("data")))
        .arg("--policies")
        .arg(policies_dir())
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in environment {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server starts")
            .expect("read")
            .expect("the server exited");
        if let Some(address) = line.strip_prefix("tollgate listening on ") {
            break address.to_owned();
        }
    };
    let errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, url, errors, temp)
}

/// Reads log lines until one contains `needle`.
async fn line_with(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    needle: &str,
) -> String {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a log line")
            .expect("read")
            .expect("the server exited");
        if line.contains(needle) {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_text_logs_have_no_colour_in_a_pipe() {
    let (mut child, url, mut lines, _temp) = serve(&["--log-format", "json"], &[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/graphql"))
        .header("x-request-id", "json-log-check")
        .json(&json!({"query": "query Who { platform { name } }"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let line = line_with(&mut lines, "json-log-check").await;
    let entry: Value = serde_json::from_str(&line).expect("one JSON object a line");
    assert_eq!(entry["span"]["request_id"], "json-log-check", "{entry}");
    assert_eq!(entry["target"], "tollgate::access", "{entry}");
    assert_eq!(entry["fields"]["status"], 401, "{entry}");
    assert_eq!(entry["fields"]["route"], "/graphql", "{entry}");
    child.start_kill().expect("kill");
    child.wait().await.expect("wait");

    let (mut child, url, mut lines, _temp) = serve(&[], &[("TOLLGATE_SIMULATED_CLOCK", "1")]).await;
    client
        .get(format!("{url}/healthz"))
        .header("x-request-id", "text-log-check")
        .send()
        .await
        .expect("healthz");
    let line = line_with(&mut lines, "text-log-check").await;
    assert!(!line.contains('\u{1b}'), "no colour codes: {line:?}");
    assert!(line.contains("route=\"/healthz\""), "{line}");
    child.start_kill().expect("kill");
    child.wait().await.expect("wait");
}

#[tokio::test]
async fn every_flag_has_help_and_policy_test_takes_a_file_name() {
    for command in [
        vec!["serve"],
        vec!["verify"],
        vec!["platform", "create"],
        vec!["policy", "test"],
        vec!["policy", "check"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&command)
            .arg("-h")
            .output()
            .expect("help");
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).expect("utf-8");
        let mut flags = 0;
        let lines: Vec<&str> = help.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_flag_or_argument =
                trimmed.starts_with('-') || trimmed.starts_with('<') || trimmed.starts_with('[');
            let indented = line.starts_with("  ") && !line.starts_with("          ");
            if !(is_flag_or_argument && indented) {
                continue;
            }
            flags += 1;
            let has_text = trimmed
                .split("  ")
                .filter(|part| !part.trim().is_empty())
                .count()
                > 1;
            // Long descriptions go on the next line, indented further.
            let next_is_text = lines.get(index + 1).is_some_and(|next| {
                next.starts_with("          ") && !next.trim_start().starts_with('-')
            });
            assert!(
                has_text || next_is_text,
                "{command:?}: no help for {trimmed}\n{help}"
            );
        }
        assert!(flags >= 2, "{command:?}: {help}");
    }
    let policies = policies_dir();
    for argument in ["marketplace", "marketplace.rhai", "marketplace.test.rhai"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["policy", "test", argument, "--policies"])
            .arg(&policies)
            .output()
            .expect("policy test");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{argument}: {report}");
        assert!(
            report.contains("marketplace.test.rhai"),
            "{argument}: {report}"
        );
    }
    let path = policies.join("marketplace.rhai");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["policy", "test"])
        .arg(&path)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("policy test by path");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn graphql_over_http_media_types_and_request_errors() {
    let app = spawn_app().await;
    let send = |accept: &'static str, query: &'static str| {
        app.client
            .post(app.url())
            .bearer_auth(&app.secret_key)
            .header("Accept", accept)
            .json(&json!({"query": query}))
            .send()
    };
    for (accept, status, content_type, has_data) in [
        (
            "application/graphql-response+json",
            400,
            "application/graphql-response+json",
            false,
        ),
        ("application/json", 200, "application/json", true),
        ("*/*", 200, "application/json", true),
    ] {
        for query in ["{ platform { name ", "{ noSuchField }"] {
            let response = send(accept, query).await.expect("send");
            assert_eq!(response.status(), status, "{accept} {query}");
            assert!(response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with(content_type));
            let body: Value = response.json().await.expect("json");
            assert_eq!(
                body.get("data").is_some(),
                has_data,
                "{accept} {query}: {body}"
            );
            assert_eq!(error_code(&body), "INVALID_REQUEST");
        }
        let ok = send(accept, PLATFORM_NAME).await.expect("send");
        assert_eq!(ok.status(), 200);
        assert!(ok.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with(content_type));
    }
    let plain = app
        .client
        .post(app.url())
        .bearer_auth(&app.secret_key)
        .header("Content-Type", "text/plain")
        .body(json!({"query": PLATFORM_NAME}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(plain.status(), 415);
    app.stop().await;
}
