//! Starting with a policy that does not load: one that does not compile, one whose file is
//! missing, one that fails its tests. Only the platforms priced by them are disabled (their
//! charges get POLICY_ERROR carrying the load error, and `Platform.policy.lastError` says
//! why); every other platform is served as before, and nothing falls back to `default`.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, error_code, start_with, TOPUP};
use tollgate::service::platforms::NewPlatform;

const FEE_POLICY: &str = "fn application_fee(charge) {\n    100\n}\n";
/// A file that no longer compiles: the closing brace is gone.
const BROKEN_POLICY: &str = "fn application_fee(charge) {\n    100\n";
/// A hook returning a string: the host refuses it, so its own test fails at startup.
const STRING_FEE_POLICY: &str = "fn application_fee(charge) {\n    \"8%\"\n}\n";
const STRING_FEE_TEST: &str =
    "fn test_fee() {\n    assert_eq(application_fee(charge(#{amount: 1000})), \"8%\");\n}\n";

const CHARGE: &str = "mutation($a: ID!) { createCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\", transferData: {destination: $a}}) { id applicationFee { amount { amount } } pricing { policy } } }";
const POLICY: &str = "{ platform { policy { name version lastError } } }";

fn policies() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp policies");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in ["gateway.rhai", "gateway.test.rhai", "default.rhai"] {
        std::fs::copy(shipped.join(name), folder.path().join(name)).expect("copy policy");
    }
    for name in ["fees", "broken", "gone", "stringy"] {
        std::fs::write(folder.path().join(format!("{name}.rhai")), FEE_POLICY).expect("write");
    }
    folder
}

async fn new_platform(app: &crate::helpers::TestApp, policy: &str) -> (String, String) {
    let created = app
        .services
        .create_platform(NewPlatform {
            name: format!("{policy} platform"),
            country: "US".into(),
            default_currency: Some("usd".into()),
            policy: Some(policy.into()),
        })
        .await
        .expect("platform");
    (created.id, created.secret_key)
}

/// A CUSTOM account able to receive transfers, on the platform of `key`.
async fn seller(app: &crate::helpers::TestApp, key: &str) -> String {
    crate::payouts_support::custom_account(app, key, "US", "usd", "000123456789").await
}

fn policy_error_message(body: &Value) -> String {
    assert_eq!(error_code(body), "POLICY_ERROR", "{body}");
    body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

#[tokio::test]
async fn a_policy_that_does_not_load_at_startup_disables_only_its_platforms() {
    let folder = policies();
    let data = tempfile::tempdir().expect("temp data");
    let app = start_with(
        data.path().join("data"),
        None,
        folder.path().to_path_buf(),
        Some("fees".into()),
    )
    .await;
    let working = (app.platform_id.clone(), app.secret_key.clone());
    let broken = new_platform(&app, "broken").await;
    let gone = new_platform(&app, "gone").await;
    let stringy = new_platform(&app, "stringy").await;
    let mut sellers = Vec::new();
    for (_, key) in [&working, &broken, &gone, &stringy] {
        sellers.push(seller(&app, key).await);
    }
    let (data_dir, _temp) = app.stop().await;

    std::fs::write(folder.path().join("broken.rhai"), BROKEN_POLICY).expect("break");
    std::fs::remove_file(folder.path().join("gone.rhai")).expect("remove");
    std::fs::write(folder.path().join("stringy.rhai"), STRING_FEE_POLICY).expect("write");
    std::fs::write(folder.path().join("stringy.test.rhai"), STRING_FEE_TEST).expect("write");
    let app = start_with(
        data_dir,
        Some(working.clone()),
        folder.path().to_path_buf(),
        None,
    )
    .await;

    // The platform whose policy loaded is served as before.
    let body = app
        .graphql_as(&working.1, None, CHARGE, json!({"a": sellers[0]}))
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createCharge"]["applicationFee"]["amount"]["amount"],
        json!(100)
    );
    assert_eq!(
        body["data"]["createCharge"]["pricing"]["policy"],
        json!("fees")
    );
    let status = app.graphql_as(&working.1, None, POLICY, json!({})).await;
    assert_eq!(
        status["data"]["platform"]["policy"]["lastError"],
        Value::Null
    );

    // Each disabled platform's charge fails with the load error, never priced by default.
    let cases = [
        (&broken, &sellers[1], "broken", "broken.rhai, line"),
        (&gone, &sellers[2], "gone", "there is no gone.rhai"),
        (&stringy, &sellers[3], "stringy", "application_fee returned"),
    ];
    for ((_, key), seller, name, reason) in cases {
        let body = app
            .graphql_as(key, None, CHARGE, json!({"a": seller}))
            .await;
        let message = policy_error_message(&body);
        assert!(message.contains(reason), "{name}: {message}");
        assert_eq!(
            body["errors"][0]["extensions"]["policy"],
            json!(format!("{name}.rhai")),
            "{body}"
        );
        let status = app.graphql_as(key, None, POLICY, json!({})).await;
        assert_no_errors(&status);
        let policy = &status["data"]["platform"]["policy"];
        assert_eq!(policy["name"], json!(name), "{status}");
        assert_eq!(policy["version"], json!(""), "{status}");
        let last_error = policy["lastError"].as_str().expect("lastError");
        assert!(last_error.contains(reason), "{name}: {last_error}");
        // What needs no policy still works for the disabled platform.
        let body = app
            .graphql_as(key, None, TOPUP, json!({"amount": 500, "currency": "usd"}))
            .await;
        assert_no_errors(&body);
    }
    println!(
        "broken policy at startup: {}",
        policy_error_message(
            &app.graphql_as(&broken.1, None, CHARGE, json!({"a": sellers[1]}))
                .await
        )
    );
    app.assert_ledger_balanced().await;
}
