//! Disputes on each fund flow, won and lost, with every holder's balances: the amount and
//! the dispute fee (1500, gateway.rhai) withdrawn at once from whoever bears the charge, the
//! amount (not the fee) returned on a win; and the evidence deadline on the clock.

use serde_json::{json, Value};

use crate::charges_support::{balances, create_charge, enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};
use crate::refunds_support::{charge_id, close_dispute, dispute_of_charge, submit_evidence};

/// One disputed charge of each flow, with the balances (available, pending) of the
/// platform and of the seller expected right after the dispute.
struct Case {
    flow: &'static str,
    account_type: &'static str,
    direct: bool,
    input: fn(&str) -> Value,
    /// (available, pending) of the platform and the seller once disputed.
    platform_after_dispute: (i64, i64),
    seller_after_dispute: (i64, i64),
    amount: i64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            flow: "DIRECT",
            account_type: "STANDARD",
            direct: true,
            input: |_| json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_createDispute", "applicationFeeAmount": 200}),
            // The Standard account bears it: 1000 + 1500 out of its available balance.
            platform_after_dispute: (0, 200),
            seller_after_dispute: (-2500, 741),
            amount: 1000,
        },
        Case {
            flow: "DESTINATION",
            account_type: "EXPRESS",
            direct: false,
            input: |seller| {
                json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_createDispute",
                       "applicationFeeAmount": 123, "transferData": {"destination": seller}})
            },
            // The platform bears it: 10000 + 1500; the seller keeps its 9877.
            platform_after_dispute: (-11500, -197),
            seller_after_dispute: (0, 9877),
            amount: 10000,
        },
        Case {
            flow: "SEPARATE",
            account_type: "CUSTOM",
            direct: false,
            input: |_| json!({"amount": 5000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
            platform_after_dispute: (-6500, 4825),
            seller_after_dispute: (0, 0),
            amount: 5000,
        },
    ]
}

/// Creates the case's charge; checks the dispute it opened and the balances.
async fn disputed(app: &TestApp, case: &Case) -> (String, String, Value) {
    let seller = enabled_account(app, case.account_type).await;
    let connect = case.direct.then_some(seller.as_str());
    let body = create_charge(app, connect, (case.input)(&seller)).await;
    let charge = charge_id(&body);
    assert_eq!(body["data"]["createCharge"]["flow"], case.flow);
    let dispute = dispute_of_charge(app, &charge).await;
    assert!(dispute["id"].as_str().expect("id").starts_with("dp_"));
    assert_eq!(dispute["status"], "NEEDS_RESPONSE");
    assert_eq!(dispute["reason"], "fraudulent");
    assert_eq!(dispute["amount"]["amount"], case.amount);
    assert_eq!(dispute["fee"]["amount"], 1500);
    assert_eq!(dispute["charge"], json!({"id": charge, "disputed": true}));
    let created =
        chrono::DateTime::parse_from_rfc3339(dispute["created"].as_str().expect("created"))
            .expect("time");
    let due = chrono::DateTime::parse_from_rfc3339(dispute["evidenceDueBy"].as_str().expect("due"))
        .expect("time");
    assert_eq!(due - created, chrono::Duration::days(7), "{}", case.flow);
    assert_eq!(
        dispute["balanceTransactions"],
        json!([{"type": "DISPUTE", "amount": {"amount": -case.amount}, "fee": {"amount": 1500},
                "net": {"amount": -case.amount - 1500},
                "feeDetails": [{"type": "DISPUTE_FEE", "amount": {"amount": 1500}}]}]),
        "{}",
        case.flow
    );
    assert_eq!(
        balances(app, None).await,
        case.platform_after_dispute,
        "{}",
        case.flow
    );
    assert_eq!(
        balances(app, Some(&seller)).await,
        case.seller_after_dispute,
        "{}",
        case.flow
    );
    let id = dispute["id"].as_str().expect("id").to_owned();
    (seller, id, dispute)
}

fn plus(balance: (i64, i64), available: i64) -> (i64, i64) {
    (balance.0 + available, balance.1)
}

#[tokio::test]
async fn a_won_dispute_returns_the_amount_but_not_the_fee_on_each_flow() {
    for case in cases() {
        let app = spawn_app().await;
        let (seller, dispute, _) = disputed(&app, &case).await;
        let body = submit_evidence(&app, &dispute).await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["submitDisputeEvidence"]["status"],
            "UNDER_REVIEW"
        );
        let body = close_dispute(&app, &dispute, "WON").await;
        assert_no_errors(&body);
        let closed = &body["data"]["closeDispute"];
        assert_eq!(closed["status"], "WON");
        assert_eq!(
            closed["balanceTransactions"][1],
            json!({"type": "DISPUTE_REVERSAL", "amount": {"amount": case.amount}, "fee": {"amount": 0},
                   "net": {"amount": case.amount}, "feeDetails": []})
        );
        let (platform, seller_balance) = if case.direct {
            (
                case.platform_after_dispute,
                plus(case.seller_after_dispute, case.amount),
            )
        } else {
            (
                plus(case.platform_after_dispute, case.amount),
                case.seller_after_dispute,
            )
        };
        assert_eq!(balances(&app, None).await, platform, "{}", case.flow);
        assert_eq!(
            balances(&app, Some(&seller)).await,
            seller_balance,
            "{}",
            case.flow
        );
        // The bearer is out exactly the dispute fee.
        let bearer = if case.direct {
            Some(seller.as_str())
        } else {
            None
        };
        let bearer_transactions = transactions(&app, bearer).await;
        assert_eq!(
            bearer_transactions[..2],
            [
                txn("DISPUTE_REVERSAL", case.amount, 0, case.amount),
                txn("DISPUTE", -case.amount, 1500, -case.amount - 1500)
            ],
            "{}",
            case.flow
        );
        app.assert_ledger_balanced().await;
    }
}

#[tokio::test]
async fn a_lost_dispute_keeps_the_amount_and_the_fee_on_each_flow() {
    for case in cases() {
        let app = spawn_app().await;
        let (seller, dispute, _) = disputed(&app, &case).await;
        let body = close_dispute(&app, &dispute, "LOST").await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["closeDispute"]["status"], "LOST");
        assert_eq!(
            body["data"]["closeDispute"]["balanceTransactions"]
                .as_array()
                .expect("list")
                .len(),
            1
        );
        assert_eq!(
            balances(&app, None).await,
            case.platform_after_dispute,
            "{}",
            case.flow
        );
        assert_eq!(
            balances(&app, Some(&seller)).await,
            case.seller_after_dispute,
            "{}",
            case.flow
        );
        // Closed: no more evidence, no second decision, and nothing moves.
        let body = submit_evidence(&app, &dispute).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST");
        assert_eq!(error_param(&body), Some("input.dispute"));
        let body = close_dispute(&app, &dispute, "WON").await;
        assert_eq!(error_code(&body), "INVALID_REQUEST");
        assert_eq!(error_param(&body), Some("input.dispute"));
        assert_eq!(
            balances(&app, None).await,
            case.platform_after_dispute,
            "{}",
            case.flow
        );
        assert_eq!(
            balances(&app, Some(&seller)).await,
            case.seller_after_dispute,
            "{}",
            case.flow
        );
        app.assert_ledger_balanced().await;
    }
}

async fn event_types(app: &TestApp) -> Vec<String> {
    let body = app
        .graphql("{ events(first: 100) { nodes { type } } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().expect("type").to_owned())
        .filter(|kind| kind.starts_with("charge."))
        .collect()
}

#[tokio::test]
async fn an_unanswered_dispute_is_lost_at_its_deadline() {
    let app = spawn_app().await;
    let unanswered = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
        )
        .await,
    );
    let answered = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
        )
        .await,
    );
    let unanswered = dispute_of_charge(&app, &unanswered).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let answered = dispute_of_charge(&app, &answered).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_no_errors(&submit_evidence(&app, &answered).await);
    let by_status = |status: &'static str| {
        let app = &app;
        async move {
            let body = app
                .graphql(
                    "query($s: DisputeStatus) { disputes(status: $s) { nodes { id } } }",
                    json!({"s": status}),
                )
                .await;
            assert_no_errors(&body);
            body["data"]["disputes"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|node| node["id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_status("NEEDS_RESPONSE").await, vec![unanswered.clone()]);
    assert_eq!(by_status("UNDER_REVIEW").await, vec![answered.clone()]);

    app.advance_days(6).await;
    assert_eq!(by_status("NEEDS_RESPONSE").await, vec![unanswered.clone()]);
    app.advance_days(1).await;
    assert_eq!(by_status("NEEDS_RESPONSE").await, Vec::<String>::new());
    assert_eq!(by_status("LOST").await, vec![unanswered.clone()]);
    // Evidence in time leaves the decision to the network.
    assert_eq!(by_status("UNDER_REVIEW").await, vec![answered.clone()]);
    let body = close_dispute(&app, &unanswered, "WON").await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_no_errors(&close_dispute(&app, &answered, "WON").await);
    assert_eq!(by_status("WON").await, vec![answered.clone()]);

    // Platform: two charges (2000 − 88, 3000 − 117), two dispute fees, the 3000 won back.
    assert_eq!(
        balances(&app, None).await,
        (1912 + 2883 - 2000 - 1500 - 3000 - 1500 + 3000, 0)
    );
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Dispute { status charge { refunded disputed } } } }",
            json!({"id": unanswered}),
        )
        .await;
    assert_eq!(
        body["data"]["node"],
        json!({"status": "LOST", "charge": {"refunded": false, "disputed": true}})
    );
    let events = event_types(&app).await;
    for (kind, count) in [
        ("charge.dispute.created", 2),
        ("charge.dispute.updated", 1),
        ("charge.dispute.closed", 2),
    ] {
        assert_eq!(
            events.iter().filter(|event| *event == kind).count(),
            count,
            "{kind} in {events:?}"
        );
    }
    // A closing event says what the dispute's status was before.
    let body = app
        .graphql(
            "{ events(type: \"charge.dispute.closed\") { nodes { data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    for node in body["data"]["events"]["nodes"].as_array().expect("events") {
        let data = &node["data"];
        assert!(data["previousAttributes"]["status"].is_string(), "{data}");
        assert_ne!(
            data["previousAttributes"]["status"],
            data["object"]["status"]
        );
    }
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn an_authorization_is_disputed_when_it_is_captured() {
    let app = spawn_app().await;
    let charge = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 4000, "currency": "usd", "paymentMethod": "pm_card_createDispute", "capture": false}),
        )
        .await,
    );
    assert_eq!(dispute_of_charge(&app, &charge).await, json!(null));
    let body = app
        .graphql(
            "mutation($c: ID!) { captureCharge(input: {charge: $c, amount: 3000}) { disputed dispute { amount { amount } status } } }",
            json!({"c": charge}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["captureCharge"],
        json!({"disputed": true, "dispute": {"amount": {"amount": 3000}, "status": "NEEDS_RESPONSE"}})
    );
    // 3000 − 117 pending; 3000 + 1500 out of available.
    assert_eq!(balances(&app, None).await, (-4500, 2883));
    app.assert_ledger_balanced().await;
}
