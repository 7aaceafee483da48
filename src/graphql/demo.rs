//! The demo data, made through the public API so the playground shows what a client would
//! have made: a top-up, a Custom seller onboarded, and a few charges of each kind.

use async_graphql::{Request, Variables};
use serde_json::{json, Value};

use super::TollgateSchema;
use crate::service::Caller;

const TOPUP: &str = r#"mutation { createTopup(input: {amount: 250000, currency: "usd", description: "Demo top-up"}) { id } }"#;
const CREATE_SELLER: &str = r#"mutation { createAccount(input: {type: CUSTOM, country: "US", businessType: INDIVIDUAL, email: "jenny@example.com", metadata: {shop: "Jenny's Books"}}) { id } }"#;
const ONBOARD_SELLER: &str = r#"mutation($account: ID!) {
  submitAccountDetails(input: {account: $account,
    individual: {firstName: "Jenny", lastName: "Rosen", dobDay: 1, dobMonth: 1, dobYear: 1990, ssnLast4: "0000",
                 address: {line1: "510 Townsend St", city: "San Francisco", postalCode: "94103"}},
    businessUrl: "https://jenny.example", mcc: "5942", tosAcceptance: true}) { id }
}"#;
const BANK_ACCOUNT: &str = r#"mutation($account: ID!) {
  addBankAccount(input: {account: $account, country: "US", currency: "usd", routingNumber: "110000000", accountNumber: "000123456789"}) { id }
}"#;
const DESTINATION_CHARGE: &str = r#"mutation($account: ID!, $amount: MinorUnits!, $category: String!) {
  createCharge(input: {amount: $amount, currency: "usd", paymentMethod: "pm_card_visa",
    transferData: {destination: $account}, description: "Demo order", metadata: {category: $category}}) { id }
}"#;
const SEPARATE_CHARGE: &str = r#"mutation { createCharge(input: {amount: 4200, currency: "usd", paymentMethod: "pm_card_mastercard", transferGroup: "demo-order-7"}) { id } }"#;
const TRANSFER: &str = r#"mutation($account: ID!, $charge: ID!) {
  createTransfer(input: {amount: 3000, currency: "usd", destination: $account, sourceTransaction: $charge, transferGroup: "demo-order-7"}) { id }
}"#;

async fn run(
    schema: &TollgateSchema,
    caller: &Caller,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller.clone());
    let response = schema.execute(request).await;
    if let Some(error) = response.errors.first() {
        return Err(format!("demo data: {}", error.message));
    }
    response.data.into_json().map_err(|error| error.to_string())
}

/// Seeds a new demo platform.
pub async fn seed(schema: &TollgateSchema, caller: &Caller) -> Result<(), String> {
    run(schema, caller, TOPUP, json!({})).await?;
    let seller = run(schema, caller, CREATE_SELLER, json!({})).await?;
    let account = seller["createAccount"]["id"].clone();
    run(schema, caller, ONBOARD_SELLER, json!({"account": account})).await?;
    run(schema, caller, BANK_ACCOUNT, json!({"account": account})).await?;
    for (amount, category) in [(2500, "books"), (12000, "electronics"), (899, "books")] {
        run(
            schema,
            caller,
            DESTINATION_CHARGE,
            json!({"account": account, "amount": amount, "category": category}),
        )
        .await?;
    }
    let separate = run(schema, caller, SEPARATE_CHARGE, json!({})).await?;
    let charge = separate["createCharge"]["id"].clone();
    run(
        schema,
        caller,
        TRANSFER,
        json!({"account": account, "charge": charge}),
    )
    .await?;
    Ok(())
}
