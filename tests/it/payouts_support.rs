//! Shared steps for the payout tests: a fixed calendar, schedules, destination charges,
//! external accounts and reading payouts back.

use serde_json::{json, Value};

use crate::charges_support::{create_charge, SUBMIT_DETAILS};
use crate::helpers::{assert_no_errors, TestApp};
use tollgate::domain::account_record::AccountRecord;
use tollgate::domain::debit_cards::NewDebitCard;
use tollgate::domain::external_account_records::ExternalAccount;
use tollgate::ids::{AccountId, CardId, PlatformId};
use tollgate::service::external_accounts::ExternalAccountOwner;
use tollgate::service::Draft;

pub const PAYOUT_FIELDS: &str = "id amount { amount currency } fee { amount } status method automatic
  arrivalDate created failureCode failureMessage account { id }
  destination { __typename ... on BankAccount { id last4 status } ... on DebitCard { id last4 } }
  balanceTransaction { type amount { amount } fee { amount } net { amount } feeDetails { type amount { amount } } }
  returnBalanceTransaction { type amount { amount } net { amount } }";

/// Moves the app's platform's simulated clock to an RFC 3339 time (after the real current
/// time).
pub async fn advance_to(app: &TestApp, time: &str) {
    advance_to_as(app, &app.secret_key, time).await;
}

/// Moves the clock of the platform whose secret key is `key`.
pub async fn advance_to_as(app: &TestApp, key: &str, time: &str) {
    let body = app
        .graphql_as(
            key,
            None,
            "mutation($t: DateTime!) { advanceClock(input: {to: $t}) }",
            json!({ "t": time }),
        )
        .await;
    assert_no_errors(&body);
}

pub async fn set_schedule(app: &TestApp, account: &str, schedule: Value) {
    set_schedule_as(app, &app.secret_key, account, schedule).await;
}

pub async fn set_schedule_as(app: &TestApp, key: &str, account: &str, schedule: Value) {
    let mut input = schedule;
    input["account"] = json!(account);
    let body = app
        .graphql_as(
            key,
            None,
            "mutation($input: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    assert_no_errors(&body);
}

/// A destination charge whose whole amount reaches `seller` (no application fee).
pub async fn pay_seller(app: &TestApp, seller: &str, amount: i64, currency: &str) {
    let body = create_charge(
        app,
        None,
        json!({"amount": amount, "currency": currency, "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 0, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
}

/// The same, as the platform of `key`.
pub async fn pay_seller_as(app: &TestApp, key: &str, seller: &str, amount: i64) {
    let body = app
        .graphql_as(
            key,
            None,
            "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
            json!({"input": {"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa",
                   "applicationFeeAmount": 0, "transferData": {"destination": seller}}}),
        )
        .await;
    assert_no_errors(&body);
}

/// An account's payouts as (created, amount, status, arrivalDate), oldest first.
pub async fn payouts_of(app: &TestApp, account: &str) -> Vec<(String, i64, String, String)> {
    let body = app
        .graphql(
            "query($id: ID!) { account(id: $id) { payouts(first: 100) { nodes { created amount { amount } status arrivalDate automatic } } } }",
            json!({ "id": account }),
        )
        .await;
    assert_no_errors(&body);
    let mut payouts: Vec<_> = body["data"]["account"]["payouts"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            (
                node["created"].as_str().expect("created").to_owned(),
                node["amount"]["amount"].as_i64().expect("amount"),
                node["status"].as_str().expect("status").to_owned(),
                node["arrivalDate"].as_str().expect("arrival").to_owned(),
            )
        })
        .collect();
    payouts.reverse();
    payouts
}

pub fn payout(
    created: &str,
    amount: i64,
    status: &str,
    arrival: &str,
) -> (String, i64, String, String) {
    (
        created.to_owned(),
        amount,
        status.to_owned(),
        arrival.to_owned(),
    )
}

pub async fn create_payout(
    app: &TestApp,
    key: &str,
    connect_account: Option<&str>,
    input: Value,
) -> Value {
    let query = format!(
        "mutation($input: CreatePayoutInput!) {{ createPayout(input: $input) {{ {PAYOUT_FIELDS} }} }}"
    );
    app.graphql_as(key, connect_account, &query, json!({ "input": input }))
        .await
}

/// `(available, instantAvailable)` of an account in one currency.
pub async fn instant_balance(
    app: &TestApp,
    key: &str,
    account: &str,
    currency: &str,
) -> (i64, i64) {
    let body = app
        .graphql_as(
            key,
            None,
            "query($a: ID) { balance(account: $a) { available { amount currency } instantAvailable { amount currency } } }",
            json!({ "a": account }),
        )
        .await;
    assert_no_errors(&body);
    let pick = |list: &str| {
        body["data"]["balance"][list]
            .as_array()
            .expect("list")
            .iter()
            .find(|money| money["currency"] == currency)
            .map_or(0, |money| money["amount"].as_i64().expect("amount"))
    };
    (pick("available"), pick("instantAvailable"))
}

/// A CUSTOM account in `country` with both capabilities active, as platform `key`, with a
/// bank account in `currency` (number `account_number`).
pub async fn custom_account(
    app: &TestApp,
    key: &str,
    country: &str,
    currency: &str,
    account_number: &str,
) -> String {
    let body = app
        .graphql_as(key, None,
            "mutation($c: CountryCode!) { createAccount(input: {type: CUSTOM, country: $c, businessType: INDIVIDUAL, email: \"seller@example.com\"}) { id } }",
            json!({ "c": country }))
        .await;
    assert_no_errors(&body);
    let id = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let details = if country == "US" {
        app.graphql_as(key, None, SUBMIT_DETAILS, json!({"account": id}))
            .await
    } else {
        app.graphql_as(key, None,
            "mutation($account: ID!) { submitAccountDetails(input: {account: $account,
               individual: {firstName: \"Ada\", lastName: \"Lovelace\", dobDay: 10, dobMonth: 12, dobYear: 1985, idNumber: \"AB123456C\",
                            address: {line1: \"1 High St\", city: \"London\", postalCode: \"SW1A 1AA\"}},
               businessUrl: \"https://seller.example.com\", mcc: \"5734\", tosAcceptance: true}) { id } }",
            json!({"account": id}))
            .await
    };
    assert_no_errors(&details);
    add_bank(app, key, &id, country, currency, account_number, false).await;
    let body = app
        .graphql_as(
            key,
            None,
            "query($id: ID!) { account(id: $id) { chargesEnabled payoutsEnabled } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["data"]["account"],
        json!({"chargesEnabled": true, "payoutsEnabled": true}),
        "{body}"
    );
    id
}

/// Adds a bank account through the API (CUSTOM accounts); returns its id.
pub async fn add_bank(
    app: &TestApp,
    key: &str,
    account: &str,
    country: &str,
    currency: &str,
    account_number: &str,
    default: bool,
) -> String {
    let routing = (country == "US").then_some("110000000");
    let body = app
        .graphql_as(key, None,
            "mutation($input: AddBankAccountInput!) { addBankAccount(input: $input) { id } }",
            json!({"input": {"account": account, "country": country, "currency": currency,
                   "routingNumber": routing, "accountNumber": account_number, "defaultForCurrency": default}}))
        .await;
    assert_no_errors(&body);
    body["data"]["addBankAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Adds a debit card to an account as its holder would (the holder manages the external
/// accounts of STANDARD and EXPRESS accounts); returns its id.
pub async fn add_debit_card_as_holder(
    app: &TestApp,
    platform: &str,
    account: &str,
    token: &str,
) -> String {
    let services = &app.services;
    let platform_id = PlatformId::parse(platform).expect("platform");
    let found = services
        .store
        .get_object::<AccountRecord>(platform, account)
        .expect("read")
        .expect("account");
    let now = services.clock.now(&platform_id);
    let card =
        NewDebitCard::from_test_token(token, found.value.default_currency(), now.date_naive())
            .expect("card");
    let id: CardId = services.ids.next();
    let mut record = found.value.clone();
    record
        .add_external_account(
            ExternalAccount::debit_card(id.clone(), card, now),
            Some(true),
            now,
        )
        .expect("room");
    let mut draft = Draft::new(&platform_id, now);
    draft
        .update(account, &record, found.revision)
        .expect("update");
    let owner = ExternalAccountOwner {
        account: AccountId::parse(account).expect("account"),
    };
    draft.insert(id.as_ref(), &owner, &[]).expect("owner");
    services.store.commit(draft.commit).await.expect("commit");
    id.to_string()
}
