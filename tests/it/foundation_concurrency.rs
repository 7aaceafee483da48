//! 200 concurrent top-ups over HTTP, all acknowledged; after a restart every one is there
//! exactly once and `tollgate verify` passes.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{assert_no_errors, run_verify, spawn_app, start, TOPUP};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_topups_survive_a_restart() {
    let app = spawn_app().await;
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    let requests = (1..=200).map(|n| {
        let app = &app;
        async move {
            let body = app
                .graphql(
                    TOPUP,
                    json!({"amount": n, "currency": "usd", "key": format!("concurrent-{n}")}),
                )
                .await;
            assert_no_errors(&body);
            body["data"]["createTopup"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    });
    let ids: Vec<String> = futures::future::join_all(requests).await;
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 200);
    let expected_total: i64 = (1..=200).sum();
    assert_eq!(app.balance(None, "usd").await, (0, expected_total));

    let (data_dir, temp) = app.stop().await;
    let restarted = start(data_dir.clone(), Some(platform)).await;
    assert_eq!(restarted.balance(None, "usd").await, (0, expected_total));
    for (n, id) in ids.iter().enumerate().step_by(17) {
        let body = restarted
            .graphql(
                "query($id: ID!) { node(id: $id) { ... on Topup { id amount { amount } } } }",
                json!({"id": id}),
            )
            .await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["node"]["amount"]["amount"], json!(n + 1));
    }
    let body = restarted
        .graphql("{ ledgerCheck { balanced entries } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["ledgerCheck"],
        json!({"balanced": true, "entries": 200})
    );
    let (data_dir, _temp_again) = restarted.stop().await;
    let (passed, output) = run_verify(&data_dir);
    assert!(passed, "verify failed: {output}");
    assert!(output.contains("200 entries: balanced"), "{output}");
    drop(temp);
}
