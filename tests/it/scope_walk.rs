//! Connect-Account is a scope: every query and mutation of the exported schema, walked as
//! account X with account Y's ids. Reads of Y's objects find nothing, lists hold only X's,
//! and mutations naming Y's objects (or only the platform's) are FORBIDDEN with nothing
//! moved. The fields come from the schema itself, so a new field without a rule here fails.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::charges_support::create_charge;
use crate::helpers::{assert_no_errors, spawn_app, TestApp, TOPUP};
use crate::payouts_support::{create_payout, custom_account};

/// What a case must answer when run as account X.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The field is null or the error is NOT_FOUND: Y's object is not there.
    Absent,
    /// The error is FORBIDDEN.
    Forbidden,
    /// Each input of a batch answers FORBIDDEN in its result, naming its own input.
    ForbiddenInBatch,
    /// No error: the answer is checked by the generic rule (no id of Y's in `data`) and,
    /// for lists, by the checks after the walk.
    Answers,
}

struct Case {
    field: &'static str,
    query: String,
    variables: Value,
    expect: Expect,
}

fn case(field: &'static str, query: &str, variables: Value, expect: Expect) -> Case {
    Case {
        field,
        query: query.to_owned(),
        variables,
        expect,
    }
}

/// The ids of one account's objects, and of the platform's own.
struct World {
    x: String,
    y: String,
    x_charge: String,
    y_bank: String,
    y_direct_charge: String,
    y_destination_charge: String,
    y_transfer: String,
    y_fee: String,
    y_refund: String,
    y_payout: String,
    y_dispute: String,
    y_debit: String,
    y_transaction: String,
    y_event: String,
    platform_topup: String,
    platform_charge: String,
}

impl World {
    /// Every id that must never show in what X reads.
    fn foreign_ids(&self) -> Vec<&str> {
        vec![
            &self.y,
            &self.y_bank,
            &self.y_direct_charge,
            &self.y_destination_charge,
            &self.y_transfer,
            &self.y_fee,
            &self.y_refund,
            &self.y_payout,
            &self.y_dispute,
            &self.y_debit,
            &self.y_transaction,
            &self.y_event,
            &self.platform_topup,
            &self.platform_charge,
        ]
    }
}

fn text(body: &Value, path: &[&str]) -> String {
    let mut value = body;
    for step in path {
        value = &value[*step];
    }
    value
        .as_str()
        .unwrap_or_else(|| panic!("no {path:?} in {body}"))
        .to_owned()
}

async fn ok(app: &TestApp, account: Option<&str>, query: &str, variables: Value) -> Value {
    let body = app
        .graphql_as(&app.secret_key, account, query, variables)
        .await;
    assert_no_errors(&body);
    body
}

async fn charge(app: &TestApp, account: Option<&str>, input: Value) -> Value {
    let body = create_charge(app, account, input).await;
    assert_no_errors(&body);
    body["data"]["createCharge"].clone()
}

/// Two onboarded CUSTOM accounts; Y gets one of every kind of object, X a charge.
async fn build_world(app: &TestApp) -> World {
    let key = app.secret_key.clone();
    let x = custom_account(app, &key, "US", "usd", "000123456789").await;
    let y = custom_account(app, &key, "US", "usd", "000123456789").await;
    let bank = ok(
        app,
        None,
        "query($id: ID!) { account(id: $id) { externalAccounts { ... on BankAccount { id } } } }",
        json!({"id": y}),
    )
    .await;
    let y_bank = bank["data"]["account"]["externalAccounts"][0]["id"]
        .as_str()
        .expect("bank id")
        .to_owned();
    let x_charge = charge(
        app,
        Some(&x),
        json!({"amount": 4000, "currency": "usd", "paymentMethod": "pm_card_bypassPending"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let y_direct = charge(
        app,
        Some(&y),
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_bypassPending"}),
    )
    .await;
    let y_direct_charge = y_direct["id"].as_str().expect("id").to_owned();
    let y_transaction = y_direct["balanceTransaction"]["id"]
        .as_str()
        .expect("txn")
        .to_owned();
    let disputed = charge(
        app,
        Some(&y),
        json!({"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
    )
    .await;
    let dispute = ok(
        app,
        None,
        "query($id: ID!) { charge(id: $id) { dispute { id } } }",
        json!({"id": disputed["id"]}),
    )
    .await;
    let y_dispute = text(&dispute, &["data", "charge", "dispute", "id"]);
    let destination = charge(
        app,
        None,
        json!({"amount": 5000, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
               "applicationFeeAmount": 100, "transferData": {"destination": y}}),
    )
    .await;
    let y_destination_charge = destination["id"].as_str().expect("id").to_owned();
    let y_transfer = destination["transfers"][0]["id"]
        .as_str()
        .expect("transfer")
        .to_owned();
    let y_fee = destination["applicationFee"]["id"]
        .as_str()
        .expect("fee")
        .to_owned();
    let refund = ok(
        app,
        None,
        "mutation($c: ID!) { createRefund(input: {charge: $c, amount: 1000}) { id } }",
        json!({"c": y_direct_charge}),
    )
    .await;
    let y_refund = text(&refund, &["data", "createRefund", "id"]);
    let payout = create_payout(
        app,
        &key,
        None,
        json!({"account": y, "amount": 500, "currency": "usd"}),
    )
    .await;
    assert_no_errors(&payout);
    let y_payout = text(&payout, &["data", "createPayout", "id"]);
    let debit = ok(
        app,
        None,
        "mutation($a: ID!) { createAccountDebit(input: {account: $a, amount: 100, currency: \"usd\"}) { id } }",
        json!({"a": y}),
    )
    .await;
    let y_debit = text(&debit, &["data", "createAccountDebit", "id"]);
    let topup = ok(
        app,
        None,
        TOPUP,
        json!({"amount": 10000, "currency": "usd"}),
    )
    .await;
    let platform_topup = text(&topup, &["data", "createTopup", "id"]);
    let platform_charge = charge(
        app,
        None,
        json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let events = ok(
        app,
        None,
        "{ events(first: 100) { nodes { id account { id } } } }",
        json!({}),
    )
    .await;
    let y_event = events["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .find(|event| event["account"]["id"] == json!(y))
        .and_then(|event| event["id"].as_str())
        .expect("an event about Y")
        .to_owned();
    World {
        x,
        y,
        x_charge,
        y_bank,
        y_direct_charge,
        y_destination_charge,
        y_transfer,
        y_fee,
        y_refund,
        y_payout,
        y_dispute,
        y_debit,
        y_transaction,
        y_event,
        platform_topup,
        platform_charge,
    }
}

/// Every field of the Query and Mutation types, read from the served schema.
async fn schema_fields(app: &TestApp) -> (BTreeSet<String>, BTreeSet<String>) {
    let body = ok(
        app,
        None,
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
        json!({}),
    )
    .await;
    let names = |root: &str| -> BTreeSet<String> {
        body["data"]["__schema"][root]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|field| field["name"].as_str().expect("name").to_owned())
            .collect()
    };
    (names("queryType"), names("mutationType"))
}

const DEEP_CHARGE: &str = "id account { id } destination { id } onBehalfOf { id }
  transfers { id destination { id } } applicationFee { id account { id } }
  refunds { id } dispute { id } balanceTransaction { id }";

fn query_cases(world: &World) -> Vec<Case> {
    use Expect::{Absent, Answers, Forbidden};
    let y = world.y.as_str();
    let mut cases = Vec::new();
    for id in world.foreign_ids() {
        cases.push(case(
            "node",
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": id}),
            Absent,
        ));
    }
    cases.extend([
        case("node", "query($id: ID!) { node(id: $id) { id } }", json!({"id": world.x_charge}), Answers),
        case("platform", "{ platform { id name policy { name } negativeAccounts { account { id } amount { amount } } } }", json!({}), Answers),
        case("platform", "{ platform { balance { available { amount } reserved { amount } } } }", json!({}), Forbidden),
        case("balance", "query($a: ID) { balance(account: $a) { available { amount } } }", json!({"a": y}), Absent),
        case("balance", "{ balance { available { amount } pending { amount } } }", json!({}), Answers),
        case("balanceTransactions", "query($a: ID) { balanceTransactions(account: $a) { nodes { id } } }", json!({"a": y}), Absent),
        case("balanceTransactions", "{ balanceTransactions(first: 100) { nodes { id sourceId } } }", json!({}), Answers),
        case("balanceTransactions", "{ balanceTransactions(first: 100, type: CHARGE) { nodes { id sourceId } } }", json!({}), Answers),
        case("events", "{ events(first: 100) { nodes { id type account { id } data { object } } } }", json!({}), Answers),
        case("events", "{ events(first: 100, type: \"charge.succeeded\") { nodes { id data { object } } } }", json!({}), Answers),
        case("webhookEndpoints", "{ webhookEndpoints(first: 10) { nodes { id url } } }", json!({}), Answers),
        case("webhookEndpoint", "query($id: ID!) { webhookEndpoint(id: $id) { id } }", json!({"id": "we_001k1nph2ckt53sgb3ez8agvmd"}), Absent),
        case("ledgerCheck", "{ ledgerCheck { balanced entries totals { currency debits credits } violations } }", json!({}), Answers),
        case("account", "query($id: ID!) { account(id: $id) { id } }", json!({"id": y}), Absent),
        case("account", "query($id: ID!) { account(id: $id) { id charges(first: 100) { nodes { id } } transfers(first: 100) { nodes { id } } payouts(first: 100) { nodes { id } } } }", json!({"id": world.x}), Answers),
        case("accounts", "{ accounts(first: 100) { nodes { id } } }", json!({}), Answers),
        case("accounts", "{ accounts(first: 100, type: CUSTOM) { nodes { id } } }", json!({}), Answers),
        case("charge", "query($id: ID!) { charge(id: $id) { id } }", json!({"id": world.y_direct_charge}), Absent),
        case("charge", "query($id: ID!) { charge(id: $id) { id } }", json!({"id": world.y_destination_charge}), Absent),
        case("charge", "query($id: ID!) { charge(id: $id) { id } }", json!({"id": world.platform_charge}), Absent),
        case("charges", &format!("{{ charges(first: 100) {{ nodes {{ {DEEP_CHARGE} }} }} }}"), json!({}), Answers),
        case("charges", "query($a: ID) { charges(account: $a) { nodes { id } } }", json!({"a": y}), Absent),
        case("transfer", "query($id: ID!) { transfer(id: $id) { id } }", json!({"id": world.y_transfer}), Absent),
        case("transfers", "{ transfers(first: 100) { nodes { id destination { id } sourceCharge { id } } } }", json!({}), Answers),
        case("transfers", "query($a: ID) { transfers(destination: $a) { nodes { id } } }", json!({"a": y}), Absent),
        case("applicationFee", "query($id: ID!) { applicationFee(id: $id) { id } }", json!({"id": world.y_fee}), Absent),
        case("previewCharge", "{ previewCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\"}) { policy applicationFee { amount } splits { destination { id } } } }", json!({}), Answers),
        case("previewCharge", "query($a: ID!) { previewCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\", onBehalfOf: $a}) { policy } }", json!({"a": y}), Absent),
        case("payout", "query($id: ID!) { payout(id: $id) { id } }", json!({"id": world.y_payout}), Absent),
        case("payouts", "{ payouts(first: 100) { nodes { id account { id } } } }", json!({}), Answers),
        case("payouts", "query($a: ID) { payouts(account: $a) { nodes { id } } }", json!({"a": y}), Absent),
        case("refund", "query($id: ID!) { refund(id: $id) { id } }", json!({"id": world.y_refund}), Absent),
        case("dispute", "query($id: ID!) { dispute(id: $id) { id } }", json!({"id": world.y_dispute}), Absent),
        case("disputes", "{ disputes(first: 100) { nodes { id charge { id } } } }", json!({}), Answers),
        case("restrictedKeys", "{ restrictedKeys(first: 100) { nodes { id account { id } } } }", json!({}), Answers),
    ]);
    cases
}

fn mutation_cases(world: &World) -> Vec<Case> {
    use Expect::{Forbidden, ForbiddenInBatch};
    let y = world.y.as_str();
    let input = |field: &'static str, input_type: &str, selection: &str, input: Value| Case {
        field,
        query: format!("mutation($input: {input_type}!) {{ {field}(input: $input) {selection} }}"),
        variables: json!({ "input": input }),
        expect: Forbidden,
    };
    vec![
        Case {
            field: "rotateSecretKey",
            query: "mutation { rotateSecretKey { secretKey } }".to_owned(),
            variables: json!({}),
            expect: Forbidden,
        },
        input(
            "createRestrictedKey",
            "CreateRestrictedKeyInput",
            "{ id }",
            json!({"name": "x", "account": y, "permissions": ["READ_ONLY"]}),
        ),
        input(
            "revokeRestrictedKey",
            "RevokeRestrictedKeyInput",
            "{ id }",
            json!({"id": "rkid_001k1nph2ckt53sgb3ez8agvmd"}),
        ),
        input(
            "updateExternalAccount",
            "UpdateExternalAccountInput",
            "{ ... on BankAccount { id } }",
            json!({"account": y, "externalAccount": world.y_bank, "defaultForCurrency": true}),
        ),
        input(
            "deleteExternalAccount",
            "DeleteExternalAccountInput",
            "{ ... on BankAccount { id } }",
            json!({"account": y, "externalAccount": world.y_bank}),
        ),
        input(
            "createTopup",
            "CreateTopupInput",
            "{ id }",
            json!({"amount": 100, "currency": "usd"}),
        ),
        input(
            "updateWebhookEndpoint",
            "UpdateWebhookEndpointInput",
            "{ id }",
            json!({"id": "we_001k1nph2ckt53sgb3ez8agvmd", "disabled": true}),
        ),
        input(
            "deleteWebhookEndpoint",
            "DeleteWebhookEndpointInput",
            "{ id }",
            json!({"id": "we_001k1nph2ckt53sgb3ez8agvmd"}),
        ),
        input(
            "rollWebhookEndpointSecret",
            "RollWebhookEndpointSecretInput",
            "{ id }",
            json!({"id": "we_001k1nph2ckt53sgb3ez8agvmd"}),
        ),
        input(
            "resendEvent",
            "ResendEventInput",
            "{ id }",
            json!({"event": "evt_001k1nph2ckt53sgb3ez8agvmd", "endpoint": "we_001k1nph2ckt53sgb3ez8agvmd"}),
        ),
        input(
            "backtestPolicy",
            "BacktestPolicyInput",
            "{ charges }",
            json!({"policy": "default"}),
        ),
        input(
            "updatePlatform",
            "UpdatePlatformInput",
            "{ id }",
            json!({"oauthRedirectUris": ["https://x.example.com/cb"]}),
        ),
        input(
            "connectAccount",
            "ConnectAccountInput",
            "{ id }",
            json!({"code": "ac_001k1nph2ckt53sgb3ez8agvmd_00"}),
        ),
        input(
            "disconnectAccount",
            "DisconnectAccountInput",
            "{ id }",
            json!({"account": y}),
        ),
        input(
            "revokePlatform",
            "RevokePlatformInput",
            "",
            json!({"platform": "plat_001k1nph2ckt53sgb3ez8agvmd"}),
        ),
        input(
            "advanceClock",
            "AdvanceClockInput",
            "",
            json!({"seconds": 60}),
        ),
        input(
            "createAccount",
            "CreateAccountInput",
            "{ id }",
            json!({"type": "CUSTOM", "country": "US", "businessType": "INDIVIDUAL"}),
        ),
        input(
            "updateAccount",
            "UpdateAccountInput",
            "{ id }",
            json!({"account": y, "email": "x@example.com"}),
        ),
        input(
            "submitAccountDetails",
            "SubmitAccountDetailsInput",
            "{ id }",
            json!({"account": y, "businessUrl": "https://x.example.com"}),
        ),
        input(
            "createAccountLink",
            "CreateAccountLinkInput",
            "{ url }",
            json!({"account": y, "refreshUrl": "https://x.example.com/r", "returnUrl": "https://x.example.com/d"}),
        ),
        input(
            "createLoginLink",
            "CreateLoginLinkInput",
            "{ url }",
            json!({"account": y}),
        ),
        input(
            "addBankAccount",
            "AddBankAccountInput",
            "{ id }",
            json!({"account": y, "country": "US", "currency": "usd", "routingNumber": "110000000", "accountNumber": "000123456789", "defaultForCurrency": true}),
        ),
        input(
            "addDebitCard",
            "AddDebitCardInput",
            "{ id }",
            json!({"account": y, "token": "tok_visa_debit", "defaultForCurrency": true}),
        ),
        input(
            "updatePayoutSchedule",
            "UpdatePayoutScheduleInput",
            "{ id }",
            json!({"account": y, "interval": "MANUAL"}),
        ),
        input(
            "createCharge",
            "CreateChargeInput",
            "{ id }",
            json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "onBehalfOf": y}),
        ),
        // A batch answers each input on its own: the refusal is the input's result.
        case(
            "createCharges",
            "mutation($inputs: [CreateChargeInput!]!) { createCharges(inputs: $inputs) { charge { id } error { code param } } }",
            json!({"inputs": [{"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "onBehalfOf": y}]}),
            ForbiddenInBatch,
        ),
        input(
            "captureCharge",
            "CaptureChargeInput",
            "{ id }",
            json!({"charge": world.y_direct_charge}),
        ),
        input(
            "createTransfer",
            "CreateTransferInput",
            "{ id }",
            json!({"amount": 100, "currency": "usd", "destination": world.x}),
        ),
        input(
            "createTransferReversal",
            "CreateTransferReversalInput",
            "{ id }",
            json!({"transfer": world.y_transfer, "amount": 100}),
        ),
        input(
            "createPayout",
            "CreatePayoutInput",
            "{ id }",
            json!({"account": y, "amount": 100, "currency": "usd"}),
        ),
        input(
            "createPayout",
            "CreatePayoutInput",
            "{ id }",
            json!({"amount": 100, "currency": "usd", "destination": world.y_bank}),
        ),
        input(
            "cancelPayout",
            "CancelPayoutInput",
            "{ id }",
            json!({"payout": world.y_payout}),
        ),
        input(
            "createRefund",
            "CreateRefundInput",
            "{ id }",
            json!({"charge": world.y_direct_charge, "amount": 100}),
        ),
        input(
            "createRefund",
            "CreateRefundInput",
            "{ id }",
            json!({"charge": world.y_destination_charge, "amount": 100}),
        ),
        input(
            "refundApplicationFee",
            "RefundApplicationFeeInput",
            "{ id }",
            json!({"fee": world.y_fee, "amount": 10}),
        ),
        input(
            "createAccountDebit",
            "CreateAccountDebitInput",
            "{ id }",
            json!({"account": y, "amount": 100, "currency": "usd"}),
        ),
        input(
            "submitDisputeEvidence",
            "SubmitDisputeEvidenceInput",
            "{ id }",
            json!({"dispute": world.y_dispute, "evidence": "receipt"}),
        ),
        input(
            "closeDispute",
            "CloseDisputeInput",
            "{ id }",
            json!({"dispute": world.y_dispute, "outcome": "WON"}),
        ),
        input(
            "createWebhookEndpoint",
            "CreateWebhookEndpointInput",
            "{ id }",
            json!({"url": "https://hooks.example.com/x", "enabledEvents": ["*"]}),
        ),
    ]
}

/// What a case answered, if not what it must; `None` when it holds.
fn check(case: &Case, body: &Value, foreign: &[&str]) -> Option<String> {
    let code = body["errors"][0]["extensions"]["code"].as_str();
    let data = body["data"].to_string();
    if let Some(leaked) = foreign.iter().find(|id| data.contains(**id)) {
        return Some(format!("{} shows {leaked}: {body}", case.field));
    }
    let holds = match case.expect {
        Expect::Absent => {
            code == Some("NOT_FOUND")
                || (body.get("errors").is_none() && body["data"][case.field].is_null())
        }
        // A FORBIDDEN names what was refused: the input that named another account's
        // object, or Connect-Account itself for what only the platform may do.
        Expect::Forbidden => {
            code == Some("FORBIDDEN")
                && body["errors"][0]["extensions"]["param"]
                    .as_str()
                    .is_some_and(|param| param == "Connect-Account" || param.starts_with("input."))
        }
        Expect::ForbiddenInBatch => {
            let results = body["data"][case.field].as_array();
            body.get("errors").is_none()
                && results.is_some_and(|results| {
                    !results.is_empty()
                        && results.iter().enumerate().all(|(index, result)| {
                            result["charge"].is_null()
                                && result["error"]["code"] == "FORBIDDEN"
                                && result["error"]["param"].as_str().is_some_and(|param| {
                                    param.starts_with(&format!("inputs.{index}."))
                                })
                        })
                })
        }
        Expect::Answers => body.get("errors").is_none(),
    };
    (!holds).then(|| format!("{} should be {:?}: {body}", case.field, case.expect))
}

/// What the platform (and Y) hold, to show that no refused mutation moved anything.
async fn money_snapshot(app: &TestApp, world: &World) -> Value {
    ok(
        app,
        None,
        "query($y: ID!, $charge: ID!) { platform { balance { available { amount } pending { amount } reserved { amount } } }
           account(id: $y) { email payoutSchedule { interval } externalAccounts { ... on BankAccount { id } ... on DebitCard { id } }
             balance { available { amount } pending { amount } } payouts(first: 100) { nodes { id status } } }
           charge(id: $charge) { amountRefunded { amount } disputed dispute { status evidence } }
           ledgerCheck { entries balanced } accounts(first: 100) { nodes { id } } }",
        json!({"y": world.y, "charge": world.y_direct_charge}),
    )
    .await
}

#[tokio::test]
async fn acting_as_one_account_reaches_nothing_of_another_in_any_query_or_mutation() {
    let app = spawn_app().await;
    let world = build_world(&app).await;
    let foreign = world.foreign_ids();

    // The ids are real: the platform itself finds every one of them.
    for id in &foreign {
        let body = ok(
            &app,
            None,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
        assert_eq!(body["data"]["node"]["id"], json!(id), "{body}");
    }

    let queries = query_cases(&world);
    let mutations = mutation_cases(&world);
    let (query_fields, mutation_fields) = schema_fields(&app).await;
    let covered = |cases: &[Case]| -> BTreeSet<String> {
        cases.iter().map(|case| case.field.to_owned()).collect()
    };
    assert_eq!(
        covered(&queries),
        query_fields,
        "every query needs a scope rule here"
    );
    assert_eq!(
        covered(&mutations),
        mutation_fields,
        "every mutation needs a scope rule here"
    );

    let before = money_snapshot(&app, &world).await;
    let mut failures = Vec::new();
    let mut answers: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for case in queries.iter().chain(&mutations) {
        let body = app
            .graphql_as(
                &app.secret_key,
                Some(&world.x),
                &case.query,
                case.variables.clone(),
            )
            .await;
        if let Some(failure) = check(case, &body, &foreign) {
            failures.push(failure);
        }
        answers.entry(case.field.to_owned()).or_default().push(body);
    }
    let after = money_snapshot(&app, &world).await;
    println!(
        "scope walk: {} query cases over {} fields, {} mutation cases over {} fields, {} failures",
        queries.len(),
        query_fields.len(),
        mutations.len(),
        mutation_fields.len(),
        failures.len()
    );
    for failure in &failures {
        println!("  {failure}");
    }
    assert!(failures.is_empty(), "{} cases failed", failures.len());
    assert_eq!(before, after, "a refused mutation changed something");

    // Lists hold X's objects, and all of them.
    let accounts = &answers["accounts"][0]["data"]["accounts"]["nodes"];
    assert_eq!(accounts, &json!([{"id": world.x}]));
    let own = ok(
        &app,
        None,
        "query($x: ID!) { account(id: $x) { balanceTransactions(first: 100) { nodes { id sourceId } } charges(first: 100) { nodes { id } } } }",
        json!({"x": world.x}),
    )
    .await;
    assert_eq!(
        answers["balanceTransactions"][1]["data"]["balanceTransactions"]["nodes"],
        own["data"]["account"]["balanceTransactions"]["nodes"]
    );
    assert_eq!(
        answers["charges"][0]["data"]["charges"]["nodes"]
            .as_array()
            .expect("charges")
            .iter()
            .map(|charge| charge["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(world.x_charge)]
    );
    let events = answers["events"][0]["data"]["events"]["nodes"]
        .as_array()
        .expect("events");
    assert!(!events.is_empty());
    for event in events {
        assert_eq!(event["account"]["id"], json!(world.x), "{event}");
    }
    let ledger = &answers["ledgerCheck"][0]["data"]["ledgerCheck"];
    assert_eq!(ledger["balanced"], json!(true), "{ledger}");
    assert_eq!(ledger["entries"], json!(1), "X's one charge: {ledger}");
    assert_eq!(
        answers["balance"][1]["data"]["balance"],
        // A CUSTOM account's direct charge: the platform pays the processing fee.
        json!({"available": [{"amount": 4000}], "pending": [{"amount": 0}]})
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn the_events_subscription_acting_as_an_account_streams_only_its_events() {
    use futures::StreamExt;
    use tollgate::service::Access;

    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let x = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let y = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let schema = tollgate::graphql::build_schema(Some(app.services.clone()));
    let platform = app.services.authenticate(&key).expect("platform");
    let caller = app
        .services
        .caller(platform, Some(&x), Access::Read)
        .expect("caller");
    let request = async_graphql::Request::new("subscription { events { id type account { id } } }")
        .data(caller);
    let listeners = app.services.event_stream.receiver_count();
    let first = tokio::spawn(async move { schema.execute_stream(request).next().await });
    // The subscription starts listening when the stream is first polled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.services.event_stream.receiver_count() == listeners
        && std::time::Instant::now() < deadline
    {
        tokio::task::yield_now().await;
    }

    // Y's charge, then the platform's top-up, then X's charge: only X's events arrive.
    charge(
        &app,
        Some(&y),
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    ok(&app, None, TOPUP, json!({"amount": 500, "currency": "usd"})).await;
    let own = charge(
        &app,
        Some(&x),
        json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), first)
        .await
        .expect("an event in time")
        .expect("the task")
        .expect("the stream is open");
    let event = first.data.into_json().expect("json");
    assert_eq!(
        event["events"]["type"],
        json!("charge.succeeded"),
        "{event}"
    );
    assert_eq!(event["events"]["account"]["id"], json!(x), "{event}");
    let own_events = ok(
        &app,
        Some(&x),
        "{ events(first: 1, type: \"charge.succeeded\") { nodes { id data { object } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        own_events["data"]["events"]["nodes"][0]["data"]["object"]["id"],
        own["id"]
    );
}
