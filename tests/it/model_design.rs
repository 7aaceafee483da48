//! The reference model against the worked numbers of the design's fund flows, before it is
//! ever compared with the gateway.

use crate::model_reference::*;

fn model() -> Model {
    let policy = PolicyParams {
        fee_percent: 0,
        fee_fixed: 0,
        hold_days: 0,
        platform_pays: None,
        route_percent: 1,
        instant_fee: 0,
        daily_payout_delay_days: None,
    };
    let mut model = Model::new(policy, 0);
    for platform_managed in [true, false] {
        model.add_account(Account {
            id: String::new(),
            platform_managed,
            card_payments: true,
            transfers: true,
            payouts_enabled: true,
            bank_fails: false,
            bank_errored: false,
            card: None,
        });
    }
    model
}

fn net(model: &Model, holder: HolderRef) -> i64 {
    model.balance(holder, Slot::Available) + model.balance(holder, Slot::Pending)
}

#[test]
fn a_destination_charge_with_an_application_fee() {
    let mut model = model();
    let (_, made) = model.charge(
        Flow::Destination,
        Some(0),
        10000,
        Some(123),
        None,
        None,
        true,
        Card::Visa,
    );
    assert_eq!(made.map(|made| made.processing_fee), Ok(320));
    assert_eq!(net(&model, HolderRef::Account(0)), 9877);
    assert_eq!(net(&model, HolderRef::Platform), -197);
    assert_eq!(net(&model, HolderRef::Gateway), 320);
    assert_eq!(model.balance(HolderRef::Account(0), Slot::Pending), 9877);
}

#[test]
fn a_destination_charge_with_a_transfer_amount_has_the_same_nets() {
    let mut model = model();
    let (_, made) = model.charge(
        Flow::Destination,
        Some(0),
        10000,
        None,
        Some(9877),
        None,
        true,
        Card::Visa,
    );
    assert_eq!(made.map(|made| made.application_fee), Ok(None));
    assert_eq!(net(&model, HolderRef::Account(0)), 9877);
    assert_eq!(net(&model, HolderRef::Platform), -197);
}

#[test]
fn a_direct_charge_on_a_standard_account() {
    let mut model = model();
    let (_, made) = model.charge(
        Flow::Direct,
        Some(1),
        1000,
        Some(200),
        None,
        None,
        true,
        Card::Visa,
    );
    assert_eq!(made.map(|made| made.processing_fee), Ok(59));
    assert_eq!(net(&model, HolderRef::Account(1)), 741);
    assert_eq!(net(&model, HolderRef::Platform), 200);
}

#[test]
fn separate_charges_and_transfers_drawn_on_the_charge() {
    let mut model = model();
    let (charge, _) = model.charge(
        Flow::Separate,
        None,
        10000,
        None,
        None,
        None,
        true,
        Card::Visa,
    );
    let charge = charge.expect("charge");
    assert!(model.transfer(0, 7000, Some(charge)).is_ok());
    assert!(model.transfer(1, 2000, Some(charge)).is_ok());
    assert_eq!(net(&model, HolderRef::Platform), 680);
    // Without a source the platform's available balance must cover it: none is yet.
    assert_eq!(model.transfer(0, 1, None), Err(INSUFFICIENT));
}

#[test]
fn a_refund_with_both_flags_takes_from_where_the_money_went() {
    let mut model = model();
    let (charge, _) = model.charge(
        Flow::Destination,
        Some(0),
        2000,
        Some(1000),
        None,
        None,
        true,
        Card::AvailableAtOnce,
    );
    let charge = charge.expect("charge");
    let (account, platform) = (
        net(&model, HolderRef::Account(0)),
        net(&model, HolderRef::Platform),
    );
    assert_eq!(model.refund(charge, Some(1500), true, true, false), Ok(()));
    assert_eq!(net(&model, HolderRef::Account(0)) - account, -750);
    // The platform refunds 1500, gets 1500 back from the reversal, returns 750 of fee.
    assert_eq!(net(&model, HolderRef::Platform) - platform, -750);
}

#[test]
fn a_dispute_takes_the_amount_and_the_fee_and_a_win_returns_the_amount() {
    let mut model = model();
    let (_, made) = model.charge(
        Flow::Separate,
        None,
        10000,
        None,
        None,
        None,
        true,
        Card::Disputes,
    );
    let dispute = made.expect("charge").dispute.expect("dispute");
    assert_eq!(model.available(HolderRef::Platform), -11500);
    assert_eq!(model.close_dispute(dispute, true), Ok(()));
    assert_eq!(model.available(HolderRef::Platform), -1500);
    assert_eq!(model.close_dispute(dispute, false), Err(INVALID));
}
