//! Two servers over one store, as several stateless servers over one database: every
//! guarantee holds across them. Money moved through both at once is conserved; a payout run
//! both schedulers find due pays each account once; one idempotency key sent to both gives
//! one charge; each webhook attempt is sent once while both deliver; a clock moved through
//! one is the other's time; a hosted form one renders the other accepts; and a subscription
//! on one hears of events committed through the other.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::bank_workload;
use crate::charges_support::enabled_account;
use crate::connect_support::{field_value, Browser};
use crate::events_subscription::{next_json, subscribed};
use crate::helpers::{
    assert_no_errors, error_code, run_verify, spawn_app, spawn_app_with, start_second_server,
    TestApp, TOPUP,
};
use crate::payouts_support::{advance_to, pay_seller, payout, payouts_of, set_schedule};
use crate::webhooks_support::{create_endpoint, receiver, wait_for_deliveries, WAIT};
use tollgate::domain::webhooks::{DeliveryLease, WebhookDelivery};
use tollgate::ids::PlatformId;
use tollgate::store::{encode_object, Commit, Expect, Key, Write};

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("time")
}

fn platform_of(app: &TestApp) -> PlatformId {
    PlatformId::parse(&app.platform_id).expect("platform id")
}

/// Stops the second server, then the first (which owns the store's writer).
async fn stop_both(
    first: TestApp,
    second: TestApp,
) -> (std::path::PathBuf, Option<crate::helpers::TestDir>) {
    second.stop().await;
    first.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_moved_through_two_servers_at_once_is_conserved_and_verifies() {
    let bank = Arc::new(bank_workload::set_up(2).await);
    bank_workload::run(bank.clone()).await;
    let bank = Arc::try_unwrap(bank).unwrap_or_else(|_| panic!("the workload still runs"));
    let mut servers = bank.servers.into_iter();
    let (first, second) = (
        servers.next().expect("first"),
        servers.next().expect("second"),
    );
    let (data_dir, temp) = stop_both(first, second).await;
    let (verified, output) = run_verify(&data_dir);
    assert!(verified, "{output}");
    drop(temp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_run_both_schedulers_find_due_pays_each_account_once() {
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    advance_to(&first, "2027-03-01T12:00:00Z").await;
    let mut sellers = Vec::new();
    for index in 0..6 {
        let seller = enabled_account(&first, "EXPRESS").await;
        set_schedule(
            &first,
            &seller,
            json!({"interval": "DAILY", "delayDays": 2}),
        )
        .await;
        pay_seller(&first, &seller, 1_000 + 111 * index, "usd").await;
        sellers.push(seller);
    }
    // Wednesday: the funds are available, and Wednesday's run (23:59:59) is next.
    advance_to(&first, "2027-03-03T23:00:00Z").await;
    let platform = platform_of(&first);
    let after_the_run = time("2027-03-04T00:00:00Z");
    let (one, other) = tokio::join!(
        first
            .services
            .run_due_work_of(platform.as_ref(), after_the_run),
        second
            .services
            .run_due_work_of(platform.as_ref(), after_the_run),
    );
    one.expect("first scheduler");
    other.expect("second scheduler");

    advance_to(&second, "2027-03-08T00:00:00Z").await;
    for (index, seller) in sellers.iter().enumerate() {
        let amount = 1_000 + 111 * index as i64;
        assert_eq!(
            payouts_of(&first, seller).await,
            vec![payout(
                "2027-03-03T23:59:59Z",
                amount,
                "PAID",
                "2027-03-05T00:00:00Z"
            )],
            "{seller}"
        );
        assert_eq!(first.balance(Some(seller), "usd").await, (0, 0));
    }
    first.assert_ledger_balanced().await;
    stop_both(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_both_servers_at_once_makes_one_charge() {
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    let create = "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id amount { amount } status } }";
    let input = json!({"input": {"amount": 4_321, "currency": "usd", "paymentMethod": "pm_card_visa",
                                 "idempotencyKey": "order-17"}});
    let (one, other) = tokio::join!(
        first.graphql(create, input.clone()),
        second.graphql(create, input.clone()),
    );
    assert_no_errors(&one);
    assert_eq!(one, other);
    assert_eq!(one["data"]["createCharge"]["amount"]["amount"], 4_321);
    let listed = second
        .graphql("{ charges(first: 10) { nodes { id } } }", json!({}))
        .await;
    assert_no_errors(&listed);
    assert_eq!(
        listed["data"]["charges"]["nodes"],
        json!([{"id": one["data"]["createCharge"]["id"]}])
    );
    // The platform pays the processing fee on its own charge: 4 321 less 2.9% + 30.
    assert_eq!(first.balance(None, "usd").await, (0, 4_321 - 155));
    stop_both(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_webhook_attempt_is_sent_once_while_both_servers_deliver() {
    const EVENTS: i64 = 24;
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    let hooks = receiver(&[], 200).await;
    let (endpoint, _) = create_endpoint(&first, &hooks.url, &["topup.created"]).await;
    for index in 0..EVENTS {
        let through = if index % 2 == 0 { &first } else { &second };
        let body = through
            .graphql(TOPUP, json!({"amount": 100 + index, "currency": "usd"}))
            .await;
        assert_no_errors(&body);
        // Both workers look at the endpoint after every event, so both try to send its head.
        for server in [&first, &second] {
            server.services.webhooks.wake(&first.platform_id, &endpoint);
        }
    }
    wait_for_deliveries(&first, &endpoint, "every delivery acknowledged", |found| {
        found.len() == EVENTS as usize
            && found
                .iter()
                .all(|delivery| delivery["status"] == "SUCCEEDED")
    })
    .await;
    // An acknowledged delivery is never claimed again, so nothing more can be on its way.
    let hits = hooks.hits();
    let sent: Vec<String> = hits
        .iter()
        .map(|hit| hit.json()["id"].as_str().expect("event id").to_owned())
        .collect();
    let events: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(hits.len(), EVENTS as usize, "events sent: {sent:?}");
    assert_eq!(events.len(), EVENTS as usize);
    let amounts: BTreeSet<i64> = hits
        .iter()
        .map(|hit| {
            hit.json()["data"]["object"]["amount"]["amount"]
                .as_i64()
                .expect("amount")
        })
        .collect();
    assert_eq!(amounts, (100..100 + EVENTS).collect());
    stop_both(first, second).await;
}

/// Writes a claim on a delivery as a server that is gone would have left it.
async fn claim_as_a_gone_server(app: &TestApp, delivery: &str, until: DateTime<Utc>) {
    let found = app
        .services
        .store
        .get_object::<WebhookDelivery>(&app.platform_id, delivery)
        .expect("read")
        .expect("delivery");
    let claimed = WebhookDelivery {
        lease: Some(DeliveryLease {
            server: "srv_gone".into(),
            until,
        }),
        ..found.value
    };
    let mut commit = Commit::new(Some(platform_of(app)));
    commit.writes.push(Write::Object {
        key: Key::object(&app.platform_id, delivery),
        payload: encode_object(&claimed).expect("payload"),
        expect: Expect::Revision(found.revision),
    });
    app.services.store.commit(commit).await.expect("claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_server_that_died_runs_out_and_another_sends_the_attempt() {
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    let hooks = receiver(&[500], 200).await;
    let (endpoint, _) = create_endpoint(&first, &hooks.url, &["topup.created"]).await;
    assert_no_errors(
        &first
            .graphql(TOPUP, json!({"amount": 700, "currency": "usd"}))
            .await,
    );
    let failed = wait_for_deliveries(&first, &endpoint, "a failed attempt", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == 1)
    })
    .await;
    let delivery = failed[0]["id"].as_str().expect("delivery id").to_owned();
    // A server claimed the retry and died: its claim ran out a second ago.
    claim_as_a_gone_server(&first, &delivery, Utc::now() - chrono::Duration::seconds(1)).await;
    let body = second
        .graphql("mutation { advanceClock(input: {seconds: 60}) }", json!({}))
        .await;
    assert_no_errors(&body);
    let done = wait_for_deliveries(&second, &endpoint, "the retry acknowledged", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(done[0]["attempts"], 2);
    assert_eq!(hooks.count(), 2);
    stop_both(first, second).await;
}

#[tokio::test]
async fn a_clock_moved_through_one_server_is_the_time_of_the_other() {
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    advance_to(&first, "2028-02-10T09:00:00Z").await;
    assert_eq!(second.now(), time("2028-02-10T09:00:00Z"));
    let body = second
        .graphql(
            "mutation { createTopup(input: {amount: 500, currency: \"usd\"}) { created } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createTopup"]["created"],
        "2028-02-10T09:00:00Z"
    );
    // The other server's scheduler runs what that time makes due.
    let platform = platform_of(&first);
    let due = time("2028-02-10T08:59:59Z").timestamp_micros();
    let mut commit = Commit::new(None);
    commit.writes.push(Write::Raw {
        key: Key::timer(due, "release", platform.as_ref(), "nothing"),
        value: br#"{"balance_transactions":[]}"#.to_vec(),
    });
    first.services.store.commit(commit).await.expect("timer");
    assert_eq!(second.services.run_due_work().await.expect("run"), 1);
    // And it never moves the clock back.
    let body = second
        .graphql(
            "mutation { advanceClock(input: {to: \"2028-02-01T00:00:00Z\"}) }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
    stop_both(first, second).await;
}

#[tokio::test]
async fn a_sign_up_form_rendered_by_one_server_is_accepted_by_the_other() {
    let first = spawn_app().await;
    let second = start_second_server(&first, |_| {}).await;
    let mut browser = Browser::new();
    let page = browser
        .get(&format!("http://{}/signup", first.address))
        .await;
    assert_eq!(page.status, 200);
    let token = field_value(&page.html, "csrfToken").expect("token");
    let created = browser
        .post(
            &format!("http://{}/signup", second.address),
            &[
                ("csrfToken", &token),
                ("email", "both@example.com"),
                ("country", "US"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.html);
    assert!(created.html.contains("<code>sk_"), "{}", created.html);
    stop_both(first, second).await;
}

/// Makes top-ups of `amount` through `app` until the subscriber streams one; returns it.
async fn streamed_topup<S>(app: &TestApp, socket: &mut S, amount: i64) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, async {
        loop {
            assert_no_errors(
                &app.graphql(TOPUP, json!({"amount": amount, "currency": "usd"}))
                    .await,
            );
            if let Ok(message) =
                tokio::time::timeout(std::time::Duration::from_millis(500), next_json(socket)).await
            {
                return message;
            }
        }
    })
    .await
    .expect("an event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_on_one_server_hears_of_events_committed_through_the_other() {
    let first = spawn_app_with(|settings| settings.event_feed = true).await;
    let second = start_second_server(&first, |settings| settings.event_feed = true).await;
    let mut socket = subscribed(
        &format!("ws://{}/graphql/ws", second.address),
        &second.secret_key,
        "topup.created",
    )
    .await;
    let event = streamed_topup(&first, &mut socket, 321).await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["events"]["data"]["object"]["amount"]["amount"],
        321
    );
    // The server's own events stream too (top-ups of 321 made before the subscription was
    // live may still come first).
    let amount = |event: &Value| {
        event["payload"]["data"]["events"]["data"]["object"]["amount"]["amount"].as_i64()
    };
    let mut own = streamed_topup(&second, &mut socket, 654).await;
    while amount(&own) == Some(321) {
        own = next_json(&mut socket).await;
    }
    assert_eq!(amount(&own), Some(654), "{own}");
    drop(socket);
    stop_both(first, second).await;
}
