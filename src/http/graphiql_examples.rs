//! The example documents GraphiQL opens as tabs: a tour of the API from onboarding a seller
//! to watching events. A test runs every operation in order against a real server, so
//! they stay valid as the API changes.

/// One GraphiQL tab.
pub struct Example {
    /// What the tab is for (the document's first comment line says the same).
    pub title: &'static str,
    /// One or more named operations; GraphiQL asks which one to run.
    pub document: &'static str,
    /// The Variables pane, as JSON text.
    pub variables: &'static str,
    /// Headers added to the tab's Headers pane besides the key.
    pub extra_headers: &'static [(&'static str, &'static str)],
}

pub const START: Example = Example {
    title: "Start here",
    document: r#"# Welcome to tollgate. Press the run button (or Ctrl-Enter) to see the platform.
# Each tab is one task: onboard a seller, charge in each flow, refund, transfer, payout,
# watch events. Ids made in one operation go into the Variables pane of the next.
query Platform {
  platform {
    id
    name
    policy { name version hooks }
    balance {
      available { amount currency decimal }
      pending { amount currency decimal }
    }
  }
  balanceTransactions(first: 5) { nodes { type amount { decimal } status availableOn } }
  ledgerCheck { balanced entries }
}
"#,
    variables: "{}",
    extra_headers: &[],
};

pub const ONBOARD_SELLER: Example = Example {
    title: "Onboard a seller",
    document: r#"# Onboard a seller: run CreateSeller, put its id in "account" (Variables pane), then
# SubmitDetails, AddBankAccount and Seller: chargesEnabled and payoutsEnabled are true.
mutation CreateSeller {
  createAccount(input: {type: CUSTOM, country: "US", businessType: INDIVIDUAL,
                        email: "jenny@example.com", metadata: {shop: "Jenny's Books"}}) {
    id
    requirements { currentlyDue }
  }
}

mutation SubmitDetails($account: ID!) {
  submitAccountDetails(input: {account: $account,
    individual: {firstName: "Jenny", lastName: "Rosen", dobDay: 1, dobMonth: 1, dobYear: 1990,
                 ssnLast4: "0000",
                 address: {line1: "510 Townsend St", city: "San Francisco", postalCode: "94103"}},
    businessUrl: "https://jenny.example", mcc: "5942", tosAcceptance: true}) {
    id
    requirements { currentlyDue pendingVerification }
  }
}

mutation AddBankAccount($account: ID!) {
  addBankAccount(input: {account: $account, country: "US", currency: "usd",
                         routingNumber: "110000000", accountNumber: "000123456789"}) {
    id
    last4
  }
}

query Seller($account: ID!) {
  account(id: $account) {
    id
    chargesEnabled
    payoutsEnabled
    requirements { currentlyDue }
    payoutSchedule { interval delayDays }
  }
}

# EXPRESS and STANDARD sellers fill in their own details on a hosted page: create one,
# run OnboardingLink with its id and open the url.
mutation CreateExpressSeller {
  createAccount(input: {type: EXPRESS, country: "US", businessType: INDIVIDUAL,
                        email: "sam@example.com"}) {
    id
  }
}

mutation OnboardingLink($expressAccount: ID!) {
  createAccountLink(input: {account: $expressAccount,
                            refreshUrl: "https://example.com/reauth",
                            returnUrl: "https://example.com/done"}) {
    url
    expiresAt
  }
}
"#,
    variables: r#"{
  "account": "acct_ from CreateSeller",
  "expressAccount": "acct_ from CreateExpressSeller"
}"#,
    extra_headers: &[],
};

pub const CHARGES: Example = Example {
    title: "Charge in each flow",
    document: r#"# Charge in each flow. A destination charge pays the seller and keeps the platform's
# fee (priced by its policy); a separate charge stays with the platform until a transfer
# moves part of it. Direct charges are made on the seller's account: see the next tab.
# Test cards: pm_card_visa, pm_card_mastercard, pm_card_chargeDeclined, pm_card_createDispute.
query PreviewPricing($account: ID!) {
  previewCharge(input: {amount: 10000, currency: "usd", paymentMethod: "pm_card_visa",
                        transferData: {destination: $account}}) {
    policy
    version
    processingFee { decimal }
    applicationFee { decimal }
    holdDays
  }
}

mutation DestinationCharge($account: ID!) {
  createCharge(input: {amount: 10000, currency: "usd", paymentMethod: "pm_card_visa",
                       transferData: {destination: $account}, description: "Order 1001"}) {
    id
    status
    processingFee { decimal }
    applicationFee { amount { decimal } }
    pricing { policy version holdDays }
    transfers { id amount { decimal } }
  }
}

mutation SeparateCharge {
  createCharge(input: {amount: 5000, currency: "usd", paymentMethod: "pm_card_mastercard",
                       transferGroup: "order-1002"}) {
    id
    status
    processingFee { decimal }
  }
}

mutation TransferFromCharge($account: ID!, $charge: ID!) {
  createTransfer(input: {amount: 3500, currency: "usd", destination: $account,
                         sourceTransaction: $charge, transferGroup: "order-1002"}) {
    id
    amount { decimal }
    destinationPayment
  }
}

mutation DeclinedCharge {
  createCharge(input: {amount: 2000, currency: "usd", paymentMethod: "pm_card_chargeDeclined"}) {
    id
  }
}
"#,
    variables: r#"{
  "account": "acct_ of an onboarded seller",
  "charge": "ch_ from SeparateCharge"
}"#,
    extra_headers: &[],
};

pub const DIRECT_CHARGE: Example = Example {
    title: "Direct charge",
    document: r#"# A direct charge is made on the seller's own account: the Connect-Account header (Headers
# pane) names it. The platform may still take an application fee.
mutation DirectCharge {
  createCharge(input: {amount: 8000, currency: "usd", paymentMethod: "pm_card_visa",
                       applicationFeeAmount: 500}) {
    id
    flow
    account { id }
    applicationFee { amount { decimal } }
    processingFee { decimal }
  }
}
"#,
    variables: "{}",
    extra_headers: &[("Connect-Account", "acct_ of an onboarded seller")],
};

pub const REFUND: Example = Example {
    title: "Refund",
    document: r#"# Refund a destination charge: the money comes back from the seller (reverseTransfer) and
# the platform returns its fee (refundApplicationFee). Leave out amount to refund it all.
mutation Refund($charge: ID!) {
  createRefund(input: {charge: $charge, amount: 4000, reason: REQUESTED_BY_CUSTOMER,
                       reverseTransfer: true, refundApplicationFee: true}) {
    id
    status
    amount { decimal }
    transferReversal { amount { decimal } }
    applicationFeeRefund { amount { decimal } }
    charge { amountRefunded { decimal } refunded }
  }
}
"#,
    variables: r#"{
  "charge": "ch_ from DestinationCharge"
}"#,
    extra_headers: &[],
};

pub const TRANSFER: Example = Example {
    title: "Transfer",
    document: r#"# Move money from the platform's available balance to a seller. Top-ups and card funds
# become available after the hold: AdvanceClock moves the server's simulated clock.
mutation TopUp {
  createTopup(input: {amount: 50000, currency: "usd", description: "Funds for transfers"}) {
    id
    status
  }
}

mutation AdvanceClock {
  advanceClock(input: {seconds: 259200})
}

mutation Transfer($account: ID!) {
  createTransfer(input: {amount: 2500, currency: "usd", destination: $account,
                         description: "Bonus"}) {
    id
    amount { decimal }
    destination { id balance { pending { decimal } available { decimal } } }
  }
}
"#,
    variables: r#"{
  "account": "acct_ of an onboarded seller"
}"#,
    extra_headers: &[],
};

pub const PAYOUT: Example = Example {
    title: "Payout",
    document: r#"# Pay a seller out to their bank account from their available balance (AdvanceClock in
# the Transfer tab makes pending funds available). Sellers are paid out daily by default;
# run ManualPayouts first to keep their balance until you pay it out here.
mutation ManualPayouts($account: ID!) {
  updatePayoutSchedule(input: {account: $account, interval: MANUAL}) {
    payoutSchedule { interval }
  }
}

query SellerBalance($account: ID!) {
  balance(account: $account) {
    available { amount currency decimal }
    pending { amount currency decimal }
    instantAvailable { amount currency decimal }
  }
}

mutation Payout($account: ID!) {
  createPayout(input: {account: $account, amount: 1000, currency: "usd"}) {
    id
    status
    amount { decimal }
    arrivalDate
    destination { __typename }
  }
}

query Payouts($account: ID!) {
  payouts(account: $account, first: 5) {
    nodes { id status amount { decimal } automatic arrivalDate }
  }
}
"#,
    variables: r#"{
  "account": "acct_ of an onboarded seller"
}"#,
    extra_headers: &[],
};

pub const WATCH_EVENTS: Example = Example {
    title: "Watch events",
    document: r#"# Events as they happen, over the /graphql/ws websocket. Run this, then make a charge in
# another tab. Leave out types to see every event.
subscription WatchEvents {
  events(types: ["charge.succeeded", "transfer.created", "payout.created", "account.updated"]) {
    id
    type
    account { id }
    created
  }
}

query RecentEvents {
  events(first: 10) { nodes { id type created } }
}
"#,
    variables: "{}",
    extra_headers: &[],
};

/// The tabs, in the order they are shown.
pub const EXAMPLES: [&Example; 8] = [
    &START,
    &ONBOARD_SELLER,
    &CHARGES,
    &DIRECT_CHARGE,
    &REFUND,
    &TRANSFER,
    &PAYOUT,
    &WATCH_EVENTS,
];
