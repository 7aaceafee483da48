//! Automatic payouts over simulated months: daily, weekly and monthly schedules with their
//! exact dates and amounts, business-day against calendar-day delays, and manual accounts.
//!
//! 2027-03-01 is a Monday. The payout run of a day is at 23:59:59 UTC; a standard payout
//! arrives at 00:00 UTC two business days after the day it was made.

use serde_json::json;

use crate::charges_support::{enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, spawn_app};
use crate::payouts_support::{
    advance_to, custom_account, pay_seller, payout, payouts_of, set_schedule,
};

#[tokio::test]
async fn daily_with_a_two_day_delay_pays_each_charge_two_business_days_later() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = enabled_account(&app, "EXPRESS").await;
    set_schedule(&app, &seller, json!({"interval": "DAILY", "delayDays": 2})).await;
    pay_seller(&app, &seller, 10000, "usd").await;
    advance_to(&app, "2027-03-03T23:00:00Z").await;
    // Available since Wednesday noon, paid out at Wednesday's run.
    assert_eq!(app.balance(Some(&seller), "usd").await, (10000, 0));
    assert_eq!(payouts_of(&app, &seller).await, vec![]);

    advance_to(&app, "2027-03-04T12:00:00Z").await;
    pay_seller(&app, &seller, 5000, "usd").await;
    advance_to(&app, "2027-03-12T00:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &seller).await,
        vec![
            payout(
                "2027-03-03T23:59:59Z",
                10000,
                "PAID",
                "2027-03-05T00:00:00Z"
            ),
            // Thursday's charge: available Saturday, but two business days is Monday.
            payout("2027-03-08T23:59:59Z", 5000, "PAID", "2027-03-10T00:00:00Z"),
        ]
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (0, 0));
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![
            txn("PAYOUT", -5000, 0, -5000),
            txn("PAYMENT", 5000, 0, 5000),
            txn("PAYOUT", -10000, 0, -10000),
            txn("PAYMENT", 10000, 0, 10000),
        ]
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn weekly_on_friday() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = enabled_account(&app, "EXPRESS").await;
    set_schedule(
        &app,
        &seller,
        json!({"interval": "WEEKLY", "weeklyAnchor": "FRIDAY"}),
    )
    .await;
    pay_seller(&app, &seller, 10000, "usd").await;
    advance_to(&app, "2027-03-04T12:00:00Z").await;
    pay_seller(&app, &seller, 5000, "usd").await;
    advance_to(&app, "2027-03-08T12:00:00Z").await;
    pay_seller(&app, &seller, 2000, "usd").await;
    advance_to(&app, "2027-03-27T00:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &seller).await,
        vec![
            payout(
                "2027-03-05T23:59:59Z",
                10000,
                "PAID",
                "2027-03-09T00:00:00Z"
            ),
            payout("2027-03-12T23:59:59Z", 7000, "PAID", "2027-03-16T00:00:00Z"),
        ]
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (0, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn monthly_on_the_31st_falls_back_to_the_end_of_february() {
    let app = spawn_app().await;
    advance_to(&app, "2027-01-04T12:00:00Z").await;
    let seller = enabled_account(&app, "EXPRESS").await;
    set_schedule(
        &app,
        &seller,
        json!({"interval": "MONTHLY", "monthlyAnchor": 31}),
    )
    .await;
    pay_seller(&app, &seller, 1000, "usd").await;
    advance_to(&app, "2027-02-10T12:00:00Z").await;
    pay_seller(&app, &seller, 2000, "usd").await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    pay_seller(&app, &seller, 3000, "usd").await;
    advance_to(&app, "2027-04-01T12:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &seller).await,
        vec![
            payout("2027-01-31T23:59:59Z", 1000, "PAID", "2027-02-02T00:00:00Z"),
            payout("2027-02-28T23:59:59Z", 2000, "PAID", "2027-03-02T00:00:00Z"),
            payout(
                "2027-03-31T23:59:59Z",
                3000,
                "IN_TRANSIT",
                "2027-04-02T00:00:00Z"
            ),
        ]
    );
    advance_to(&app, "2027-04-02T00:00:00Z").await;
    assert_eq!(payouts_of(&app, &seller).await[2].2, "PAID");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn manual_accounts_get_no_automatic_payouts() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = enabled_account(&app, "EXPRESS").await;
    set_schedule(&app, &seller, json!({"interval": "MANUAL"})).await;
    pay_seller(&app, &seller, 10000, "usd").await;
    advance_to(&app, "2027-04-15T00:00:00Z").await;
    assert_eq!(payouts_of(&app, &seller).await, vec![]);
    assert_eq!(app.balance(Some(&seller), "usd").await, (10000, 0));
    let body = app
        .graphql(
            "query($id: ID!) { account(id: $id) { payoutSchedule { interval delayDays } } }",
            json!({"id": seller}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["account"]["payoutSchedule"],
        json!({"interval": "MANUAL", "delayDays": 2})
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn business_days_for_a_us_account_and_calendar_days_for_a_gb_account() {
    let app = spawn_app().await;
    // Friday noon.
    advance_to(&app, "2027-03-05T12:00:00Z").await;
    let us_seller = enabled_account(&app, "EXPRESS").await;
    let gb_seller = custom_account(&app, &app.secret_key, "GB", "gbp", "000123456789").await;
    for seller in [&us_seller, &gb_seller] {
        set_schedule(&app, seller, json!({"interval": "DAILY", "delayDays": 2})).await;
    }
    pay_seller(&app, &us_seller, 10000, "usd").await;
    pay_seller(&app, &gb_seller, 8000, "gbp").await;

    // Monday noon: both available since Sunday noon; GB paid on Sunday, US held till Tuesday.
    advance_to(&app, "2027-03-08T12:00:00Z").await;
    assert_eq!(app.balance(Some(&us_seller), "usd").await, (10000, 0));
    assert_eq!(payouts_of(&app, &us_seller).await, vec![]);
    assert_eq!(
        payouts_of(&app, &gb_seller).await,
        vec![payout(
            "2027-03-07T23:59:59Z",
            8000,
            "IN_TRANSIT",
            "2027-03-09T00:00:00Z"
        )]
    );
    assert_eq!(app.balance(Some(&gb_seller), "gbp").await, (0, 0));

    advance_to(&app, "2027-03-12T00:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &us_seller).await,
        vec![payout(
            "2027-03-09T23:59:59Z",
            10000,
            "PAID",
            "2027-03-11T00:00:00Z"
        )]
    );
    assert_eq!(payouts_of(&app, &gb_seller).await[0].2, "PAID");
    app.assert_ledger_balanced().await;
}
