//! Timers never block each other: a timer whose work fails is retried with backoff and after
//! `MAX_TIMER_ATTEMPTS` set aside with a `timer.failed` event; a key that cannot be read is
//! set aside at once; every other timer runs on time either way.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, spawn_app, TestApp, TOPUP};
use tollgate::config::{MAX_TIMER_ATTEMPTS, TIMER_RETRY_BASE_SECONDS};
use tollgate::ids::PlatformId;
use tollgate::service::Draft;
use tollgate::store::{Key, Keyspace};

/// How long one `advanceClock` may take before the test calls it stuck.
const ADVANCE_DEADLINE: Duration = Duration::from_secs(30);

async fn write_raw(app: &TestApp, key: &Key, value: &[u8]) {
    let platform = PlatformId::parse(&app.platform_id).expect("platform");
    let mut draft = Draft::new(&platform, app.now());
    draft.raw(key.clone(), value.to_vec());
    app.services
        .store
        .commit(draft.commit)
        .await
        .expect("commit");
}

async fn advance_seconds(app: &TestApp, seconds: i64) -> Value {
    let advance = app.graphql(
        "mutation($s: Int!) { advanceClock(input: {seconds: $s}) }",
        json!({ "s": seconds }),
    );
    let body = tokio::time::timeout(ADVANCE_DEADLINE, advance)
        .await
        .expect("advanceClock returned");
    assert_no_errors(&body);
    body
}

/// Every timer of the app's platform that is still to run, as its key's text.
fn pending_timers(app: &TestApp) -> Vec<String> {
    app.services
        .store
        .due_timers(&app.platform_id, i64::MAX, 1000)
        .expect("timers")
        .into_iter()
        .map(|(key, _)| key.rest().to_owned())
        .collect()
}

async fn failed_timer_events(app: &TestApp) -> Vec<Value> {
    let body = app
        .graphql(
            "{ events(first: 10, type: \"timer.failed\") { nodes { type data { object } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["events"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["data"]["object"].clone())
        .collect()
}

#[tokio::test]
async fn a_failing_timer_is_retried_with_backoff_then_set_aside_and_never_blocks_the_others() {
    let app = spawn_app().await;
    // A release due before everything else whose payload cannot be decoded: it fails on
    // every attempt.
    let broken_due = app.now().timestamp_micros();
    let broken = Key::timer(broken_due, "release", &app.platform_id, "broken");
    write_raw(&app, &broken, b"not a release").await;
    let body = app
        .graphql(TOPUP, json!({"amount": 5000, "currency": "usd"}))
        .await;
    assert_no_errors(&body);

    // The top-up's funds are released on time although the broken timer failed first.
    app.advance_days(3).await;
    assert_eq!(app.balance(None, "usd").await, (5000, 0));
    let first_failure = app.now();
    let retry_due = first_failure + chrono::Duration::seconds(TIMER_RETRY_BASE_SECONDS);
    let retry = Key::timer(
        retry_due.timestamp_micros(),
        "release#1",
        &app.platform_id,
        "broken",
    );
    assert!(
        pending_timers(&app).contains(&retry.rest().to_owned()),
        "{:?}",
        pending_timers(&app)
    );
    assert_eq!(app.services.store.get_raw(&broken).expect("read"), None);

    // Each later attempt waits twice as long: 60 s, 120 s, 240 s, 480 s.
    for attempt in 2..=MAX_TIMER_ATTEMPTS {
        assert!(failed_timer_events(&app).await.is_empty());
        let wait = TIMER_RETRY_BASE_SECONDS << (attempt - 2);
        // Not due one second early…
        advance_seconds(&app, wait - 1).await;
        assert!(pending_timers(&app)
            .iter()
            .any(|key| key.ends_with(&format!("/release#{}/broken", attempt - 1))));
        // …and tried again when due.
        advance_seconds(&app, 1).await;
    }
    let parked = failed_timer_events(&app).await;
    assert_eq!(
        parked,
        vec![json!({"kind": "release", "subject": "broken", "attempts": MAX_TIMER_ATTEMPTS})]
    );
    assert!(
        !pending_timers(&app)
            .iter()
            .any(|key| key.contains("broken")),
        "{:?}",
        pending_timers(&app)
    );

    // Later work still runs, and the set-aside timer never runs again.
    let body = app
        .graphql(TOPUP, json!({"amount": 700, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    app.advance_days(3).await;
    assert_eq!(app.balance(None, "usd").await, (5700, 0));
    assert_eq!(failed_timer_events(&app).await.len(), 1);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn an_unreadable_timer_key_is_set_aside_and_the_run_ends() {
    let app = spawn_app().await;
    let due = tollgate::store::timer_stamp(app.now().timestamp_micros());
    // No kind and subject; an attempt count that is not a number.
    let unreadable = [
        Key::new(Keyspace::Timer, &format!("{}/{due}", app.platform_id)),
        Key::new(
            Keyspace::Timer,
            &format!("{}/{due}/release#many/x", app.platform_id),
        ),
    ];
    for key in &unreadable {
        write_raw(&app, key, b"{}").await;
    }
    let body = app
        .graphql(TOPUP, json!({"amount": 1200, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    advance_seconds(&app, 3 * 86_400).await;
    assert_eq!(app.balance(None, "usd").await, (1200, 0));
    for key in &unreadable {
        assert_eq!(app.services.store.get_raw(key).expect("read"), None);
        assert_eq!(
            app.services.store.get_raw(&key.parked()).expect("read"),
            Some(b"{}".to_vec())
        );
    }
    assert!(
        pending_timers(&app)
            .iter()
            .all(|key| key.contains("payout_run")),
        "{:?}",
        pending_timers(&app)
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn timers_of_the_earlier_due_first_layout_are_rewritten_when_the_store_opens() {
    let app = spawn_app().await;
    let due = app.now().timestamp_micros();
    let earlier = Key::new(
        Keyspace::Timer,
        &format!(
            "{}/release/{}/ent_1/{due}",
            tollgate::store::timer_stamp(due),
            app.platform_id
        ),
    );
    write_raw(&app, &earlier, br#"{"balance_transactions":[]}"#).await;
    let (platform, secret_key) = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;

    let app = crate::helpers::start(data_dir, Some((platform.clone(), secret_key))).await;
    let rewritten = Key::timer(due, "release", &platform, &format!("ent_1/{due}"));
    assert_eq!(app.services.store.get_raw(&earlier).expect("read"), None);
    assert_eq!(
        app.services.store.get_raw(&rewritten).expect("read"),
        Some(br#"{"balance_transactions":[]}"#.to_vec())
    );
    // And it runs on the platform's clock like any other.
    advance_seconds(&app, 1).await;
    assert_eq!(app.services.store.get_raw(&rewritten).expect("read"), None);
    assert!(failed_timer_events(&app).await.is_empty());
    app.stop().await;
    drop(temp);
}
