//! No silent truncation: lists, payout runs and policy events read every page they need,
//! and a scan asked for more than the store's page fails loudly instead of returning less.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::charges_support::create_charge;
use crate::helpers::{assert_no_errors, spawn_app, spawn_app_with_policies, TestApp};
use crate::payouts_support::{advance_to, custom_account, payouts_of, set_schedule};
use tollgate::ids::{AccountId, PaymentId, PlatformId, TopupId};
use tollgate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, Holder, LineSpec};
use tollgate::money::{Currency, MinorUnits};
use tollgate::service::platforms::NewPlatform;
use tollgate::service::Draft;
use tollgate::store::{StoreError, MAX_SCAN_ITEMS};

/// More than the 5,000 items the earlier scans stopped at.
const MANY: usize = 5_100;
/// Entries per commit when filling the store directly (four items each).
const ENTRIES_PER_COMMIT: usize = 500;

/// Commits `count` entries of `amount` each, available at once, straight to the store:
/// top-ups on the platform, or payments to `account`.
async fn fill(app: &TestApp, account: Option<&AccountId>, count: usize, amount: i64) {
    let services = &app.services;
    let platform = PlatformId::parse(&app.platform_id).expect("platform");
    let usd = Currency::parse("usd").expect("usd");
    let each = MinorUnits::new(amount).expect("amount");
    let mut left = count;
    while left > 0 {
        let now = app.now();
        let mut draft = Draft::new(&platform, now);
        for _ in 0..left.min(ENTRIES_PER_COMMIT) {
            let (kind, source, holder, transaction_type, from) = match account {
                None => {
                    let id: TopupId = services.ids.next();
                    (
                        EntryKind::Topup,
                        id.to_string(),
                        Holder::Platform(platform.clone()),
                        BalanceTransactionType::Topup,
                        Holder::Bank,
                    )
                }
                Some(account) => {
                    let id: PaymentId = services.ids.next();
                    (
                        EntryKind::Transfer,
                        id.to_string(),
                        Holder::Account(account.clone()),
                        BalanceTransactionType::Payment,
                        Holder::CardNetwork,
                    )
                }
            };
            let mut entry = EntryBuilder::new(&services.ids, &platform, kind, &source, now);
            entry
                .line(LineSpec {
                    holder,
                    transaction_type,
                    source_id: source.clone(),
                    currency: usd,
                    amount: each,
                    fee_details: Vec::new(),
                    available_on: None,
                    description: None,
                })
                .expect("line");
            entry.system(from, usd, MinorUnits::new(-amount).expect("minus amount"));
            draft.entry(entry.build().expect("entry")).expect("drafted");
        }
        services.store.commit(draft.commit).await.expect("commit");
        left -= left.min(ENTRIES_PER_COMMIT);
    }
}

/// Every node of a balance-transaction list filtered by type, following `endCursor`; returns
/// the nodes' types and the number of pages read.
async fn all_of_type(app: &TestApp, transaction_type: &str) -> (Vec<String>, usize) {
    let mut types = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let body = app
            .graphql(
                "query($t: BalanceTransactionType, $after: String) { balanceTransactions(first: 100, type: $t, after: $after) { nodes { type } pageInfo { hasNextPage endCursor } } }",
                json!({"t": transaction_type, "after": after}),
            )
            .await;
        assert_no_errors(&body);
        pages += 1;
        let list = &body["data"]["balanceTransactions"];
        for node in list["nodes"].as_array().expect("nodes") {
            types.push(node["type"].as_str().expect("type").to_owned());
        }
        if list["pageInfo"]["hasNextPage"] != json!(true) {
            return (types, pages);
        }
        after = list["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn a_list_filtered_by_type_finds_a_rare_type_behind_thousands_of_others() {
    let app = spawn_app().await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_no_errors(&body);
    fill(&app, None, MANY, 1).await;

    let (charges, pages) = all_of_type(&app, "CHARGE").await;
    assert_eq!((charges, pages), (vec!["CHARGE".to_owned()], 1));
    let (topups, pages) = all_of_type(&app, "TOPUP").await;
    assert_eq!(topups.len(), MANY);
    assert!(topups.iter().all(|kind| kind == "TOPUP"));
    assert_eq!(pages, MANY.div_ceil(100));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn the_payout_run_holds_back_every_recent_credit_however_many() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = custom_account(&app, &app.secret_key, "US", "usd", "000123456789").await;
    set_schedule(&app, &seller, json!({"interval": "MANUAL"})).await;
    let account = AccountId::parse(&seller).expect("account");
    // 10000 old enough to pay out on 10 March; then 5,100 credits of one unit from that day,
    // which a 7-business-day delay still holds.
    fill(&app, Some(&account), 1, 10_000).await;
    advance_to(&app, "2027-03-10T12:00:00Z").await;
    fill(&app, Some(&account), MANY, 1).await;
    assert_eq!(app.balance(Some(&seller), "usd").await, (10_000 + 5_100, 0));
    set_schedule(&app, &seller, json!({"interval": "DAILY", "delayDays": 7})).await;
    advance_to(&app, "2027-03-11T00:00:00Z").await;
    let payouts = payouts_of(&app, &seller).await;
    assert_eq!(
        payouts.iter().map(|payout| payout.1).collect::<Vec<_>>(),
        vec![10_000],
        "{payouts:?}"
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (5_100, 0));
    app.assert_ledger_balanced().await;
}

const FLAT: &str = "fn application_fee(charge) {\n    100\n}\n";
const FLAT_TESTS: &str =
    "fn test_flat() {\n    assert_eq(application_fee(charge(#{amount: 1000})), 100);\n}\n";

async fn policy_events(app: &TestApp) -> Vec<Value> {
    let body = app
        .graphql(
            "{ events(first: 10, type: \"policy.updated\") { nodes { data { object } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["events"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_reaches_its_platform_behind_a_thousand_newer_ones() {
    let folder = tempfile::tempdir().expect("policies");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in ["gateway.rhai", "gateway.test.rhai", "default.rhai"] {
        std::fs::copy(shipped.join(name), folder.path().join(name)).expect("copy");
    }
    std::fs::write(folder.path().join("flat.rhai"), FLAT).expect("policy");
    std::fs::write(folder.path().join("flat.test.rhai"), FLAT_TESTS).expect("tests");
    let app = spawn_app_with_policies(folder.path().to_path_buf(), "flat").await;
    // The app's platform is the oldest of 1,001: the server's list reads newest first.
    let newer = (0..1000).map(|n| {
        app.services.create_platform(NewPlatform {
            name: format!("Platform {n}"),
            country: "US".into(),
            default_currency: None,
            policy: None,
        })
    });
    for created in futures::future::join_all(newer).await {
        created.expect("platform");
    }

    let path = folder.path().join("flat.rhai");
    std::fs::write(
        folder.path().join("flat.test.rhai"),
        FLAT_TESTS.replace("100", "200"),
    )
    .expect("tests");
    std::fs::write(&path, FLAT.replace("100", "200")).expect("policy");
    app.services.policies.reload_file(&path).expect("reload");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = policy_events(&app).await;
    while events.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        events = policy_events(&app).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["object"]["policy"], "flat");
}

#[tokio::test]
async fn a_scan_asked_for_more_than_a_page_fails_instead_of_returning_less() {
    let app = spawn_app().await;
    let asked =
        app.services
            .store
            .scan_index(&app.platform_id, "charges", None, MAX_SCAN_ITEMS + 1);
    assert_eq!(
        asked,
        Err(StoreError::ScanTooLarge {
            limit: MAX_SCAN_ITEMS + 1
        })
    );
    assert_eq!(
        app.services
            .store
            .scan_index(&app.platform_id, "charges", None, MAX_SCAN_ITEMS),
        Ok(Vec::new())
    );
}

#[tokio::test]
async fn a_store_written_before_the_type_index_lists_every_type_after_a_restart() {
    let app = spawn_app().await;
    let body = app
        .graphql(
            crate::helpers::TOPUP,
            json!({"amount": 700, "currency": "usd"}),
        )
        .await;
    assert_no_errors(&body);
    let body = app
        .graphql(
            "{ balanceTransactions(first: 5) { nodes { id } } }",
            json!({}),
        )
        .await;
    let transaction = body["data"]["balanceTransactions"]["nodes"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // As an earlier version left it: no by-type index, no record of the upgrade.
    let platform = PlatformId::parse(&app.platform_id).expect("platform");
    let index = tollgate::service::holder_type_index(
        &Holder::Platform(platform.clone()),
        BalanceTransactionType::Topup,
    );
    let mut draft = Draft::system(app.now());
    draft.delete(tollgate::store::Key::index(
        &app.platform_id,
        &index,
        &transaction,
    ));
    draft.delete(tollgate::store::Key::new(
        tollgate::store::Keyspace::Meta,
        "migrated:balance_transaction_type_index",
    ));
    app.services
        .store
        .commit(draft.commit)
        .await
        .expect("commit");
    assert_eq!(all_of_type(&app, "TOPUP").await, (vec![], 1));

    let (platform_id, secret_key) = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;
    let app = crate::helpers::start(data_dir, Some((platform_id, secret_key))).await;
    assert_eq!(
        all_of_type(&app, "TOPUP").await,
        (vec!["TOPUP".to_owned()], 1)
    );
    app.stop().await;
    drop(temp);
}
