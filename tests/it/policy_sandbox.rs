//! Hostile and broken policies: each is rejected with an error naming the file, hook, line and column, while other policies keep working.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tollgate::money::{Currency, MinorUnits};
use tollgate::policy::{
    ChargeFacts, ChargeFlow, ChargeRequest, LoadedPolicy, PolicyEngine, PolicyError,
    PolicyRegistry, PreparedCharge, SandboxLimit, SandboxLimits, SplitDirectory,
};

fn shipped_policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn minor(amount: i64) -> MinorUnits {
    MinorUnits::new(amount).expect("an amount in range")
}

/// acct_a and acct_b belong to this platform; anything else belongs to another one.
struct ThisPlatform;

impl SplitDirectory for ThisPlatform {
    fn check_destination(&self, account_id: &str) -> Result<(), String> {
        match account_id {
            "acct_a" | "acct_b" => Ok(()),
            _ => Err("it is not an account of this platform".to_string()),
        }
    }
}

fn separate_charge(amount: i64) -> ChargeRequest {
    let facts = ChargeFacts {
        amount: minor(amount),
        currency: Currency::parse("usd").expect("usd"),
        flow: ChargeFlow::Separate,
        account: None,
        ..ChargeFacts::sample()
    };
    ChargeRequest {
        facts,
        requested_application_fee: None,
        has_transfer_data: false,
    }
}

fn destination_charge(amount: i64) -> ChargeRequest {
    let mut request = separate_charge(amount);
    request.facts.flow = ChargeFlow::Destination;
    request
}

/// A registry over a copy of the shipped gateway, default and marketplace policies.
fn registry_in(dir: &Path, engine: PolicyEngine) -> Arc<PolicyRegistry> {
    for file in [
        "gateway.rhai",
        "default.rhai",
        "marketplace.rhai",
        "marketplace.test.rhai",
    ] {
        std::fs::copy(shipped_policies().join(file), dir.join(file)).expect("copied");
    }
    PolicyRegistry::load(dir, Arc::new(engine), |_| {}).expect("loads")
}

/// Installs `source` as policy `name`, prices a charge with it, and checks that the
/// marketplace policy still prices its charges afterwards.
fn price_with(
    registry: &PolicyRegistry,
    name: &str,
    source: &str,
    request: &ChargeRequest,
) -> Result<MinorUnits, PolicyError> {
    let path = registry.policy_dir().join(format!("{name}.rhai"));
    std::fs::write(&path, source).expect("written");
    let outcome = registry
        .reload_file(&path)
        .and_then(|_| registry.decide_charge(name, request, &ThisPlatform));
    let unaffected = registry
        .decide_charge("marketplace", &destination_charge(10_000), &ThisPlatform)
        .expect("marketplace still works");
    assert_eq!(unaffected.application_fee, minor(530));
    outcome.map(|decision| decision.application_fee)
}

/// The engine used here has a generous time budget, so that the operation limit (not the
/// speed of an unoptimised test build) is what stops the loops below.
fn operations_bound_engine() -> PolicyEngine {
    PolicyEngine::with_limits(SandboxLimits {
        call_time_budget: Duration::from_secs(30),
        ..SandboxLimits::default()
    })
}

#[test]
fn hostile_policies_are_rejected_with_their_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = registry_in(dir.path(), operations_bound_engine());
    let fee_hostiles = [
        ("spin", "fn application_fee(charge) {\n    loop { }\n}", "policy spin.rhai, hook application_fee, line 1, column 1: application_fee ran more than 100000 operations, the limit per call"),
        ("recurse", "fn application_fee(charge) {\n    deeper(1)\n}\nfn deeper(n) {\n    deeper(n + 1)\n}", "policy recurse.rhai, hook application_fee, line 1, column 1: application_fee nested function calls more than 32 levels deep"),
        ("long-text", "fn application_fee(charge) {\n    let text = \"fee\";\n    loop { text += text; }\n}", "policy long-text.rhai, hook application_fee, line 1, column 1: application_fee built a value over the size limit (Length of string): strings may hold 16384 bytes, arrays 1024 items, maps 256 properties"),
        ("big-array", "fn application_fee(charge) {\n    let items = [];\n    loop { items.push(charge.amount); }\n}", "policy big-array.rhai, hook application_fee, line 1, column 1: application_fee built a value over the size limit (Size of array/BLOB): strings may hold 16384 bytes, arrays 1024 items, maps 256 properties"),
        ("importer", "fn application_fee(charge) {\n    import \"fees\" as fees;\n    fees::fee(charge)\n}", "policy importer.rhai, line 2, column 5: import is not allowed: policies cannot load modules or run code from strings"),
        ("thrower", "fn application_fee(charge) {\n    throw \"no fee table for \" + charge.currency;\n}", "policy thrower.rhai, hook application_fee, line 2, column 5: application_fee failed: no fee table for usd"),
        ("wordy", "fn application_fee(charge) {\n    \"lots\"\n}", "policy wordy.rhai, hook application_fee, line 1, column 1: application_fee returned \"lots\" (a string), expected an amount: an integer or a decimal"),
        ("negative", "// refunds the buyer\nfn application_fee(charge) {\n    -5\n}", "policy negative.rhai, hook application_fee, line 2, column 1: application_fee returned -5, a negative fee"),
        ("greedy", "fn application_fee(charge) {\n    charge.amount + 2000\n}", "policy greedy.rhai, hook application_fee, line 1, column 1: application_fee returned 12000, more than the charge amount 10000"),
        ("typo", "fn application_fee(charge) {\n    charge.amount * 0.05 +\n}", "policy typo.rhai, line 3, column 1: Unexpected '}'"),
    ];
    for (name, source, expected) in fee_hostiles {
        let error =
            price_with(&registry, name, source, &destination_charge(10_000)).expect_err(name);
        assert_eq!(error.to_string(), expected, "{name}");
    }
}

#[test]
fn limits_are_reported_as_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = registry_in(dir.path(), operations_bound_engine());
    let table = [
        (
            "spin",
            "fn application_fee(charge) { while true { } }",
            SandboxLimit::Operations,
        ),
        (
            "recurse",
            "fn application_fee(charge) { application_fee(charge) }",
            SandboxLimit::CallDepth,
        ),
        (
            "long-text",
            "fn application_fee(charge) { let text = \"x\"; loop { text += text; } }",
            SandboxLimit::DataSize,
        ),
    ];
    for (name, source, expected) in table {
        match price_with(&registry, name, source, &destination_charge(10_000)) {
            Err(PolicyError::LimitExceeded { limit, .. }) => assert_eq!(limit, expected, "{name}"),
            other => panic!("{name}: expected a limit error, got {other:?}"),
        }
    }
}

#[test]
fn the_wall_clock_budget_stops_what_the_operation_limit_would_allow() {
    let engine = PolicyEngine::with_limits(SandboxLimits {
        max_operations_per_call: u64::MAX,
        call_time_budget: Duration::from_millis(30),
        ..SandboxLimits::default()
    });
    let policy = LoadedPolicy::compile(
        Arc::new(engine),
        "spin",
        "fn application_fee(charge) {\n    let n = 0;\n    loop { n += 1; }\n}",
    )
    .expect("compiles");
    let error = policy
        .application_fee(&PreparedCharge::new(&ChargeFacts::sample()))
        .expect_err("stopped");
    assert_eq!(error.to_string(), "policy spin.rhai, hook application_fee, line 1, column 1: application_fee ran longer than the time budget of 30 ms");
    assert!(matches!(
        error,
        PolicyError::LimitExceeded {
            limit: SandboxLimit::TimeBudget,
            ..
        }
    ));
}

#[test]
fn hostile_routes_are_rejected_with_their_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = registry_in(dir.path(), operations_bound_engine());
    let route_hostiles = [
        ("poacher", "fn route(charge) {\n    [#{destination: \"acct_other_platform\", amount: 1000}]\n}", "policy poacher.rhai, hook route, line 1, column 1: route sends 1000 to acct_other_platform, which is refused: it is not an account of this platform"),
        ("overspend", "fn route(charge) {\n    [#{destination: \"acct_a\", amount: 7000}, #{destination: \"acct_b\", percent: 40}]\n}", "policy overspend.rhai, hook route, line 1, column 1: route splits total 11000, more than the charge amount 10000"),
        ("over-percent", "fn route(charge) {\n    [#{destination: \"acct_a\", percent: 60}, #{destination: \"acct_b\", percent: 50}]\n}", "policy over-percent.rhai, hook route, line 1, column 1: route splits add up to 110 percent, more than 100"),
        ("two-rests", "fn route(charge) {\n    [#{destination: \"acct_a\", remaining: true}, #{destination: \"acct_b\", remaining: true}]\n}", "policy two-rests.rhai, hook route, line 1, column 1: route has more than one remaining: true split"),
        ("shapeless", "fn route(charge) {\n    [#{destination: \"acct_a\", amount: 10, percent: 5}]\n}", "policy shapeless.rhai, hook route, line 1, column 1: route split 0 (#{\"amount\": 10, \"destination\": \"acct_a\", \"percent\": 5}) needs exactly one of amount, percent or remaining: true"),
        ("not-a-list", "fn route(charge) {\n    \"acct_a\"\n}", "policy not-a-list.rhai, hook route, line 1, column 1: route returned \"acct_a\", expected an array of splits like [#{destination: \"acct_…\", amount: 1000}]"),
    ];
    for (name, source, expected) in route_hostiles {
        let error = price_with(&registry, name, source, &separate_charge(10_000)).expect_err(name);
        assert_eq!(error.to_string(), expected, "{name}");
    }
    let refused = price_with(
        &registry,
        "poacher",
        "fn route(charge) {\n    [#{destination: \"acct_other_platform\", amount: 1000}]\n}",
        &separate_charge(10_000),
    );
    assert!(
        matches!(refused, Err(PolicyError::DestinationRefused { ref destination, .. }) if destination == "acct_other_platform")
    );
}

#[test]
fn other_hooks_validate_their_results() {
    let engine = Arc::new(PolicyEngine::new());
    let table = [
        ("fn hold_days(charge) {\n    400\n}", "policy bad.rhai, hook hold_days, line 1, column 1: hold_days returned 400, outside 0..=365 days"),
        ("fn hold_days(charge) {\n    1.5\n}", "policy bad.rhai, hook hold_days, line 1, column 1: hold_days returned 1.5, expected a whole number of days"),
        ("fn processing_fee_payer(charge) {\n    \"customer\"\n}", "policy bad.rhai, hook processing_fee_payer, line 1, column 1: processing_fee_payer returned \"customer\", expected \"account\" or \"platform\""),
    ];
    let mut direct = ChargeFacts::sample();
    direct.flow = ChargeFlow::Direct;
    for (source, expected) in table {
        let policy = LoadedPolicy::compile(Arc::clone(&engine), "bad", source).expect("compiles");
        let request = ChargeRequest {
            facts: direct.clone(),
            requested_application_fee: None,
            has_transfer_data: false,
        };
        let gateway = LoadedPolicy::compile(Arc::clone(&engine), "gateway", "").expect("compiles");
        let error = tollgate::policy::decide_charge(&gateway, &policy, &request, &ThisPlatform)
            .expect_err(source);
        assert_eq!(error.to_string(), expected);
    }
    let schedules = [
        ("#{interval: \"weekly\"}", "payout_schedule returned #{\"interval\": \"weekly\"}: a weekly schedule needs weekly_anchor: \"monday\" … \"sunday\""),
        ("#{interval: \"monthly\", monthly_anchor: 32}", "payout_schedule returned #{\"interval\": \"monthly\", \"monthly_anchor\": 32}: a monthly schedule needs monthly_anchor: a day 1..=31"),
        ("#{interval: \"hourly\"}", "payout_schedule returned #{\"interval\": \"hourly\"}: interval must be \"manual\", \"daily\", \"weekly\" or \"monthly\""),
        ("#{interval: \"daily\", delay: 3}", "payout_schedule returned #{\"delay\": 3, \"interval\": \"daily\"}: unknown key 'delay' (keys: interval, delay_days, weekly_anchor, monthly_anchor)"),
    ];
    for (schedule, expected) in schedules {
        let source = format!("fn payout_schedule(account) {{ {schedule} }}");
        let policy = LoadedPolicy::compile(Arc::clone(&engine), "bad", source).expect("compiles");
        let error = policy
            .payout_schedule(&tollgate::policy::AccountFacts::sample())
            .expect_err(schedule);
        assert_eq!(error.message(), expected);
    }
}

#[test]
fn a_requested_fee_above_the_amount_is_refused() {
    let registry = PolicyRegistry::load(shipped_policies(), Arc::new(PolicyEngine::new()), |_| {})
        .expect("loads");
    let mut request = destination_charge(10_000);
    request.requested_application_fee = Some(minor(12_000));
    let error = registry
        .decide_charge("marketplace", &request, &ThisPlatform)
        .expect_err("refused");
    assert_eq!(error.to_string(), "policy marketplace.rhai, hook application_fee: the requested application fee 12000 is more than the charge amount 10000");
    assert!(matches!(error, PolicyError::RequestedFeeInvalid { .. }));
}
