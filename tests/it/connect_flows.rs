//! Connect-by-authorization over HTTP, as a browser and a platform's back end would do it:
//! codes single-use and short-lived, each platform seeing only what it made with a
//! standalone account, disconnects from either side, and the money on the account.

use serde_json::json;

use crate::connect_support::{
    approved_code, charge, charge_ids, connect, own_available_usd, register_redirect_uri,
    standalone, us_platform, CONNECT,
};
use crate::helpers::{assert_no_errors, error_code, error_param, run_verify, spawn_app};

const ACCOUNT: &str = "query($id: ID!) { account(id: $id) { id type chargesEnabled } }";

#[tokio::test]
async fn a_code_is_redeemed_once_by_its_platform_before_it_expires() {
    let app = spawn_app().await;
    let (_, holder_key) = standalone(&app, "holder@example.com").await;
    let (other, other_key) = us_platform(&app, "Other").await;
    register_redirect_uri(&app, &app.secret_key).await;
    register_redirect_uri(&app, &other_key).await;

    let code = approved_code(&app, &app.platform_id, "read_write", &holder_key).await;
    assert!(code.starts_with("ac_"), "{code}");
    // Another platform's key does not find the code.
    let body = app
        .graphql_as(&other_key, None, CONNECT, json!({ "code": code }))
        .await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("NOT_FOUND", Some("input.code"))
    );
    let body = app
        .graphql(CONNECT, json!({ "code": format!("{code}x") }))
        .await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("NOT_FOUND", Some("input.code"))
    );

    let body = app.graphql(CONNECT, json!({ "code": code })).await;
    assert_no_errors(&body);
    let connected = &body["data"]["connectAccount"];
    assert_eq!(connected["type"], "STANDARD");
    assert_eq!(connected["chargesEnabled"], true);
    let body = app.graphql(CONNECT, json!({ "code": code })).await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("INVALID_REQUEST", Some("input.code"))
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already redeemed"),
        "{body}"
    );

    // Five minutes on the platform's own clock.
    let late = approved_code(&app, &other, "read_write", &holder_key).await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            "mutation { advanceClock(input: {seconds: 300}) }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let body = app
        .graphql_as(&other_key, None, CONNECT, json!({ "code": late }))
        .await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("INVALID_REQUEST", Some("input.code"))
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{body}"
    );

    let events = app
        .graphql("{ events(first: 5, type: \"account.application.authorized\") { nodes { type data { object } } } }", json!({}))
        .await;
    assert_no_errors(&events);
    let nodes = events["data"]["events"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{events}");
    assert_eq!(nodes[0]["data"]["object"]["id"], app.platform_id.as_str());
    assert_eq!(nodes[0]["data"]["object"]["scope"], "read_write");
}

#[tokio::test]
async fn two_platforms_see_only_their_own_charges_and_the_money_lands_on_the_account() {
    let app = spawn_app().await;
    let (holder, holder_key) = standalone(&app, "holder@example.com").await;
    let (second, second_key) = us_platform(&app, "Second").await;
    let first_connection = connect(
        &app,
        &app.platform_id,
        &app.secret_key,
        "read_write",
        &holder_key,
    )
    .await;
    let second_connection = connect(&app, &second, &second_key, "read_write", &holder_key).await;
    assert_ne!(first_connection, second_connection);
    assert_ne!(first_connection, holder);

    // Direct charges through each connection, and one the holder makes on its own.
    let first_charge = charge(&app, &app.secret_key, Some(&first_connection), 10_000).await;
    let second_charge = charge(&app, &second_key, Some(&second_connection), 7_000).await;
    let own_charge = charge(&app, &holder_key, None, 5_000).await;
    assert_eq!(
        charge_ids(&app, &app.secret_key).await,
        vec![first_charge.clone()]
    );
    assert_eq!(charge_ids(&app, &second_key).await, vec![second_charge]);
    assert_eq!(charge_ids(&app, &holder_key).await, vec![own_charge]);
    let body = app
        .graphql_as(
            &second_key,
            None,
            ACCOUNT,
            json!({ "id": first_connection }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql_as(
            &second_key,
            None,
            "query($id: ID!) { charge(id: $id) { id } }",
            json!({ "id": first_charge }),
        )
        .await;
    assert!(
        body["data"]["charge"].is_null() || error_code(&body) == "NOT_FOUND",
        "{body}"
    );

    // 2.9% + 30 processing fees, paid by the STANDARD account; the default policy takes
    // no application fee. 10000 - 320 and 7000 - 233 on the connections, 5000 - 175 own.
    assert_eq!(
        app.balance(Some(&first_connection), "usd").await,
        (9_680, 0)
    );
    assert_eq!(
        own_available_usd(&app, &holder_key).await,
        9_680 + 6_767 + 4_825
    );
    assert_eq!(own_available_usd(&app, &app.secret_key).await, 0);
    app.assert_ledger_balanced().await;

    // The platform disconnects: the account is gone for it, the money stays the holder's.
    let body = app
        .graphql(
            "mutation($a: ID!) { disconnectAccount(input: {account: $a}) { id } }",
            json!({ "a": first_connection }),
        )
        .await;
    assert_no_errors(&body);
    let body = app
        .graphql(ACCOUNT, json!({ "id": first_connection }))
        .await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("NOT_FOUND", Some("id"))
    );
    let body = app
        .graphql_as(
            &app.secret_key,
            Some(&first_connection),
            "{ balance { available { amount } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql("{ accounts(first: 10) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(body["data"]["accounts"]["nodes"], json!([]));
    app.assert_ledger_balanced().await;
    assert_eq!(
        own_available_usd(&app, &holder_key).await,
        9_680 + 6_767 + 4_825
    );

    // The holder revokes the second platform with its own key.
    let revoke = "mutation($p: ID!) { revokePlatform(input: {platform: $p}) }";
    let body = app
        .graphql_as(&holder_key, None, revoke, json!({ "p": second }))
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["revokePlatform"], true);
    let body = app
        .graphql_as(
            &second_key,
            None,
            ACCOUNT,
            json!({ "id": second_connection }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql_as(&holder_key, None, revoke, json!({ "p": second }))
        .await;
    assert_eq!(
        (error_code(&body), error_param(&body)),
        ("NOT_FOUND", Some("input.platform"))
    );
    let body = app.graphql(revoke, json!({ "p": second })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let events = app
        .graphql_as(&second_key, None, "{ events(first: 5, type: \"account.application.deauthorized\") { nodes { account { id } } } }", json!({}))
        .await;
    assert_eq!(
        events["data"]["events"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );

    let (data_dir, _temp) = app.stop().await;
    let (passed, output) = run_verify(&data_dir);
    assert!(passed, "{output}");
}

#[tokio::test]
async fn a_read_only_connection_reads_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, holder_key) = standalone(&app, "reader@example.com").await;
    let account = connect(
        &app,
        &app.platform_id,
        &app.secret_key,
        "read_only",
        &holder_key,
    )
    .await;
    let body = app.graphql(ACCOUNT, json!({ "id": account })).await;
    assert_no_errors(&body);
    let body = app
        .graphql_as(
            &app.secret_key,
            Some(&account),
            "{ charges(first: 5) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let body = app
        .graphql_as(
            &app.secret_key,
            Some(&account),
            crate::connect_support::DIRECT_CHARGE,
            json!({ "amount": 1000 }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(
        charge_ids(&app, &app.secret_key).await,
        Vec::<String>::new()
    );
    // Naming the account without the header is refused too.
    let body = app
        .graphql(
            "mutation($a: ID!) { updateAccount(input: {account: $a, email: \"x@example.com\"}) { id } }",
            json!({ "a": account }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app
        .graphql(
            "mutation($a: ID!) { createCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\", transferData: {destination: $a}}) { id } }",
            json!({ "a": account }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // Ending the connection is not acting on the account.
    let body = app
        .graphql(
            "mutation($a: ID!) { disconnectAccount(input: {account: $a}) { id } }",
            json!({ "a": account }),
        )
        .await;
    assert_no_errors(&body);
}

#[tokio::test]
async fn redirect_uris_are_checked_when_registered() {
    let app = spawn_app().await;
    let update = "mutation($uris: [String!]) { updatePlatform(input: {oauthRedirectUris: $uris}) { name oauthRedirectUris } }";
    for bad in [
        json!(["/relative"]),
        json!(["ftp://x.example.com/"]),
        json!(["https://x.example.com/#f"]),
    ] {
        let body = app.graphql(update, json!({ "uris": bad })).await;
        assert_eq!(
            (error_code(&body), error_param(&body)),
            ("INVALID_REQUEST", Some("input.oauthRedirectUris")),
            "{bad}"
        );
    }
    let many: Vec<String> = (0..11)
        .map(|n| format!("https://x.example.com/{n}"))
        .collect();
    let body = app.graphql(update, json!({ "uris": many })).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    let body = app
        .graphql(
            update,
            json!({ "uris": ["https://a.example.com/cb", "http://localhost:3000/cb"] }),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["updatePlatform"]["oauthRedirectUris"],
        json!(["https://a.example.com/cb", "http://localhost:3000/cb"])
    );
    let body = app
        .graphql("{ platform { oauthRedirectUris } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["platform"]["oauthRedirectUris"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
