//! `tollgate migrate` (sled to sled, sled to PostgreSQL, an occupied target refused),
//! platforms spread over two shards, and a platform moved between shards: every balance, id
//! and verify report stays as it was.

use std::path::Path;

use serde_json::{json, Value};
use tollgate::store::postgres::scratch;
use tollgate::store::{PostgresUrl, Shards, Store, StoreLocation, StoreOptions, StoreUrl};

use crate::charges_support::{create_charge, enabled_account, transactions};
use crate::helpers::{assert_no_errors, policies_dir, settings_in, start, start_with_settings};
use crate::test_store::skipped_on_postgres;

/// Runs `tollgate` with `args`; returns success, stdout and stderr.
fn tollgate(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env_remove("TOLLGATE_STORE")
        .output()
        .expect("run tollgate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn sled(path: &Path) -> String {
    format!("sled:{}", path.display())
}

/// `tollgate verify`'s report (stdout) of one store.
fn verify_report(store: &str) -> String {
    let (ok, out, err) = tollgate(&["verify", "--store", store]);
    assert!(ok, "{out}{err}");
    out
}

/// A charge with an application fee to a connected account; returns the account and charge.
async fn business(app: &crate::helpers::TestApp) -> (String, String) {
    let seller = enabled_account(app, "CUSTOM").await;
    let body = create_charge(
        app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 123, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let charge = body["data"]["createCharge"]["id"]
        .as_str()
        .expect("charge id")
        .to_owned();
    (seller, charge)
}

/// Everything the tests compare: balances, transactions and the charge as the API shows them.
async fn snapshot(app: &crate::helpers::TestApp, seller: &str, charge: &str) -> Value {
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { id amount { amount } applicationFee { id amount { amount } } transfers { id amount { amount } } } }",
            json!({"id": charge}),
        )
        .await;
    assert_no_errors(&body);
    json!({
        "platform": app.balance(None, "usd").await,
        "seller": app.balance(Some(seller), "usd").await,
        "platform_transactions": transactions(app, None).await,
        "seller_transactions": transactions(app, Some(seller)).await,
        "charge": body["data"]["charge"],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_copies_a_ledger_into_a_new_sled_store_and_refuses_an_occupied_one() {
    if skipped_on_postgres("migrate sled to sled") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let source = temp.path().join("source");
    let app = start(source.clone(), None).await;
    let (seller, charge) = business(&app).await;
    let before = snapshot(&app, &seller, &charge).await;
    assert_eq!(before["platform"], json!([0, -197]), "{before}");
    assert_eq!(before["seller"], json!([0, 9877]), "{before}");
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    app.stop().await;
    let source_report = verify_report(&sled(&source));

    let target = temp.path().join("target");
    let (ok, out, err) = tollgate(&["migrate", "--from", &sled(&source), "--to", &sled(&target)]);
    assert!(ok, "{out}{err}");
    let (first, report) = out.split_once('\n').expect("two parts");
    assert!(
        first.ends_with(&format!(
            "records copied from sled in {} to sled in {}",
            source.display(),
            target.display()
        )),
        "{first}"
    );
    assert_eq!(report, source_report);
    assert!(report.contains("usd: debits "), "{report}");

    let app = start(target.clone(), Some(platform)).await;
    assert_eq!(snapshot(&app, &seller, &charge).await, before);
    app.stop().await;

    let (ok, out, err) = tollgate(&["migrate", "--from", &sled(&source), "--to", &sled(&target)]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!(
            "{} is not empty: migrate into a new data directory",
            target.display()
        )),
        "{err}"
    );
    // The refused target is left as it was.
    assert_eq!(verify_report(&sled(&target)), source_report);
}

/// The PostgreSQL server the tests may use, when it answers.
fn postgres_server(test: &str) -> Option<PostgresUrl> {
    let text = std::env::var("TOLLGATE_TEST_STORE")
        .ok()
        .filter(|text| text.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/".to_owned());
    let server: PostgresUrl = text.parse().expect("server url");
    if scratch::reachable(&server) {
        Some(server)
    } else {
        println!("{test}: skipped: PostgreSQL is not reachable at {server}");
        None
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_copies_a_sled_ledger_into_postgres() {
    if skipped_on_postgres("migrate sled to postgres") {
        return;
    }
    let Some(server) = postgres_server("migrate sled to postgres") else {
        return;
    };
    let name = format!(
        "{}{}_{:016x}",
        scratch::SCRATCH_PREFIX,
        std::process::id(),
        rand::random::<u64>()
    );
    let database = scratch::create_database(&server, &name).expect("database");
    let temp = tempfile::tempdir().expect("temp");
    let source = temp.path().join("source");
    let app = start(source.clone(), None).await;
    let (seller, charge) = business(&app).await;
    let before = snapshot(&app, &seller, &charge).await;
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    app.stop().await;
    let source_report = verify_report(&sled(&source));

    let (ok, out, err) = tollgate(&[
        "migrate",
        "--from",
        &sled(&source),
        "--to",
        database.secret(),
    ]);
    assert!(ok, "{out}{err}");
    let (_, report) = out.split_once('\n').expect("two parts");
    assert_eq!(report, source_report);

    let mut settings = settings_in(temp.path().join("unused"));
    settings.store = Some(StoreUrl::Postgres(database.clone()));
    let app = start_with_settings(settings, Some(platform), None).await;
    assert_eq!(snapshot(&app, &seller, &charge).await, before);
    app.stop().await;

    let (ok, _, err) = tollgate(&[
        "migrate",
        "--from",
        &sled(&source),
        "--to",
        database.secret(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("is not empty: migrate into a new database"),
        "{err}"
    );

    // And back: PostgreSQL to sled gives the same ledger again.
    let back = temp.path().join("back");
    let (ok, out, err) = tollgate(&["migrate", "--from", database.secret(), "--to", &sled(&back)]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.split_once('\n').expect("two parts").1, source_report);
    assert_eq!(verify_report(&sled(&back)), source_report);
    scratch::drop_database_now(&server, &name).expect("drop the test database");
}

/// Creates a platform through the command line over `stores`; returns its id and key.
fn create_platform_with_key(stores: &str, name: &str) -> (String, String) {
    let policies = policies_dir();
    let (ok, out, err) = tollgate(&[
        "platform",
        "create",
        "--name",
        name,
        "--country",
        "US",
        "--store",
        stores,
        "--policies",
        policies.to_str().expect("path"),
    ]);
    assert!(ok, "{out}{err}");
    let created: Value = serde_json::from_str(out.trim()).expect("json line");
    (
        created["id"].as_str().expect("id").to_owned(),
        created["secretKey"].as_str().expect("key").to_owned(),
    )
}

fn create_platform(stores: &str, name: &str) -> String {
    create_platform_with_key(stores, name).0
}

#[tokio::test(flavor = "multi_thread")]
async fn platforms_spread_over_two_shards_and_live_on_their_own_alone() {
    if skipped_on_postgres("two shards") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let (first, second) = (temp.path().join("a"), temp.path().join("b"));
    let stores = format!("{},{}", sled(&first), sled(&second));
    let platforms: Vec<String> = (0..4)
        .map(|index| create_platform(&stores, &format!("Platform {index}")))
        .collect();

    let locations = [
        StoreLocation::Sled(first.clone()),
        StoreLocation::Sled(second.clone()),
    ];
    let shards = Shards::open(&locations, &StoreOptions::default()).expect("open shards");
    // Fewest platforms first, the first shard on a tie: they alternate.
    let expected = [0, 1, 0, 1];
    let mut directory = shards.directory().expect("directory");
    directory.sort_by_key(|(platform, _)| platforms.iter().position(|p| p == platform));
    assert_eq!(
        directory,
        platforms.iter().cloned().zip(expected).collect::<Vec<_>>()
    );
    assert_eq!(shards.platform_counts().expect("counts"), vec![2, 2]);
    for (platform, shard) in platforms.iter().zip(expected) {
        assert_eq!(shards.shard_of(platform).expect("shard"), shard);
        for (number, store) in shards.stores().iter().enumerate() {
            let object = store.get_object::<Value>(platform, platform).expect("read");
            assert_eq!(object.is_some(), number == shard, "{platform} on {number}");
        }
    }
    for (number, store) in shards.stores().iter().enumerate() {
        let mut listed = store
            .scan_index("", "platforms", None, 10)
            .expect("platforms");
        listed.sort();
        let mut expected_here: Vec<String> = platforms
            .iter()
            .zip(expected)
            .filter(|(_, shard)| *shard == number)
            .map(|(platform, _)| platform.clone())
            .collect();
        expected_here.sort();
        assert_eq!(listed, expected_here);
    }
    shards.close();
    let (ok, out, err) = tollgate(&["verify", "--store", &stores]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("0 entries: balanced").count(), 2, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_moved_between_shards_keeps_every_balance_and_id() {
    if skipped_on_postgres("platform move") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let (first, second) = (temp.path().join("a"), temp.path().join("b"));
    let app = start(first.clone(), None).await;
    let (seller, charge) = business(&app).await;
    let before = snapshot(&app, &seller, &charge).await;
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    app.stop().await;
    let report_before = verify_report(&sled(&first));
    let chain_before = report_before.lines().next().expect("chain line").to_owned();
    let entries: u64 = report_before
        .lines()
        .last()
        .and_then(|line| line.split(' ').next())
        .and_then(|count| count.parse().ok())
        .expect("entry count");
    assert!(entries > 0, "{report_before}");
    let (store, writer) = Store::open(&second).expect("second shard");
    store.close();
    writer.join();

    let stores = format!("{},{}", sled(&first), sled(&second));
    let (ok, out, err) = tollgate(&[
        "platform",
        "move",
        &platform.0,
        "--to",
        "1",
        "--store",
        &stores,
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with(&format!("{}: {entries} entries and ", platform.0)),
        "{out}\nbefore the move:\n{report_before}"
    );
    // The source keeps its chain, every link departed; the target holds every entry.
    let source_part = out
        .split("shard 0 (")
        .nth(1)
        .and_then(|rest| rest.split("shard 1 (").next())
        .expect("source report");
    assert!(source_part.contains(&chain_before), "{out}");
    assert!(source_part.contains("\n0 entries: balanced"), "{out}");
    let target_part = out.split("shard 1 (").nth(1).expect("target report");
    assert!(
        target_part.contains(&format!("chain: entries #1 to #{entries} linked")),
        "{out}"
    );
    assert!(
        target_part.contains(&format!("{entries} entries: balanced")),
        "{out}"
    );
    assert_eq!(
        verify_report(&sled(&first)),
        source_part.split_once('\n').expect("lines").1
    );

    let shards = Shards::open(
        &[
            StoreLocation::Sled(first.clone()),
            StoreLocation::Sled(second.clone()),
        ],
        &StoreOptions::default(),
    )
    .expect("shards");
    assert_eq!(shards.shard_of(&platform.0).expect("shard"), 1);
    shards.close();

    let app = start(second.clone(), Some(platform.clone())).await;
    assert_eq!(snapshot(&app, &seller, &charge).await, before);
    app.assert_ledger_balanced().await;
    app.stop().await;

    // Moving it back restores the first shard's share.
    let (ok, out, err) = tollgate(&[
        "platform",
        "move",
        &platform.0,
        "--to",
        "0",
        "--store",
        &stores,
    ]);
    assert!(ok, "{out}{err}");
    let app = start(first.clone(), Some(platform)).await;
    assert_eq!(snapshot(&app, &seller, &charge).await, before);
    app.stop().await;
}

async fn graphql(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(url)
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json body")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_server_over_two_shards_sends_each_platform_to_its_shard() {
    if skipped_on_postgres("serving two shards") {
        return;
    }
    let temp = tempfile::tempdir().expect("temp");
    let (first, second) = (temp.path().join("a"), temp.path().join("b"));
    let stores = format!("{},{}", sled(&first), sled(&second));
    let platforms = [
        create_platform_with_key(&stores, "First"),
        create_platform_with_key(&stores, "Second"),
    ];
    let urls = [
        StoreUrl::Sled(first.clone()),
        StoreUrl::Sled(second.clone()),
    ];
    let application = tollgate::sharded::ShardedApplication::build(
        &settings_in(temp.path().join("unused")),
        &urls,
    )
    .expect("shards");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.serve(listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut accounts = Vec::new();
    let mut charges = Vec::new();
    for (index, (_, key)) in platforms.iter().enumerate() {
        let body = graphql(
            &client,
            &url,
            key,
            crate::charges_support::CREATE_ACCOUNT,
            json!({"type": "CUSTOM", "country": "US"}),
        )
        .await;
        assert_no_errors(&body);
        accounts.push(
            body["data"]["createAccount"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
        let amount = 1000 * (index as i64 + 1);
        let body = graphql(
            &client,
            &url,
            key,
            "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id amount { amount } } }",
            json!({"input": {"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa"}}),
        )
        .await;
        assert_no_errors(&body);
        charges.push(
            body["data"]["createCharge"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    // Each platform sees its own and not the other's.
    for (index, (_, key)) in platforms.iter().enumerate() {
        let body = graphql(
            &client,
            &url,
            key,
            "query($id: ID!) { charge(id: $id) { id amount { amount } } }",
            json!({"id": charges[index]}),
        )
        .await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["charge"]["amount"]["amount"],
            json!(1000 * (index as i64 + 1))
        );
        let other = graphql(
            &client,
            &url,
            key,
            "query($id: ID!) { charge(id: $id) { id } }",
            json!({"id": charges[1 - index]}),
        )
        .await;
        assert!(other["data"]["charge"].is_null(), "{other}");
    }
    // A hosted onboarding page carries no key: its path's platform picks the shard.
    let base = url.trim_end_matches("/graphql");
    for (_, key) in &platforms {
        let body = graphql(
            &client,
            &url,
            key,
            crate::charges_support::CREATE_ACCOUNT,
            json!({"type": "EXPRESS", "country": "US"}),
        )
        .await;
        assert_no_errors(&body);
        let express = body["data"]["createAccount"]["id"].as_str().expect("id");
        let body = graphql(
            &client,
            &url,
            key,
            crate::accounts_support::CREATE_LINK,
            json!({"input": {"account": express, "refreshUrl": crate::accounts_support::REFRESH_URL, "returnUrl": crate::accounts_support::RETURN_URL}}),
        )
        .await;
        assert_no_errors(&body);
        let link = body["data"]["createAccountLink"]["url"]
            .as_str()
            .expect("url");
        let path = &link[link.find("/onboarding/").expect("an onboarding path")..];
        let page = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), reqwest::StatusCode::OK, "{path}");
        // An Express login link names its platform; the dashboard after it does not, and
        // finds the session on the shard that opened it.
        let body = graphql(
            &client,
            &url,
            key,
            crate::express_dashboard::CREATE_LOGIN_LINK,
            json!({"a": express}),
        )
        .await;
        assert_no_errors(&body);
        let link = body["data"]["createLoginLink"]["url"]
            .as_str()
            .expect("url");
        let path = &link[link.find("/express/login/").expect("a login path")..];
        let browser = crate::accounts_support::browser();
        let login = browser
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), reqwest::StatusCode::SEE_OTHER, "{path}");
        let cookies: Vec<String> = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .map(str::to_owned)
            .collect();
        let dashboard = browser
            .get(format!("{base}/express/dashboard"))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .expect("dashboard");
        assert_eq!(dashboard.status(), reqwest::StatusCode::OK, "{cookies:?}");
    }
    let body = graphql(
        &client,
        &url,
        "sk_test_nobody",
        "{ balance { available { amount } } }",
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_some(), "{body}");
    // A subscription's key comes only in `connection_init`: the second shard's platform
    // still hears of its own charges.
    let streamed = subscribed_charge(base, &client, &url, &platforms[1].1).await;
    assert_eq!(streamed["type"], "next", "{streamed}");
    assert_eq!(
        streamed["payload"]["data"]["events"]["data"]["object"]["amount"]["amount"],
        json!(777)
    );
    let _ = stop.send(());
    server.await.expect("server task").expect("served");

    let locations = [
        StoreLocation::Sled(first.clone()),
        StoreLocation::Sled(second.clone()),
    ];
    let shards = Shards::open(&locations, &StoreOptions::default()).expect("shards");
    for (index, (platform, _)) in platforms.iter().enumerate() {
        assert_eq!(shards.shard_of(platform).expect("shard"), index);
        for (number, store) in shards.stores().iter().enumerate() {
            for id in [&accounts[index], &charges[index]] {
                let held = store
                    .get_object::<Value>(platform, id)
                    .expect("read")
                    .is_some();
                assert_eq!(held, number == index, "{id} on shard {number}");
            }
        }
    }
    shards.close();
    let (ok, out, err) = tollgate(&["verify", "--store", &stores]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("shard ").count(), 2, "{out}");
    assert_eq!(out.matches(" entries: balanced").count(), 2, "{out}");
}

/// Subscribes to `charge.succeeded` over a websocket that sends `key` only in
/// `connection_init`, then charges 7.77 through HTTP until the subscription streams one.
async fn subscribed_charge(base: &str, client: &reqwest::Client, url: &str, key: &str) -> Value {
    let wait = std::time::Duration::from_secs(30);
    let ws_url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
    let mut socket = crate::events_subscription::subscribed(&ws_url, key, "charge.succeeded").await;
    tokio::time::timeout(wait, async {
        loop {
            let body = graphql(
                client,
                url,
                key,
                "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
                json!({"input": {"amount": 777, "currency": "usd", "paymentMethod": "pm_card_visa"}}),
            )
            .await;
            assert_no_errors(&body);
            let streamed = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                crate::events_subscription::next_json(&mut socket),
            )
            .await;
            if let Ok(message) = streamed {
                return message;
            }
        }
    })
    .await
    .expect("an event")
}
