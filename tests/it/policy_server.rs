//! Policies inside the running server: a hostile script fails its own platform's charges
//! with POLICY_ERROR while other platforms keep being served, and a file replaced while
//! charges are priced gives each charge wholly the old or wholly the new version.

use std::path::Path;

use serde_json::json;

use crate::charges_support::{create_charge, CHARGE_FIELDS};
use crate::helpers::{assert_no_errors, error_code, spawn_app_with_policies};
use tollgate::service::platforms::NewPlatform;

/// A policies folder: the shipped gateway and default policies, plus `extra` files.
fn policies_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp policies");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in [
        "gateway.rhai",
        "gateway.test.rhai",
        "default.rhai",
        "marketplace.rhai",
        "marketplace.test.rhai",
    ] {
        std::fs::copy(shipped.join(name), folder.path().join(name)).expect("copy policy");
    }
    for (name, source) in extra {
        std::fs::write(folder.path().join(name), source).expect("write policy");
    }
    folder
}

/// Replaces a file the way the README says to: write a temporary file, rename it into place.
fn replace(path: &Path, source: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, source).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

#[tokio::test]
async fn hostile_policies_fail_their_own_charges_and_the_server_keeps_serving() {
    let hostile = [
        (
            "looping.rhai",
            "fn application_fee(charge) {\n    loop { }\n}\n",
        ),
        (
            "throwing.rhai",
            "fn application_fee(charge) {\n    throw \"no fee for you\";\n}\n",
        ),
        (
            "greedy.rhai",
            "fn application_fee(charge) {\n    charge.amount + 1\n}\n",
        ),
        (
            "stringy.rhai",
            "fn application_fee(charge) {\n    \"ten\"\n}\n",
        ),
        ("negative.rhai", "fn application_fee(charge) {\n    -5\n}\n"),
    ];
    let folder = policies_with(&hostile);
    let app = spawn_app_with_policies(folder.path().to_path_buf(), "marketplace").await;
    let mut hostile_keys = Vec::new();
    for (file, _) in hostile {
        let name = file.trim_end_matches(".rhai");
        let created = app
            .services
            .create_platform(NewPlatform {
                name: format!("{name} platform"),
                country: "US".into(),
                default_currency: Some("usd".into()),
                policy: Some(name.into()),
            })
            .await
            .expect("platform");
        hostile_keys.push((name, created.secret_key));
    }
    let query = format!("mutation($input: CreateChargeInput!) {{ createCharge(input: $input) {{ {CHARGE_FIELDS} }} }}");
    let input = json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"});
    // A separate charge never asks `application_fee`, so even these platforms can take one;
    // a preview with an unknown destination is NOT_FOUND before any hook runs.
    for (name, key) in &hostile_keys {
        let body = app
            .graphql_as(
                key,
                None,
                "query($input: CreateChargeInput!) { previewCharge(input: $input) { applicationFee { amount } } }",
                json!({"input": {"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "transferData": {"destination": "acct_00000000000000000000000000"}}}),
            )
            .await;
        // The destination does not exist, so this is NOT_FOUND before any hook runs.
        assert_eq!(error_code(&body), "NOT_FOUND", "{name}: {body}");
        let body = app
            .graphql_as(key, None, &query, json!({"input": input}))
            .await;
        assert_no_errors(&body);
    }
    // Every hostile policy refuses its platform's destination charges with POLICY_ERROR,
    // naming the file, the hook and where, and nothing moves; meanwhile the marketplace
    // platform charges normally.
    let seller_for = |key: String| {
        let app = &app;
        async move {
            let body = app
                .graphql_as(
                    &key,
                    None,
                    crate::charges_support::CREATE_ACCOUNT,
                    json!({"type": "CUSTOM", "country": "US"}),
                )
                .await;
            let account = body["data"]["createAccount"]["id"]
                .as_str()
                .expect("id")
                .to_owned();
            assert_no_errors(
                &app.graphql_as(
                    &key,
                    None,
                    crate::charges_support::SUBMIT_DETAILS,
                    json!({"account": account}),
                )
                .await,
            );
            assert_no_errors(
                &app.graphql_as(
                    &key,
                    None,
                    crate::charges_support::ADD_BANK_ACCOUNT,
                    json!({"account": account}),
                )
                .await,
            );
            account
        }
    };
    for (name, key) in &hostile_keys {
        let seller = seller_for(key.clone()).await;
        let body = app
            .graphql_as(
                key,
                None,
                &query,
                json!({"input": {"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "transferData": {"destination": seller}}}),
            )
            .await;
        assert_eq!(error_code(&body), "POLICY_ERROR", "{name}: {body}");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(extensions["policy"], format!("{name}.rhai"), "{body}");
        assert_eq!(extensions["hook"], "application_fee", "{body}");
        assert!(extensions["line"].as_u64().is_some(), "{body}");
        let balance = app
            .graphql_as(key, None, "{ balance { pending { amount } } }", json!({}))
            .await;
        assert_eq!(
            balance["data"]["balance"]["pending"][0]["amount"],
            1000 - 59,
            "only the separate charge moved: {balance}"
        );
        let seller = seller_for(app.secret_key.clone()).await;
        let body = create_charge(
            &app,
            None,
            json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "transferData": {"destination": seller}}),
        )
        .await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["createCharge"]["pricing"]["policy"],
            "marketplace"
        );
    }
    app.assert_ledger_balanced().await;
}

const FLAT_V1: &str = "fn application_fee(charge) {\n    100\n}\n";
const FLAT_V2: &str = "fn application_fee(charge) {\n    200\n}\n";
const FLAT_TESTS_V1: &str =
    "fn test_flat() {\n    assert_eq(application_fee(charge(#{amount: 1000})), 100);\n}\n";
const FLAT_TESTS_V2: &str =
    "fn test_flat() {\n    assert_eq(application_fee(charge(#{amount: 1000})), 200);\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_replaced_while_charges_are_priced_prices_each_wholly_by_one_version() {
    let folder = policies_with(&[("flat.rhai", FLAT_V1), ("flat.test.rhai", FLAT_TESTS_V1)]);
    let app = spawn_app_with_policies(folder.path().to_path_buf(), "flat").await;
    let seller = crate::charges_support::enabled_account(&app, "CUSTOM").await;
    let old_version = app
        .services
        .policies
        .policy("flat")
        .expect("loaded")
        .version()
        .to_owned();
    let charge = |n: usize| {
        let app = &app;
        let seller = seller.clone();
        async move {
            let body = create_charge(
                app,
                None,
                json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa",
                       "transferData": {"destination": seller}, "idempotencyKey": format!("reload-{n}")}),
            )
            .await;
            assert_no_errors(&body);
            let pricing = &body["data"]["createCharge"]["pricing"];
            (
                pricing["version"].as_str().expect("version").to_owned(),
                pricing["applicationFee"]["amount"].as_i64().expect("fee"),
            )
        }
    };
    let path = folder.path().join("flat.rhai");
    let reload = async {
        // Tests first, so the new version passes its own tests when the policy changes.
        replace(&folder.path().join("flat.test.rhai"), FLAT_TESTS_V2);
        replace(&path, FLAT_V2);
        app.services.policies.reload_file(&path).expect("reload");
    };
    let charges = futures::future::join_all((0..60).map(charge));
    let (decisions, ()) = tokio::join!(charges, reload);
    let new_version = app
        .services
        .policies
        .policy("flat")
        .expect("loaded")
        .version()
        .to_owned();
    assert_ne!(old_version, new_version);
    for (version, fee) in &decisions {
        let expected = if *version == old_version { 100 } else { 200 };
        assert!(
            *version == old_version || *version == new_version,
            "{version}"
        );
        assert_eq!(*fee, expected, "version {version}");
    }
    // After the swap every charge uses the new version.
    assert_eq!(charge(1000).await, (new_version.clone(), 200));

    // A broken replacement leaves the new version in force and says why.
    replace(&path, "fn application_fee(charge) {\n    let x = ;\n}\n");
    assert!(app.services.policies.reload_file(&path).is_err());
    let body = app
        .graphql(
            "{ platform { policy { name version lastError } } }",
            json!({}),
        )
        .await;
    let policy = &body["data"]["platform"]["policy"];
    assert_eq!(policy["name"], "flat");
    assert_eq!(policy["version"], json!(new_version));
    let last_error = policy["lastError"].as_str().expect("lastError");
    assert!(
        last_error.contains("flat.rhai") && last_error.contains("line 2"),
        "{last_error}"
    );
    assert_eq!(charge(1001).await, (new_version.clone(), 200));
    // The exact script that priced a charge can be read back by its version.
    let body = create_charge(
        &app,
        None,
        json!({"amount": 500, "currency": "usd", "paymentMethod": "pm_card_visa", "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { pricing { version source } } }",
            json!({"id": body["data"]["createCharge"]["id"]}),
        )
        .await;
    assert_eq!(body["data"]["charge"]["pricing"]["source"], FLAT_V2);
    app.assert_ledger_balanced().await;
}
