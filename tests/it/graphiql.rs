//! GraphiQL from the binary: the page loads nothing from another host, its assets are the
//! embedded production builds, and every example tab runs against a real server.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use tollgate::http::graphiql::{asset_names, ASSET_PREFIX};
use tollgate::http::graphiql_examples::{
    Example, CHARGES, DIRECT_CHARGE, EXAMPLES, ONBOARD_SELLER, PAYOUT, REFUND, START, TRANSFER,
    WATCH_EVENTS,
};

use crate::helpers::{
    assert_no_errors, error_code, policies_dir, spawn_app, spawn_app_with_policies, TestApp,
};

/// Every `src="…"` and `href="…"` value in the page.
fn references(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in page.match_indices(attribute) {
            let rest = &page[start + attribute.len()..];
            let end = rest.find('"').expect("closing quote");
            found.push(rest[..end].to_owned());
        }
    }
    found
}

#[tokio::test]
async fn the_page_references_no_external_url_and_its_assets_are_served() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("http://{}/", app.address))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    // The example documents (a JSON script element) hold URLs as data; the rest of the page
    // is markup and code, where any URL would be loaded.
    let opening = r#"<script id="tollgate-config" type="application/json">"#;
    let config_start = page.find(opening).expect("configuration") + opening.len();
    let config_end = config_start + page[config_start..].find("</script>").expect("end");
    let config: Value = serde_json::from_str(&page[config_start..config_end]).expect("json");
    assert_eq!(
        config["tabs"].as_array().expect("tabs").len(),
        EXAMPLES.len()
    );
    let markup = format!("{}{}", &page[..config_start], &page[config_end..]);
    for forbidden in ["://", "\"//", "unpkg", "cdn", "development.js"] {
        assert!(!markup.contains(forbidden), "the page mentions {forbidden}");
    }
    let references = references(&page);
    assert_eq!(references.len(), 5, "{references:?}");
    for reference in &references {
        if reference == "data:," {
            continue;
        }
        assert!(
            reference.starts_with(&format!("{ASSET_PREFIX}/")),
            "{reference} is not an embedded asset"
        );
        let response = app
            .client
            .get(format!("http://{}{reference}", app.address))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{reference}");
        let body = response.text().await.expect("asset body");
        assert!(body.len() > 10_000, "{reference} is {} bytes", body.len());
        assert!(!body.contains("react.development"), "{reference}");
        if reference.ends_with(".css") {
            for (start, _) in body.match_indices("url(") {
                let target = body[start + 4..].trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:"),
                    "the stylesheet loads {target:.40}"
                );
            }
        }
    }
    let served: BTreeSet<String> = references
        .iter()
        .filter_map(|reference| reference.strip_prefix(&format!("{ASSET_PREFIX}/")))
        .map(str::to_owned)
        .collect();
    let embedded: BTreeSet<String> = asset_names().map(str::to_owned).collect();
    assert_eq!(served, embedded, "the page uses every embedded asset");
    let missing = app
        .client
        .get(format!(
            "http://{}{ASSET_PREFIX}/../Cargo.toml",
            app.address
        ))
        .send()
        .await
        .expect("missing asset");
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

/// The named operations of a document, in order.
fn operation_names(document: &str) -> Vec<String> {
    document
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            ["query ", "mutation ", "subscription "]
                .iter()
                .find_map(|kind| line.strip_prefix(kind))
        })
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Runs one named operation of an example, as GraphiQL would.
struct Runner<'a> {
    app: &'a TestApp,
    ran: BTreeSet<String>,
}

impl Runner<'_> {
    async fn run(&mut self, example: &Example, operation: &str, variables: Value) -> Value {
        assert!(
            operation_names(example.document).contains(&operation.to_owned()),
            "{operation} is not in {}",
            example.title
        );
        let mut request = self
            .app
            .client
            .post(self.app.url())
            .bearer_auth(&self.app.secret_key)
            .json(&json!({
                "query": example.document,
                "operationName": operation,
                "variables": variables,
            }));
        if let Some(account) = variables.get("connectAccount").and_then(Value::as_str) {
            request = request.header("Connect-Account", account);
        }
        let body: Value = request
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        self.ran.insert(operation.to_owned());
        body
    }

    async fn ok(&mut self, example: &Example, operation: &str, variables: Value) -> Value {
        let body = self.run(example, operation, variables).await;
        assert_no_errors(&body);
        body["data"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_tab_runs_in_order_against_a_real_server() {
    let app = spawn_app_with_policies(policies_dir(), "marketplace").await;
    for example in EXAMPLES {
        serde_json::from_str::<Value>(example.variables).expect("the variables are JSON");
        assert!(
            example.document.starts_with('#'),
            "{} opens with what it is for",
            example.title
        );
    }
    let mut runner = Runner {
        app: &app,
        ran: BTreeSet::new(),
    };

    let data = runner.ok(&START, "Platform", json!({})).await;
    assert_eq!(data["ledgerCheck"]["balanced"], true);

    let seller = runner.ok(&ONBOARD_SELLER, "CreateSeller", json!({})).await["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let account = json!({ "account": seller });
    runner
        .ok(&ONBOARD_SELLER, "SubmitDetails", account.clone())
        .await;
    let bank = runner
        .ok(&ONBOARD_SELLER, "AddBankAccount", account.clone())
        .await;
    assert_eq!(bank["addBankAccount"]["last4"], "6789");
    let state = runner.ok(&ONBOARD_SELLER, "Seller", account.clone()).await;
    assert_eq!(state["account"]["chargesEnabled"], true, "{state}");
    assert_eq!(state["account"]["payoutsEnabled"], true, "{state}");
    let manual = runner.ok(&PAYOUT, "ManualPayouts", account.clone()).await;
    assert_eq!(
        manual["updatePayoutSchedule"]["payoutSchedule"]["interval"],
        "MANUAL"
    );
    let express = runner
        .ok(&ONBOARD_SELLER, "CreateExpressSeller", json!({}))
        .await["createAccount"]["id"]
        .clone();
    let link = runner
        .ok(
            &ONBOARD_SELLER,
            "OnboardingLink",
            json!({ "expressAccount": express }),
        )
        .await;
    let url = link["createAccountLink"]["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("http://{}/", app.address)),
        "{url}"
    );

    let preview = runner.ok(&CHARGES, "PreviewPricing", account.clone()).await;
    assert_eq!(preview["previewCharge"]["policy"], "marketplace");
    assert_eq!(preview["previewCharge"]["processingFee"]["decimal"], "3.20");
    assert_eq!(
        preview["previewCharge"]["applicationFee"]["decimal"],
        "5.30"
    );
    let destination = runner
        .ok(&CHARGES, "DestinationCharge", account.clone())
        .await;
    assert_eq!(destination["createCharge"]["status"], "SUCCEEDED");
    assert_eq!(
        destination["createCharge"]["transfers"][0]["amount"]["decimal"],
        "100.00"
    );
    assert_eq!(
        destination["createCharge"]["applicationFee"]["amount"]["decimal"],
        "5.30"
    );
    let destination_charge = destination["createCharge"]["id"].clone();
    let separate =
        runner.ok(&CHARGES, "SeparateCharge", json!({})).await["createCharge"]["id"].clone();
    let transfer = runner
        .ok(
            &CHARGES,
            "TransferFromCharge",
            json!({ "account": seller, "charge": separate }),
        )
        .await;
    assert_eq!(transfer["createTransfer"]["amount"]["decimal"], "35.00");
    let declined = runner.run(&CHARGES, "DeclinedCharge", json!({})).await;
    assert_eq!(error_code(&declined), "CARD_DECLINED", "{declined}");

    assert_eq!(
        DIRECT_CHARGE.extra_headers[0].0, "Connect-Account",
        "the direct charge tab names the seller in a header"
    );
    let direct = runner
        .ok(
            &DIRECT_CHARGE,
            "DirectCharge",
            json!({ "connectAccount": seller }),
        )
        .await;
    assert_eq!(direct["createCharge"]["flow"], "DIRECT");
    assert_eq!(direct["createCharge"]["account"]["id"], seller.as_str());

    let refund = runner
        .ok(&REFUND, "Refund", json!({ "charge": destination_charge }))
        .await;
    assert_eq!(refund["createRefund"]["amount"]["decimal"], "40.00");
    assert_eq!(
        refund["createRefund"]["transferReversal"]["amount"]["decimal"],
        "40.00"
    );
    assert_eq!(
        refund["createRefund"]["applicationFeeRefund"]["amount"]["decimal"],
        "2.12"
    );

    runner.ok(&TRANSFER, "TopUp", json!({})).await;
    runner.ok(&TRANSFER, "AdvanceClock", json!({})).await;
    let bonus = runner.ok(&TRANSFER, "Transfer", account.clone()).await;
    assert_eq!(bonus["createTransfer"]["amount"]["decimal"], "25.00");

    let balance = runner.ok(&PAYOUT, "SellerBalance", account.clone()).await;
    assert!(!balance["balance"]["available"]
        .as_array()
        .expect("available")
        .is_empty());
    let payout = runner.ok(&PAYOUT, "Payout", account.clone()).await;
    assert_eq!(payout["createPayout"]["amount"]["decimal"], "10.00");
    let payouts = runner.ok(&PAYOUT, "Payouts", account.clone()).await;
    assert_eq!(
        payouts["payouts"]["nodes"][0]["id"],
        payout["createPayout"]["id"]
    );

    let recent = runner.ok(&WATCH_EVENTS, "RecentEvents", json!({})).await;
    assert_eq!(
        recent["events"]["nodes"].as_array().expect("events").len(),
        10
    );
    watch_events_receives_a_charge(&app).await;
    runner.ran.insert("WatchEvents".into());

    let every_operation: BTreeSet<String> = EXAMPLES
        .iter()
        .flat_map(|example| operation_names(example.document))
        .collect();
    assert_eq!(runner.ran, every_operation, "every example operation ran");
    app.assert_ledger_balanced().await;
    app.stop().await;
}

/// The subscription tab, run through the schema as the websocket endpoint runs it.
async fn watch_events_receives_a_charge(app: &TestApp) {
    let schema = tollgate::graphql::build_schema(Some(app.services.clone()));
    let platform = app
        .services
        .authenticate(&app.secret_key)
        .expect("authenticate");
    let caller = app
        .services
        .caller(platform, None, tollgate::service::Access::Change)
        .expect("caller");
    let request = async_graphql::Request::new(WATCH_EVENTS.document)
        .operation_name("WatchEvents")
        .data(caller);
    let mut stream = schema.execute_stream(request);
    let mut first = Box::pin(stream.next());
    // Polled once so the subscription is listening before the charge is made.
    assert!(futures::poll!(&mut first).is_pending());
    let charge = app
        .graphql(
            r#"mutation { createCharge(input: {amount: 1234, currency: "usd", paymentMethod: "pm_card_visa"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_no_errors(&charge);
    let event = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("an event within 10 s")
        .expect("the stream is open");
    assert!(event.errors.is_empty(), "{:?}", event.errors);
    let event = event.data.into_json().expect("json");
    assert_eq!(event["events"]["type"], "charge.succeeded", "{event}");
}
