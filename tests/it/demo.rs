//! `serve --demo`: one demo platform, made once with data to explore, the same key on every
//! start, and GraphiQL with the key filled in.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_platform_is_made_once_with_data_and_its_key_prefilled() {
    let temp = tempfile::tempdir().expect("temp");
    let data = temp.path().join("data");
    let mut keys = Vec::new();
    for _start in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .envs(crate::helpers::store_env(&data))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut key = None;
        let url = loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("server exited");
            if let Some(found) = line.strip_prefix("demo platform secret key: ") {
                key = Some(found.to_owned());
            }
            if let Some(address) = line.strip_prefix("tollgate listening on ") {
                break address.to_owned();
            }
        };
        let key = key.expect("the key is printed before the server listens");
        let client = reqwest::Client::new();
        let page = client
            .get(format!("{url}/"))
            .send()
            .await
            .expect("graphiql")
            .text()
            .await
            .expect("html");
        assert!(
            page.contains(&format!("Bearer {key}")),
            "GraphiQL has the key in its headers"
        );
        let health = client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), 200);
        let body: Value = client
            .post(format!("{url}/graphql"))
            .bearer_auth(&key)
            .json(&json!({"query": "{ platform { name policy { name } } accounts { nodes { chargesEnabled } } charges(first: 20) { nodes { flow } } ledgerCheck { balanced } }"}))
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(
            body["data"]["platform"]["name"], "Demo Marketplace",
            "{body}"
        );
        assert_eq!(body["data"]["platform"]["policy"]["name"], "marketplace");
        assert_eq!(
            body["data"]["accounts"]["nodes"],
            json!([{"chargesEnabled": true}]),
            "one seller, once"
        );
        let flows: Vec<&str> = body["data"]["charges"]["nodes"]
            .as_array()
            .expect("charges")
            .iter()
            .map(|charge| charge["flow"].as_str().expect("flow"))
            .collect();
        assert_eq!(
            flows,
            vec!["SEPARATE", "DESTINATION", "DESTINATION", "DESTINATION"]
        );
        assert_eq!(body["data"]["ledgerCheck"]["balanced"], true);
        // --demo alone runs on the simulated clock, so the tour can move time.
        let moved: Value = client
            .post(format!("{url}/graphql"))
            .bearer_auth(&key)
            .json(&json!({"query": "mutation { advanceClock(input: {seconds: 60}) }"}))
            .send()
            .await
            .expect("advance")
            .json()
            .await
            .expect("json");
        assert!(moved.get("errors").is_none(), "{moved}");
        keys.push(key);
        child.start_kill().expect("kill");
        child.wait().await.expect("wait");
    }
    assert_eq!(keys[0], keys[1], "the same demo platform on every start");
}
