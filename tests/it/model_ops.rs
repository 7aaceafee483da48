//! What the model-based test generates: a platform policy's numbers, the first accounts,
//! and a short sequence of requests, each naming its objects by an index into those the
//! model knows so that a shrunk sequence still means something.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::model_reference::{Card, Flow, PolicyParams};

/// Sequences run by default; `PROPTEST_CASES` overrides it.
pub(crate) const DEFAULT_CASES: u32 = 2000;
/// Steps per sequence: short, so thousands of sequences fit in a couple of minutes.
pub(crate) const MAX_STEPS: usize = 14;
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;

#[derive(Clone, Copy, Debug)]
pub(crate) enum AccountKind {
    Custom {
        bank_fails: bool,
        debit_card: bool,
    },
    /// The holder adds the bank account on the hosted onboarding page.
    Express {
        bank_fails: bool,
    },
    Standard,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
    CreateAccount(AccountKind),
    Topup {
        amount: i64,
    },
    Charge {
        flow: Flow,
        account: Index,
        amount: i64,
        fee_percent: Option<u8>,
        transfer_percent: Option<u8>,
        route: Option<Index>,
        capture: bool,
        card: Card,
    },
    Capture {
        charge: Index,
        percent: Option<u8>,
        fee_percent: Option<u8>,
    },
    Refund {
        charge: Index,
        percent: Option<u8>,
        refund_fee: bool,
        reverse: bool,
        /// As the connected account of a direct charge (Connect-Account).
        as_account: bool,
    },
    RefundFee {
        fee: Index,
        percent: Option<u8>,
    },
    Transfer {
        account: Index,
        percent: u8,
        source: Option<Index>,
    },
    Reverse {
        transfer: Index,
        percent: Option<u8>,
        refund_fee: bool,
    },
    Evidence {
        dispute: Index,
    },
    CloseDispute {
        dispute: Index,
        won: bool,
    },
    Payout {
        account: Option<Index>,
        percent: u8,
        instant: bool,
    },
    CancelPayout {
        payout: Index,
    },
    Debit {
        account: Index,
        percent: u8,
    },
    Advance {
        hours: i64,
    },
    Restart,
}

fn account_kind() -> impl Strategy<Value = AccountKind> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>()).prop_map(|(fails, debit_card)| AccountKind::Custom {
            // One bank account in four is a failing test number.
            bank_fails: fails && debit_card,
            debit_card,
        }),
        1 => any::<bool>().prop_map(|fails| AccountKind::Express { bank_fails: fails }),
        1 => Just(AccountKind::Standard),
    ]
}

fn policy_params() -> impl Strategy<Value = PolicyParams> {
    (
        0i64..=15,
        0i64..=100,
        0i64..=3,
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        1i64..=100,
        0i64..=200,
        prop::option::weighted(0.5, 0i64..=3),
    )
        .prop_map(
            |(
                fee_percent,
                fee_fixed,
                hold_days,
                platform_pays,
                route_percent,
                instant_fee,
                daily_payout_delay_days,
            )| {
                PolicyParams {
                    fee_percent,
                    fee_fixed,
                    hold_days,
                    platform_pays,
                    route_percent,
                    instant_fee,
                    daily_payout_delay_days,
                }
            },
        )
}

fn percent() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 1u8..=100, 1 => 101u8..=120]
}

fn charge_op() -> impl Strategy<Value = Op> {
    (
        prop_oneof![
            Just(Flow::Direct),
            Just(Flow::Destination),
            Just(Flow::Separate)
        ],
        any::<Index>(),
        prop_oneof![1 => 1i64..=200, 4 => 200i64..=50_000],
        prop::option::weighted(0.4, 0u8..=100),
        prop::option::weighted(0.2, 1u8..=100),
        prop::option::weighted(0.4, any::<Index>()),
        prop::bool::weighted(0.8),
        prop_oneof![
            3 => Just(Card::Visa),
            5 => Just(Card::AvailableAtOnce),
            2 => Just(Card::Disputes),
            1 => Just(Card::Declined),
        ],
    )
        .prop_map(
            |(flow, account, amount, fee_percent, transfer_percent, route, capture, card)| {
                Op::Charge {
                    flow,
                    account,
                    amount,
                    fee_percent,
                    transfer_percent,
                    route,
                    capture,
                    card,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => account_kind().prop_map(Op::CreateAccount),
        2 => (1i64..=100_000).prop_map(|amount| Op::Topup { amount }),
        8 => charge_op(),
        2 => (any::<Index>(), prop::option::weighted(0.5, percent()), prop::option::weighted(0.3, 0u8..=100))
            .prop_map(|(charge, percent, fee_percent)| Op::Capture { charge, percent, fee_percent }),
        4 => (any::<Index>(), prop::option::weighted(0.6, percent()), any::<bool>(), any::<bool>(), prop::bool::weighted(0.3))
            .prop_map(|(charge, percent, refund_fee, reverse, as_account)| Op::Refund { charge, percent, refund_fee, reverse, as_account }),
        1 => (any::<Index>(), prop::option::weighted(0.6, percent()))
            .prop_map(|(fee, percent)| Op::RefundFee { fee, percent }),
        3 => (any::<Index>(), percent(), prop::option::weighted(0.6, any::<Index>()))
            .prop_map(|(account, percent, source)| Op::Transfer { account, percent, source }),
        2 => (any::<Index>(), prop::option::weighted(0.6, percent()), any::<bool>())
            .prop_map(|(transfer, percent, refund_fee)| Op::Reverse { transfer, percent, refund_fee }),
        1 => any::<Index>().prop_map(|dispute| Op::Evidence { dispute }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(dispute, won)| Op::CloseDispute { dispute, won }),
        3 => (prop::option::weighted(0.7, any::<Index>()), percent(), prop::bool::weighted(0.3))
            .prop_map(|(account, percent, instant)| Op::Payout { account, percent, instant }),
        1 => any::<Index>().prop_map(|payout| Op::CancelPayout { payout }),
        2 => (any::<Index>(), percent()).prop_map(|(account, percent)| Op::Debit { account, percent }),
        6 => prop_oneof![Just(1i64), Just(12), Just(24), Just(48), Just(72), Just(24 * 8)]
            .prop_map(|hours| Op::Advance { hours }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    pub(crate) policy: PolicyParams,
    pub(crate) accounts: Vec<AccountKind>,
    pub(crate) ops: Vec<Op>,
}

pub(crate) fn sequence() -> impl Strategy<Value = Sequence> {
    (
        policy_params(),
        prop::collection::vec(account_kind(), 1..=3),
        prop::collection::vec(op(), 1..=MAX_STEPS),
    )
        .prop_map(|(policy, accounts, ops)| Sequence {
            policy,
            accounts,
            ops,
        })
}

/// `part` percent of `base`, at least 1.
pub(crate) fn share(base: i64, percent: u8) -> i64 {
    (base.max(0) * i64::from(percent) / 100).max(1)
}

pub(crate) fn pick<T>(items: &[T], index: &Index) -> Option<usize> {
    (!items.is_empty()).then(|| index.index(items.len()))
}

pub(crate) fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .expect("time")
        .to_rfc3339()
}
