//! The shipped policies: their own tests pass, their numbers match the design's fund flows, and the host rounds and splits exactly.

use std::path::PathBuf;
use std::sync::Arc;

use tollgate::money::{Currency, MinorUnits};
use tollgate::policy::{
    check_file, run_tests, AccountFacts, AccountType, ChargeFacts, ChargeFlow, ChargeRequest,
    FeePayer, Hook, LoadedPolicy, PayoutFacts, PayoutInterval, PayoutSchedule, PolicyEngine,
    PolicyError, PolicyRegistry, PreparedCharge, Split, SplitDirectory,
};

fn shipped_policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("a supported currency")
}

fn minor(amount: i64) -> MinorUnits {
    MinorUnits::new(amount).expect("an amount in range")
}

fn charge(amount: i64, code: &str, flow: ChargeFlow) -> ChargeFacts {
    ChargeFacts {
        amount: minor(amount),
        currency: currency(code),
        flow,
        ..ChargeFacts::sample()
    }
}

fn with_metadata(mut facts: ChargeFacts, entries: &[(&str, &str)]) -> ChargeFacts {
    facts.metadata = entries
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    facts
}

/// Metadata entries of a sample charge.
type Metadata = &'static [(&'static str, &'static str)];
/// Expected splits: destination and amount.
type ExpectedSplits = &'static [(&'static str, i64)];

fn request(facts: ChargeFacts) -> ChargeRequest {
    ChargeRequest {
        facts,
        requested_application_fee: None,
        has_transfer_data: false,
    }
}

/// This platform's accounts with TRANSFERS active.
struct Accounts(&'static [&'static str]);

impl SplitDirectory for Accounts {
    fn check_destination(&self, account_id: &str) -> Result<(), String> {
        if self.0.contains(&account_id) {
            Ok(())
        } else {
            Err("not an account of this platform with TRANSFERS active".to_string())
        }
    }
}

const ACCOUNTS: Accounts = Accounts(&["acct_driver", "acct_a", "acct_b", "acct_c"]);

fn registry() -> Arc<PolicyRegistry> {
    PolicyRegistry::load(shipped_policies(), Arc::new(PolicyEngine::new()), |_| {})
        .expect("the shipped policies load")
}

#[test]
fn every_shipped_policy_test_passes() {
    let report = run_tests(&shipped_policies(), None);
    assert!(report.passed(), "{report}");
    let files: Vec<&str> = report
        .policies
        .iter()
        .map(|policy| policy.test_file.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "booking.test.rhai",
            "crowdfunding.test.rhai",
            "default.test.rhai",
            "gateway.test.rhai",
            "marketplace.test.rhai",
            "rides.test.rhai"
        ]
    );
    assert_eq!(report.untested, Vec::<String>::new());
    assert_eq!(report.failed_count(), 0);
    assert_eq!(report.passed_count(), 31);
}

#[test]
fn processing_fee_is_2_9_percent_plus_30_without_the_fixed_part_for_zero_decimal_currencies() {
    let gateway = registry().gateway().expect("gateway");
    let table = [
        (10_000, "usd", 320),
        (1_000, "usd", 59),
        (2_000, "usd", 88),
        (1_234, "eur", 66),
        (1_000, "jpy", 29),
        (99_999_999, "usd", 2_900_030),
    ];
    for (amount, code, expected) in table {
        let fee = gateway
            .processing_fee(&PreparedCharge::new(&charge(
                amount,
                code,
                ChargeFlow::Destination,
            )))
            .expect("priced");
        assert_eq!(fee, minor(expected), "{amount} {code}");
    }
}

#[test]
fn gateway_dispute_and_instant_payout_fees() {
    let gateway = registry().gateway().expect("gateway");
    assert_eq!(
        gateway.dispute_fee(&PreparedCharge::new(&charge(
            1_000,
            "usd",
            ChargeFlow::Direct
        ))),
        Ok(minor(1_500))
    );
    assert_eq!(
        gateway.dispute_fee(&PreparedCharge::new(&charge(
            1_000,
            "jpy",
            ChargeFlow::Direct
        ))),
        Ok(minor(1_500))
    );
    for (amount, expected) in [
        (10_000, 150),
        (1_000, 50),
        (30, 30),
        (3_333, 50),
        (4_567, 69),
    ] {
        let payout = PayoutFacts {
            amount: minor(amount),
            ..PayoutFacts::sample()
        };
        assert_eq!(
            gateway.instant_payout_fee(&payout),
            Ok(minor(expected)),
            "{amount}"
        );
    }
}

#[test]
fn destination_charge_with_a_requested_fee_matches_the_design() {
    let mut request = request(charge(10_000, "usd", ChargeFlow::Destination));
    request.requested_application_fee = Some(minor(123));
    request.has_transfer_data = true;
    let decision = registry()
        .decide_charge("marketplace", &request, &ACCOUNTS)
        .expect("decided");
    assert_eq!(
        (decision.processing_fee, decision.application_fee),
        (minor(320), minor(123))
    );
    assert!(decision.application_fee_from_request);
    assert_eq!(decision.policy_name, "marketplace");
    assert_eq!(decision.splits, Vec::<Split>::new());
}

#[test]
fn marketplace_fee_table() {
    let registry = registry();
    let table: [(i64, Metadata, i64); 7] = [
        (10_000, &[], 530),
        (10_000, &[("category", "books")], 330),
        (200, &[], 50),
        (40, &[], 40),
        (1_000_000, &[], 2_000),
        (1_010, &[], 81),
        (1_001, &[], 80),
    ];
    for (amount, metadata, expected) in table {
        let facts = with_metadata(charge(amount, "usd", ChargeFlow::Destination), metadata);
        let decision = registry
            .decide_charge("marketplace", &request(facts), &ACCOUNTS)
            .expect("decided");
        assert_eq!(
            decision.application_fee,
            minor(expected),
            "{amount} {metadata:?}"
        );
        assert!(!decision.application_fee_from_request);
    }
    let schedule = registry
        .policy("marketplace")
        .expect("loaded")
        .payout_schedule(&AccountFacts::sample())
        .expect("scheduled");
    assert_eq!(
        schedule,
        Some(PayoutSchedule {
            interval: PayoutInterval::Weekly {
                anchor: chrono::Weekday::Mon
            },
            delay_days: 2
        })
    );
}

#[test]
fn rides_route_the_driver_share_and_the_tip() {
    let registry = registry();
    let table: [(i64, Metadata, i64); 4] = [
        (2_500, &[("driver", "acct_driver")], 2_000),
        (2_500, &[("driver", "acct_driver"), ("tip", "500")], 2_100),
        (1_001, &[("driver", "acct_driver")], 801),
        (300, &[("driver", "acct_driver"), ("tip", "300")], 300),
    ];
    for (amount, metadata, driver_amount) in table {
        let facts = with_metadata(charge(amount, "usd", ChargeFlow::Separate), metadata);
        let decision = registry
            .decide_charge("rides", &request(facts), &ACCOUNTS)
            .expect("decided");
        assert_eq!(
            decision.splits,
            vec![Split {
                destination: "acct_driver".to_string(),
                amount: minor(driver_amount)
            }],
            "{amount} {metadata:?}"
        );
        assert_eq!(
            decision.application_fee,
            MinorUnits::ZERO,
            "separate charges carry no application fee"
        );
    }
}

#[test]
fn rides_refuse_a_driver_of_another_platform() {
    let facts = with_metadata(
        charge(2_500, "usd", ChargeFlow::Separate),
        &[("driver", "acct_elsewhere")],
    );
    let error = registry()
        .decide_charge("rides", &request(facts), &ACCOUNTS)
        .expect_err("refused");
    // The error points at the definition of `route`, wherever comments move it.
    let source = std::fs::read_to_string(shipped_policies().join("rides.rhai")).expect("source");
    let route_line = source
        .lines()
        .position(|line| line.starts_with("fn route("))
        .map(|index| index + 1);
    assert_eq!(
        (error.line(), error.column(), error.hook()),
        (route_line, Some(1), Some("route"))
    );
    assert_eq!(
        error.message(),
        "route sends 2000 to acct_elsewhere, which is refused: not an account of this platform with TRANSFERS active"
    );
}

#[test]
fn crowdfunding_holds_until_the_campaign_ends() {
    let registry = registry();
    let created = ChargeFacts::sample().created_unix_seconds;
    let table = [
        (Some(created + 30 * 86_400), 30),
        (Some(created + 30 * 86_400 + 1), 31),
        (Some(created - 1), 0),
        (None, 0),
        (Some(created + 1_000 * 86_400), 365),
    ];
    for (campaign_ends, expected_days) in table {
        let text = campaign_ends.map(|seconds| seconds.to_string());
        let metadata: Vec<(&str, &str)> = text
            .iter()
            .map(|seconds| ("campaign_ends", seconds.as_str()))
            .collect();
        let facts = with_metadata(charge(10_000, "usd", ChargeFlow::Destination), &metadata);
        let decision = registry
            .decide_charge("crowdfunding", &request(facts), &ACCOUNTS)
            .expect("decided");
        assert_eq!(
            (decision.application_fee, decision.hold_days),
            (minor(500), expected_days),
            "{campaign_ends:?}"
        );
    }
}

#[test]
fn booking_charges_the_guest_a_fixed_fee_and_holds_longer() {
    let registry = registry();
    let mut facts = charge(12_350, "usd", ChargeFlow::Direct);
    facts.account = Some(AccountFacts {
        account_type: AccountType::Standard,
        ..AccountFacts::sample()
    });
    let decision = registry
        .decide_charge("booking", &request(facts), &ACCOUNTS)
        .expect("decided");
    assert_eq!(
        (
            decision.processing_fee,
            decision.application_fee,
            decision.hold_days
        ),
        (minor(388), minor(350), 7)
    );
    assert_eq!(decision.processing_fee_payer, Some(FeePayer::Platform));
    let yen = registry
        .decide_charge(
            "booking",
            &request(charge(15_500, "jpy", ChargeFlow::Destination)),
            &ACCOUNTS,
        )
        .expect("decided");
    assert_eq!(
        (
            yen.processing_fee,
            yen.application_fee,
            yen.processing_fee_payer
        ),
        (minor(450), minor(500), None)
    );
}

#[test]
fn the_default_policy_takes_nothing_and_leaves_the_defaults() {
    let registry = registry();
    let mut facts = charge(1_000, "usd", ChargeFlow::Direct);
    facts.account = Some(AccountFacts {
        account_type: AccountType::Standard,
        ..AccountFacts::sample()
    });
    let missing = registry
        .decide_charge("no-such-policy", &request(facts.clone()), &ACCOUNTS)
        .expect_err("no fallback to another policy");
    assert!(
        matches!(missing, PolicyError::Unavailable { .. }),
        "{missing}"
    );
    let decision = registry
        .decide_charge("default", &request(facts), &ACCOUNTS)
        .expect("decided");
    assert_eq!(decision.policy_name, "default");
    assert_eq!(
        (
            decision.processing_fee,
            decision.application_fee,
            decision.hold_days
        ),
        (minor(59), MinorUnits::ZERO, 0)
    );
    assert_eq!(decision.processing_fee_payer, None);
    assert_eq!(
        FeePayer::default_for(AccountType::Standard),
        FeePayer::Account
    );
    assert_eq!(
        registry
            .policy("default")
            .expect("loaded")
            .payout_schedule(&AccountFacts::sample()),
        Ok(None)
    );
    assert_eq!(
        PayoutSchedule::default(),
        PayoutSchedule {
            interval: PayoutInterval::Daily,
            delay_days: 2
        }
    );
}

#[test]
fn check_lists_the_hooks_of_each_shipped_policy() {
    let table: [(&str, &[Hook]); 6] = [
        (
            "gateway",
            &[
                Hook::InstantPayoutFee,
                Hook::ProcessingFee,
                Hook::DisputeFee,
            ],
        ),
        ("default", &[Hook::ApplicationFee]),
        ("marketplace", &[Hook::ApplicationFee, Hook::PayoutSchedule]),
        (
            "rides",
            &[Hook::ApplicationFee, Hook::Route, Hook::InstantPayoutFee],
        ),
        ("crowdfunding", &[Hook::ApplicationFee, Hook::HoldDays]),
        (
            "booking",
            &[
                Hook::ApplicationFee,
                Hook::HoldDays,
                Hook::ProcessingFeePayer,
                Hook::PayoutSchedule,
            ],
        ),
    ];
    for (name, hooks) in table {
        let report =
            check_file(&shipped_policies().join(format!("{name}.rhai"))).expect("compiles");
        assert_eq!(report.hooks, hooks, "{name}");
        assert!(
            report
                .to_string()
                .starts_with(&format!("{name}.rhai compiles (version ")),
            "{report}"
        );
    }
}

/// A policy whose hook returns `expression`, to test the host's rounding and splitting.
fn inline(hook: &str, expression: &str) -> LoadedPolicy {
    let source = format!("fn {hook}(charge) {{\n    {expression}\n}}\n");
    LoadedPolicy::compile(Arc::new(PolicyEngine::new()), "inline", source).expect("compiles")
}

#[test]
fn decimal_fees_round_half_away_from_zero() {
    let table = [
        ("0.5", 1),
        ("1.5", 2),
        ("2.5", 3),
        ("0.4999", 0),
        ("319.5", 320),
        ("percent(10, 10.5)", 1),
        ("percent(charge.amount, 2.9) + 30", 320),
        ("bps(charge.amount, 125)", 125),
        ("charge.amount * 0.0105", 105),
        ("round_minor(0.5) + round_minor(0.5)", 2),
        ("charge.amount", 10_000),
    ];
    for (expression, expected) in table {
        let fee = inline("application_fee", expression).application_fee(&PreparedCharge::new(
            &charge(10_000, "usd", ChargeFlow::Destination),
        ));
        assert_eq!(fee, Ok(minor(expected)), "{expression}");
    }
}

#[test]
fn percent_splits_give_the_leftover_unit_to_the_first_split() {
    let table: [(i64, &str, ExpectedSplits); 8] = [
        (
            1_001,
            r#"[#{destination: "acct_a", percent: 50}, #{destination: "acct_b", percent: 50}]"#,
            &[("acct_a", 501), ("acct_b", 500)],
        ),
        (
            1_001,
            r#"[#{destination: "acct_a", percent: 80}]"#,
            &[("acct_a", 801)],
        ),
        (
            100,
            r#"[#{destination: "acct_a", percent: 33.33}, #{destination: "acct_b", percent: 33.33}, #{destination: "acct_c", percent: 33.34}]"#,
            &[("acct_a", 34), ("acct_b", 33), ("acct_c", 33)],
        ),
        (
            1_001,
            r#"[#{destination: "acct_a", percent: 25}, #{destination: "acct_b", remaining: true}]"#,
            &[("acct_a", 251), ("acct_b", 750)],
        ),
        (
            10_000,
            r#"[#{destination: "acct_a", amount: 1000}, #{destination: "acct_b", remaining: true}]"#,
            &[("acct_a", 1_000), ("acct_b", 9_000)],
        ),
        (
            10_000,
            r#"[#{destination: "acct_a", amount: 2.5}, #{destination: "acct_b", amount: 0}]"#,
            &[("acct_a", 3)],
        ),
        (
            7,
            r#"[#{destination: "acct_a", percent: 50}, #{destination: "acct_b", percent: 50}]"#,
            &[("acct_a", 4), ("acct_b", 3)],
        ),
        (10_000, "[]", &[]),
    ];
    for (amount, splits, expected) in table {
        let resolved = inline("route", splits)
            .route(
                &PreparedCharge::new(&charge(amount, "usd", ChargeFlow::Separate)),
                &ACCOUNTS,
            )
            .expect("resolved");
        let expected: Vec<Split> = expected
            .iter()
            .map(|(destination, part)| Split {
                destination: destination.to_string(),
                amount: minor(*part),
            })
            .collect();
        assert_eq!(resolved, expected, "{amount} {splits}");
    }
}
