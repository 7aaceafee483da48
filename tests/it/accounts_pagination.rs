//! Listing accounts: Relay pages of at most 100, newest first, no duplicates or gaps, and a
//! filter by type.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::accounts_support::create_account;
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};

const PAGE: &str = "query($first: Int, $after: String, $type: AccountType) {
  accounts(first: $first, after: $after, type: $type) { nodes { id type } pageInfo { hasNextPage hasPreviousPage endCursor } }
}";

/// Every account id of a listing, page by page; also the page sizes.
async fn walk(app: &TestApp, account_type: Option<&str>) -> (Vec<String>, Vec<usize>) {
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .graphql(
                PAGE,
                json!({"first": 100, "after": after, "type": account_type}),
            )
            .await;
        assert_no_errors(&body);
        let page = &body["data"]["accounts"];
        let nodes = page["nodes"].as_array().expect("nodes");
        sizes.push(nodes.len());
        ids.extend(
            nodes
                .iter()
                .map(|node| node["id"].as_str().expect("id").to_owned()),
        );
        assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some());
        if page["pageInfo"]["hasNextPage"] != Value::Bool(true) {
            return (ids, sizes);
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn two_hundred_fifty_accounts_page_without_duplicates_or_gaps() {
    let app = spawn_app().await;
    let creations = (0..250).map(|index| {
        let account_type = if index % 2 == 0 { "STANDARD" } else { "CUSTOM" };
        create_account(
            &app,
            json!({"type": account_type, "country": "US", "businessType": "COMPANY"}),
        )
    });
    let mut created = BTreeSet::new();
    for body in join_all(creations).await {
        assert_no_errors(&body);
        created.insert(
            body["data"]["createAccount"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(created.len(), 250);

    let (ids, sizes) = walk(&app, None).await;
    assert_eq!(sizes, [100, 100, 50]);
    let listed: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(listed, created, "every account exactly once");
    assert_eq!(ids.len(), 250);
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);

    let (custom, sizes) = walk(&app, Some("CUSTOM")).await;
    assert_eq!(sizes, [100, 25]);
    let (standard, _) = walk(&app, Some("STANDARD")).await;
    assert_eq!(standard.len(), 125);
    assert!(custom.iter().all(|id| !standard.contains(id)));
    let (express, sizes) = walk(&app, Some("EXPRESS")).await;
    assert_eq!((express.len(), sizes), (0, vec![0]));

    for first in [101, 0, -1] {
        let body = app.graphql(PAGE, json!({"first": first})).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{first}");
        assert_eq!(error_param(&body), Some("first"));
    }
    let body = app.graphql(PAGE, json!({"after": "not a cursor!"})).await;
    assert_eq!(error_param(&body), Some("after"));
    app.assert_ledger_balanced().await;
}
