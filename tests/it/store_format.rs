//! A store whose index keys are in the earlier text layout (written here by hand from the
//! store the server made) is upgraded when it opens: every list, cursor, lookup and event
//! answers exactly as before, and `tollgate verify` passes.

use serde_json::{json, Value};
use tollgate::store::Key;

use crate::charges_support::enabled_account;
use crate::helpers::{
    assert_no_errors, policies_dir, run_verify, spawn_app_with_policies, start_with, TestApp,
};

const CHARGES: &str = "query($after: String) {
  charges(first: 2, after: $after) {
    edges { cursor node { id amount { amount } status transfers { id } } }
    pageInfo { hasNextPage endCursor }
  }
}";

const TRANSACTIONS: &str = "query($account: ID!, $after: String) {
  all: balanceTransactions(first: 3, after: $after) {
    edges { cursor node { id type amount { amount } net { amount } status sourceId } }
    pageInfo { hasNextPage endCursor }
  }
  fees: balanceTransactions(first: 10, type: APPLICATION_FEE) { nodes { id net { amount } } }
  seller: balanceTransactions(first: 10, account: $account, type: PAYMENT) { nodes { id net { amount } } }
}";

const EVENTS: &str = "query($after: String) {
  events(first: 4, after: $after) {
    edges { cursor node { id type data { object previousAttributes } } }
    pageInfo { hasNextPage endCursor }
  }
  typed: events(first: 10, type: \"transfer.created\") { nodes { id } }
}";

const LOOKUPS: &str = "query($transaction: ID!, $event: ID!) {
  transaction: node(id: $transaction) {
    id ... on BalanceTransaction { type amount { amount } fee { amount } net { amount } status }
  }
  event: node(id: $event) { id ... on Event { type data { object } } }
}";

/// Every answer the test compares, and the cursors handed out.
async fn answers(app: &TestApp, seller: &str, cursors: &[Option<String>; 3]) -> Vec<Value> {
    let mut all = Vec::new();
    for (query, after) in [(CHARGES, &cursors[0]), (EVENTS, &cursors[2])] {
        all.push(app.graphql(query, json!({"after": after})).await);
    }
    let transactions = json!({"account": seller, "after": cursors[1]});
    all.push(app.graphql(TRANSACTIONS, transactions).await);
    for body in &all {
        assert_no_errors(body);
    }
    all
}

/// Rewrites every index key in the text layout of the earlier format and forgets the format,
/// as a store written by the earlier version holds them.
fn write_earlier_layout(data_dir: &std::path::Path) -> usize {
    if let Some(tollgate::store::StoreUrl::Postgres(url)) = crate::test_store::store_for(data_dir) {
        return write_earlier_layout_on_postgres(url.secret().to_owned());
    }
    let db = sled::open(data_dir).expect("sled");
    let mut batch = sled::Batch::default();
    let mut rewritten = 0;
    for item in db.scan_prefix(b"j") {
        let (key, value) = item.expect("item");
        let text = Key::describe(&key);
        let rest = text.strip_prefix('j').expect("an index key reads back");
        batch.remove(key);
        batch.insert(format!("i{rest}").as_bytes(), value);
        rewritten += 1;
    }
    batch.remove(b"mstore_format".as_slice());
    db.apply_batch(batch).expect("batch");
    db.flush().expect("flush");
    rewritten
}

/// How many keys of the stopped server's store over `data_dir` start with `first`.
fn keys_starting_with(data_dir: &std::path::Path, first: u8) -> usize {
    if let Some(tollgate::store::StoreUrl::Postgres(url)) = crate::test_store::store_for(data_dir) {
        let url = url.secret().to_owned();
        return std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            let row = client
                .query_one(
                    "SELECT count(*) FROM tollgate_kv WHERE substring(k from 1 for 1) = $1",
                    &[&vec![first]],
                )
                .expect("count");
            usize::try_from(row.get::<_, i64>(0)).expect("a count")
        })
        .join()
        .expect("the counting thread");
    }
    let reopened = sled::open(data_dir).expect("sled");
    reopened.scan_prefix([first]).count()
}

/// The same on PostgreSQL: every `j` key written back as `i` and its text, as the earlier
/// layout had them, and the format record deleted.
/// On a thread of its own: the synchronous client cannot run on a tokio thread.
fn write_earlier_layout_on_postgres(url: String) -> usize {
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let mut transaction = client.transaction().expect("begin");
        let rows = transaction
            .query(
                "SELECT k, v FROM tollgate_kv WHERE k >= '\\x6a'::bytea AND k < '\\x6b'::bytea",
                &[],
            )
            .expect("read the index keys");
        for row in &rows {
            let (key, value): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
            let text = Key::describe(&key);
            let rest = text.strip_prefix('j').expect("an index key reads back");
            transaction
                .execute("DELETE FROM tollgate_kv WHERE k = $1", &[&key])
                .and_then(|_| {
                    transaction.execute(
                        "INSERT INTO tollgate_kv (k, v) VALUES ($1, $2)",
                        &[&format!("i{rest}").into_bytes(), &value],
                    )
                })
                .expect("rewrite an index key");
        }
        let rewritten = rows.len();
        transaction
            .execute(
                "DELETE FROM tollgate_kv WHERE k = $1",
                &[&b"mstore_format".as_slice()],
            )
            .expect("delete the format record");
        transaction.commit().expect("commit");
        rewritten
    })
    .join()
    .expect("the rewriting thread")
}

#[tokio::test]
async fn a_store_with_the_earlier_index_layout_answers_exactly_as_before() {
    let app = spawn_app_with_policies(policies_dir(), "marketplace").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    for amount in [10_000, 2_500, 7_300] {
        let charged = app
            .graphql(
                "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
                json!({"input": {"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa",
                                 "transferData": {"destination": seller}}}),
            )
            .await;
        assert_no_errors(&charged);
    }
    let first_pages = answers(&app, &seller, &[None, None, None]).await;
    let cursors = [
        first_pages[0]["data"]["charges"]["pageInfo"]["endCursor"].clone(),
        first_pages[2]["data"]["all"]["pageInfo"]["endCursor"].clone(),
        first_pages[1]["data"]["events"]["pageInfo"]["endCursor"].clone(),
    ]
    .map(|cursor| cursor.as_str().map(str::to_owned));
    assert!(cursors.iter().all(Option::is_some), "{first_pages:?}");
    let second_pages = answers(&app, &seller, &cursors).await;
    let transaction = first_pages[2]["data"]["fees"]["nodes"][0]["id"].clone();
    let event = first_pages[1]["data"]["events"]["edges"][0]["node"]["id"].clone();
    let lookups = json!({"transaction": transaction, "event": event});
    let looked_up = app.graphql(LOOKUPS, lookups.clone()).await;
    assert_no_errors(&looked_up);
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;

    let rewritten = write_earlier_layout(&data_dir);
    assert!(rewritten > 60, "{rewritten} index keys");
    let app = start_with(data_dir.clone(), Some(platform), policies_dir(), None).await;
    assert_eq!(
        answers(&app, &seller, &[None, None, None]).await,
        first_pages
    );
    // Cursors handed out before the upgrade go on from where they were.
    assert_eq!(answers(&app, &seller, &cursors).await, second_pages);
    assert_eq!(app.graphql(LOOKUPS, lookups).await, looked_up);
    let _ = app.stop().await;

    assert_eq!(keys_starting_with(&data_dir, b'i'), 0);
    assert_eq!(keys_starting_with(&data_dir, b'j'), rewritten);
    let (passed, output) = run_verify(&data_dir);
    assert!(passed, "{output}");
    drop(temp);
}
