//! Reading charges back: lists, filters, `node`, the account's charges and transfers, and
//! the bounded number of store reads a page of 100 charges costs.

use serde_json::json;

use crate::charges_support::{create_charge, enabled_account};
use crate::helpers::{assert_no_errors, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_100_charges_with_accounts_and_transfers_reads_each_object_once() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let charges = (0..100).map(|n| {
        create_charge(
            &app,
            None,
            json!({"amount": 1000 + n, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 10,
                   "transferData": {"destination": seller}}),
        )
    });
    for body in futures::future::join_all(charges).await {
        assert_no_errors(&body);
    }
    let query = "{ charges(first: 100) { nodes { id amount { amount } destination { id type } transfers { id amount { amount } destination { id } } } } }";
    let before = app.services.store.read_count();
    let body = app.graphql(query, json!({})).await;
    let reads = app.services.store.read_count() - before;
    assert_no_errors(&body);
    let nodes = body["data"]["charges"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 100);
    assert!(nodes
        .iter()
        .all(|node| node["destination"]["id"] == json!(seller)));
    assert!(nodes
        .iter()
        .all(|node| node["transfers"][0]["amount"] == node["amount"]));
    // The index scan (1), the 100 charges and their 100 transfers, and the one destination
    // account once per DataLoader batch (one, or a few when the 100 resolvers span more than
    // one batch window) — not once per charge and per transfer, which would be 200 more.
    // Authentication reads the key and its platform (2) unless the key was authenticated
    // less than a second ago (the charges just made), when it reads nothing.
    let objects = 1 + 100 + 100;
    let authentication = 0..=2;
    assert!(
        (objects + 1 + authentication.start()..=objects + 5 + authentication.end())
            .contains(&reads),
        "{reads} reads"
    );
}

#[tokio::test]
async fn charges_transfers_and_fees_resolve_by_node_and_on_the_account() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 5000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 250,
               "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let charge = &body["data"]["createCharge"];
    let ids = [
        (charge["id"].clone(), "Charge"),
        (charge["transfers"][0]["id"].clone(), "Transfer"),
        (charge["applicationFee"]["id"].clone(), "ApplicationFee"),
    ];
    for (id, typename) in ids {
        let body = app
            .graphql(
                "query($id: ID!) { node(id: $id) { __typename id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            body["data"]["node"],
            json!({"__typename": typename, "id": id})
        );
    }
    let body = app
        .graphql(
            "query($a: ID!) { account(id: $a) { charges { nodes { id } } transfers { nodes { amount { amount } } } } charges(account: $a) { nodes { id } } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["account"]["charges"]["nodes"],
        json!([{"id": charge["id"]}])
    );
    assert_eq!(
        body["data"]["account"]["transfers"]["nodes"],
        json!([{"amount": {"amount": 5000}}])
    );
    assert_eq!(
        body["data"]["charges"]["nodes"],
        json!([{"id": charge["id"]}])
    );
    let (_, other_key) = app.second_platform().await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": charge["id"]}),
        )
        .await;
    assert_eq!(body["data"]["node"], json!(null));
    app.assert_ledger_balanced().await;
}
