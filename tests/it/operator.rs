//! Running beside a live server: the operator API creates platforms, proves the ledger and
//! takes consistent backups while requests keep coming, and `restore` brings one back.

use serde_json::{json, Value};

use crate::helpers::{
    assert_no_errors, run_verify, spawn_app, spawn_app_configured, start, TestApp, TOPUP,
};

const OPERATOR_KEY: &str = "operator-key-for-the-tests";

async fn operator_status(app: &TestApp, authorization: Option<&str>) -> u16 {
    let mut request = app
        .client
        .post(format!("http://{}/operator/graphql", app.address))
        .json(&json!({"query": "{ verifyLedger { balanced } }"}));
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn the_operator_api_is_off_without_a_key_and_answers_only_to_it() {
    let app = spawn_app().await;
    assert_eq!(
        operator_status(&app, Some(&format!("Bearer {OPERATOR_KEY}"))).await,
        404
    );
    app.stop().await;

    let app =
        spawn_app_configured(|settings| settings.operator_key = Some(OPERATOR_KEY.into())).await;
    assert_eq!(operator_status(&app, None).await, 401);
    let platform_key = format!("Bearer {}", app.secret_key);
    assert_eq!(operator_status(&app, Some(&platform_key)).await, 401);
    assert_eq!(
        operator_status(&app, Some(&format!("Bearer {OPERATOR_KEY}x"))).await,
        401
    );
    assert_eq!(
        operator_status(&app, Some(&format!("bearer {OPERATOR_KEY}"))).await,
        200
    );
    let backup = app
        .client
        .get(format!("http://{}/operator/backup", app.address))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .expect("backup");
    assert_eq!(backup.status(), 401);
    // A platform key never reaches the operator schema, nor the operator key the API.
    let body = app
        .graphql_as(OPERATOR_KEY, None, "{ platform { id } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    app.stop().await;
}

fn tollgate(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .envs(crate::helpers::store_env_of_args(args))
        .env_remove("TOLLGATE_OPERATOR_KEY")
        .env_remove("TOLLGATE_SERVER")
        .output()
        .expect("run tollgate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn topups(app: &TestApp, key: &str) -> Vec<i64> {
    let body = app
        .graphql_as(
            key,
            None,
            "{ balanceTransactions(first: 100, type: TOPUP) { nodes { amount { amount } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["balanceTransactions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["amount"]["amount"].as_i64().expect("amount"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platforms_are_created_verified_and_backed_up_while_serving() {
    let app =
        spawn_app_configured(|settings| settings.operator_key = Some(OPERATOR_KEY.into())).await;
    let server = format!("http://{}", app.address);

    let (passed, out, errors) =
        tollgate(&["verify", "--data", app.data_dir.to_str().expect("path")]);
    if crate::helpers::on_postgres() {
        // Servers and commands share a database: verify proves it beside a running server.
        assert!(passed, "{out}{errors}");
    } else {
        // sled's files are the running server's: the offline commands say how to reach it.
        assert!(!passed);
        assert!(errors.contains("--server"), "{errors}");
    }

    let (passed, out, errors) = tokio::task::spawn_blocking({
        let server = server.clone();
        move || {
            tollgate(&[
                "platform",
                "create",
                "--server",
                &server,
                "--operator-key",
                OPERATOR_KEY,
                "--name",
                "Live Market",
                "--country",
                "US",
                "--policy",
                "marketplace",
            ])
        }
    })
    .await
    .expect("join");
    assert!(passed, "{out}{errors}");
    let created: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let key = created["secretKey"].as_str().expect("key").to_owned();
    assert!(created["id"].as_str().expect("id").starts_with("plat_"));
    let body = app
        .graphql_as(
            &key,
            None,
            "{ platform { name policy { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["platform"],
        json!({"name": "Live Market", "policy": {"name": "marketplace"}})
    );

    let body = app
        .graphql_as(
            &key,
            None,
            TOPUP,
            json!({"amount": 1000, "currency": "usd"}),
        )
        .await;
    assert_no_errors(&body);

    // Top-ups keep arriving while the backup is taken: it holds a prefix of them, whole.
    let backup_dir = tempfile::tempdir().expect("temp");
    let backup_file = backup_dir.path().join("live.backup");
    let writes = {
        let client = app.client.clone();
        let url = app.url();
        let key = key.clone();
        tokio::spawn(async move {
            for amount in 1..=40 {
                let body: Value = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"query": TOPUP, "variables": {"amount": 100 + amount, "currency": "usd"}}))
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                assert_no_errors(&body);
            }
        })
    };
    let (passed, out, errors) = tokio::task::spawn_blocking({
        let server = server.clone();
        let file = backup_file.to_str().expect("path").to_owned();
        move || {
            tollgate(&[
                "backup",
                "--server",
                &server,
                "--operator-key",
                OPERATOR_KEY,
                "--to",
                &file,
            ])
        }
    })
    .await
    .expect("join");
    assert!(passed, "{out}{errors}");
    assert!(out.contains("records written"), "{out}");
    writes.await.expect("writes");

    let (passed, out, errors) = tokio::task::spawn_blocking({
        let server = server.clone();
        move || {
            tollgate(&[
                "verify",
                "--server",
                &server,
                "--operator-key",
                OPERATOR_KEY,
            ])
        }
    })
    .await
    .expect("join");
    assert!(passed, "{out}{errors}");
    assert!(out.contains("entries: balanced"), "{out}");
    let live_topups = topups(&app, &key).await;
    assert_eq!(live_topups.len(), 41);
    app.stop().await;

    let restored_dir = backup_dir.path().join("restored");
    let (passed, out, errors) = tollgate(&[
        "restore",
        "--from",
        backup_file.to_str().expect("path"),
        "--data",
        restored_dir.to_str().expect("path"),
    ]);
    assert!(passed, "{out}{errors}");
    assert!(
        out.contains("records restored") && out.contains("entries: balanced"),
        "{out}"
    );
    let (again, _, errors) = tollgate(&[
        "restore",
        "--from",
        backup_file.to_str().expect("path"),
        "--data",
        restored_dir.to_str().expect("path"),
    ]);
    assert!(!again && errors.contains("not empty"), "{errors}");

    let platform = created["id"].as_str().expect("id").to_owned();
    let restored = start(restored_dir.clone(), Some((platform, key.clone()))).await;
    let restored_topups = topups(&restored, &key).await;
    // Newest first: the restored list is the live one's oldest part, in the same order.
    assert!(!restored_topups.is_empty() && restored_topups.len() <= 41);
    assert_eq!(
        restored_topups[..],
        live_topups[live_topups.len() - restored_topups.len()..]
    );
    restored.assert_ledger_balanced().await;
    restored.stop().await;
    let (balanced, report) = run_verify(&restored_dir);
    assert!(balanced, "{report}");
}
