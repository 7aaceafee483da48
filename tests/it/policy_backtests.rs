//! Policy backtests: charges priced by one policy replayed under another, with exact
//! per-charge and total figures, refusals with their position, routes, windows, other
//! platforms, the facts recorded at pricing time, the kept runs and the limits.

use std::path::Path;

use serde_json::{json, Value};

use crate::charges_support::{create_charge, enabled_account};
use crate::helpers::{
    assert_no_errors, error_code, error_param, spawn_app_with_policies, spawn_app_with_settings,
    test_settings, TestApp,
};

/// The platform's policy: 10% of every charge, and 80% of a separate charge to its driver.
pub const CURRENT_POLICY: &str = "fn application_fee(charge) {
    percent(charge.amount, 10)
}

fn route(charge) {
    [#{ destination: charge.metadata.driver, amount: percent(charge.amount, 80) }]
}
";

/// The candidate: 2.5% plus 30, refusing orders marked `refuse`, and 75% to the driver.
pub const CANDIDATE: &str = "fn application_fee(charge) {
    if charge.metadata.refuse == \"yes\" {
        throw \"no fee for refused orders\";
    }
    percent(charge.amount, 2.5) + 30
}

fn route(charge) {
    [#{ destination: charge.metadata.driver, amount: percent(charge.amount, 75) }]
}
";

/// A policy of the folder, backtested by name: 5% of every charge.
const CHEAPER_POLICY: &str = "fn application_fee(charge) {
    percent(charge.amount, 5)
}
";

pub const BACKTEST: &str = "mutation($input: BacktestPolicyInput!) {
  backtestPolicy(input: $input) {
    charges errors rebuiltFacts
    currentFees { amount currency } candidateFees { amount currency } difference { amount currency }
    results(first: 100) {
      nodes { charge { id } currentFee { amount } candidateFee { amount } currentRoute candidateRoute
              error { message hook line column } factsRebuilt }
      pageInfo { hasNextPage }
    }
    run { id policy currentVersion candidateVersion from to charges errors difference { amount currency } }
  }
}";

/// A policies folder with the shipped gateway and default, `current` and `cheaper`.
pub fn backtest_policies() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp policies");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in ["gateway.rhai", "gateway.test.rhai", "default.rhai"] {
        std::fs::copy(shipped.join(name), folder.path().join(name)).expect("copy policy");
    }
    std::fs::write(folder.path().join("current.rhai"), CURRENT_POLICY).expect("write");
    std::fs::write(folder.path().join("cheaper.rhai"), CHEAPER_POLICY).expect("write");
    folder
}

/// A captured charge made through the API; returns its id.
async fn charge(app: &TestApp, connect_account: Option<&str>, input: Value) -> String {
    let body = create_charge(app, connect_account, input).await;
    assert_no_errors(&body);
    body["data"]["createCharge"]["id"]
        .as_str()
        .expect("charge id")
        .to_owned()
}

async fn created(app: &TestApp, charge: &str) -> String {
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { created } }",
            json!({"id": charge}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["charge"]["created"]
        .as_str()
        .expect("created")
        .to_owned()
}

pub async fn backtest(app: &TestApp, input: Value) -> Value {
    let body = app.graphql(BACKTEST, json!({"input": input})).await;
    assert_no_errors(&body);
    body["data"]["backtestPolicy"].clone()
}

fn usd(amount: i64) -> Value {
    json!([{"amount": amount, "currency": "usd"}])
}

fn fee(amount: Option<i64>) -> Value {
    amount.map_or(Value::Null, |amount| json!({"amount": amount}))
}

/// One expected result row.
fn row(charge: &str, current: Option<i64>, candidate: Option<i64>) -> Value {
    json!({
        "charge": {"id": charge},
        "currentFee": fee(current),
        "candidateFee": fee(candidate),
        "currentRoute": null,
        "candidateRoute": null,
        "error": null,
        "factsRebuilt": false,
    })
}

/// The charges of the main scenario, on three days of the platform's clock.
pub struct Scenario {
    pub app: TestApp,
    pub seller: String,
    /// 1005 and 2990, destination charges on day one.
    pub a: String,
    pub b: String,
    /// Day two: 1020 marked `refuse`, a separate 1010 routed to the seller, a direct 4015.
    pub c: String,
    pub d: String,
    pub e: String,
    /// Day three: 5000, destination.
    pub f: String,
    pub policies: tempfile::TempDir,
}

pub async fn scenario() -> Scenario {
    let policies = backtest_policies();
    let app = spawn_app_with_policies(policies.path().to_path_buf(), "current").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let destination = |amount: i64| {
        json!({"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa",
               "transferData": {"destination": seller}})
    };
    let a = charge(&app, None, destination(1005)).await;
    let b = charge(&app, None, destination(2990)).await;
    app.advance_days(1).await;
    let mut refused = destination(1020);
    refused["metadata"] = json!({"refuse": "yes"});
    let c = charge(&app, None, refused).await;
    let d = charge(
        &app,
        None,
        json!({"amount": 1010, "currency": "usd", "paymentMethod": "pm_card_visa",
               "metadata": {"driver": seller}}),
    )
    .await;
    let e = charge(
        &app,
        Some(&seller),
        json!({"amount": 4015, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    app.advance_days(1).await;
    let f = charge(&app, None, destination(5000)).await;
    Scenario {
        app,
        seller,
        a,
        b,
        c,
        d,
        e,
        f,
        policies,
    }
}

impl Scenario {
    fn refused(&self) -> Value {
        json!({
            "charge": {"id": self.c},
            "currentFee": {"amount": 102},
            "candidateFee": null,
            "currentRoute": null,
            "candidateRoute": null,
            "error": {"message": "application_fee failed: no fee for refused orders", "hook": "application_fee", "line": 3, "column": 9},
            "factsRebuilt": false,
        })
    }

    fn routed(&self) -> Value {
        json!({
            "charge": {"id": self.d},
            "currentFee": null,
            "candidateFee": null,
            "currentRoute": [{"destination": self.seller, "amount": 808}],
            "candidateRoute": [{"destination": self.seller, "amount": 758}],
            "error": null,
            "factsRebuilt": false,
        })
    }
}

#[tokio::test]
async fn a_candidate_replays_every_captured_charge_with_exact_fees_refusals_and_routes() {
    let s = scenario().await;
    let app = &s.app;
    let events_before = event_count(app).await;
    let entries_before = ledger_entries(app).await;
    let result = backtest(app, json!({"source": CANDIDATE})).await;
    // Current: 10%, half away from zero: 1005 → 101, 2990 → 299, 1020 → 102, 4015 → 402,
    // 5000 → 500. Candidate: 2.5% + 30: 1005 → 55.125 → 55, 2990 → 104.75 → 105,
    // 4015 → 130.375 → 130, 5000 → 155; the refused 1020 earns it nothing. The separate
    // charge has no application fee: only its route changes, 80% → 75% of 1010 (757.5 → 758).
    assert_eq!(result["charges"], 6);
    assert_eq!(result["errors"], 1);
    assert_eq!(result["rebuiltFacts"], 0);
    assert_eq!(result["currentFees"], usd(1404));
    assert_eq!(result["candidateFees"], usd(445));
    assert_eq!(result["difference"], usd(-959));
    assert_eq!(
        result["results"]["nodes"],
        json!([
            s.refused(),
            row(&s.f, Some(500), Some(155)),
            row(&s.e, Some(402), Some(130)),
            row(&s.b, Some(299), Some(105)),
            row(&s.a, Some(101), Some(55)),
            s.routed(),
        ])
    );
    assert_eq!(result["run"], Value::Null);
    // Nothing was written: no event, no ledger entry, no run kept.
    assert_eq!(event_count(app).await, events_before);
    assert_eq!(ledger_entries(app).await, entries_before);
    assert_eq!(backtest_runs(app).await, json!([]));
}

#[tokio::test]
async fn results_page_in_the_same_order_with_cursors() {
    let s = scenario().await;
    let query = "mutation($input: BacktestPolicyInput!, $after: String) {
      backtestPolicy(input: $input) { results(first: 4, after: $after) {
        edges { cursor node { charge { id } } } pageInfo { hasNextPage hasPreviousPage } } }
    }";
    let page = |after: Option<String>| {
        let app = &s.app;
        async move {
            let body = app
                .graphql(
                    query,
                    json!({"input": {"source": CANDIDATE}, "after": after}),
                )
                .await;
            assert_no_errors(&body);
            body["data"]["backtestPolicy"]["results"].clone()
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| {
                edge["node"]["charge"]["id"]
                    .as_str()
                    .expect("id")
                    .to_owned()
            })
            .collect()
    };
    let first = page(None).await;
    assert_eq!(
        ids(&first),
        vec![s.c.clone(), s.f.clone(), s.e.clone(), s.b.clone()]
    );
    assert_eq!(
        first["pageInfo"],
        json!({"hasNextPage": true, "hasPreviousPage": false})
    );
    let cursor = first["edges"][3]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let second = page(Some(cursor)).await;
    assert_eq!(ids(&second), vec![s.a.clone(), s.d.clone()]);
    assert_eq!(
        second["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": true})
    );
}

#[tokio::test]
async fn a_window_and_an_account_select_some_charges_and_not_others() {
    let s = scenario().await;
    let app = &s.app;
    let from = created(app, &s.c).await;
    let to = created(app, &s.f).await;
    // [from, to): the second day's three charges, not the first day's nor the third's.
    let day_two = backtest(app, json!({"source": CANDIDATE, "from": from, "to": to})).await;
    assert_eq!(day_two["charges"], 3);
    assert_eq!(day_two["errors"], 1);
    assert_eq!(day_two["currentFees"], usd(504));
    assert_eq!(day_two["candidateFees"], usd(130));
    assert_eq!(day_two["difference"], usd(-374));
    assert_eq!(
        day_two["results"]["nodes"],
        json!([s.refused(), row(&s.e, Some(402), Some(130)), s.routed()])
    );
    // From the third day on: only the last charge.
    let day_three = backtest(app, json!({"source": CANDIDATE, "from": to})).await;
    assert_eq!(
        day_three["results"]["nodes"],
        json!([row(&s.f, Some(500), Some(155))])
    );
    // Before the second day: the first two.
    let day_one = backtest(app, json!({"source": CANDIDATE, "to": from})).await;
    assert_eq!(
        day_one["results"]["nodes"],
        json!([
            row(&s.b, Some(299), Some(105)),
            row(&s.a, Some(101), Some(55))
        ])
    );
    // An account with no charges of its own selects none.
    let other = enabled_account(app, "CUSTOM").await;
    let none = backtest(app, json!({"source": CANDIDATE, "account": other})).await;
    assert_eq!(none["charges"], 0);
    assert_eq!(none["currentFees"], json!([]));
    assert_eq!(none["results"]["nodes"], json!([]));
}

#[tokio::test]
async fn another_platforms_charges_are_never_included() {
    let s = scenario().await;
    let app = &s.app;
    let (_, other_key) = app.second_platform().await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            "mutation { createCharge(input: {amount: 777, currency: \"gbp\", paymentMethod: \"pm_card_visa\"}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let other_charge = body["data"]["createCharge"]["id"].as_str().expect("id");
    let mine = backtest(app, json!({"source": CANDIDATE})).await;
    assert_eq!(mine["charges"], 6);
    assert_eq!(mine["currentFees"], usd(1404));
    let theirs = app
        .graphql_as(
            &other_key,
            None,
            BACKTEST,
            json!({"input": {"source": "fn application_fee(charge) { 1 }"}}),
        )
        .await;
    assert_no_errors(&theirs);
    let theirs = &theirs["data"]["backtestPolicy"];
    assert_eq!(theirs["charges"], 1);
    assert_eq!(
        theirs["currentFees"],
        json!([{"amount": 0, "currency": "gbp"}])
    );
    assert_eq!(
        theirs["results"]["nodes"][0]["charge"]["id"],
        json!(other_charge)
    );
    // The other platform cannot name this platform's account either.
    let body = app
        .graphql_as(
            &other_key,
            None,
            BACKTEST,
            json!({"input": {"source": CANDIDATE, "account": s.seller}}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_param(&body), Some("input.account"));
}

#[tokio::test]
async fn a_named_policy_is_kept_as_a_run_and_listed_under_the_platforms_policy() {
    let s = scenario().await;
    let app = &s.app;
    let from = created(app, &s.c).await;
    let result = backtest(app, json!({"policy": "cheaper", "from": from})).await;
    // 5%: 1020 → 51, 4015 → 200.75 → 201, 5000 → 250; the separate charge has no fee.
    assert_eq!(result["charges"], 4);
    assert_eq!(result["errors"], 0);
    assert_eq!(result["currentFees"], usd(102 + 402 + 500));
    assert_eq!(result["candidateFees"], usd(51 + 201 + 250));
    assert_eq!(result["difference"], usd(-502));
    let run = &result["run"];
    let current_version = tollgate::policy::policy_version(CURRENT_POLICY);
    let candidate_version = tollgate::policy::policy_version(CHEAPER_POLICY);
    assert_eq!(run["policy"], "cheaper");
    assert_eq!(run["currentVersion"], json!(current_version));
    assert_eq!(run["candidateVersion"], json!(candidate_version));
    assert_eq!(run["from"], json!(from));
    assert_eq!(run["to"], Value::Null);
    assert_eq!(run["charges"], 4);
    assert_eq!(run["difference"], usd(-502));
    assert!(run["id"].as_str().expect("id").starts_with("pbt_"));
    // A backtest of source text keeps no run; the named one is listed, newest first.
    backtest(app, json!({"source": CANDIDATE})).await;
    let second = backtest(app, json!({"policy": "cheaper"})).await;
    let runs = backtest_runs(app).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    assert_eq!(runs[0]["id"], second["run"]["id"]);
    assert_eq!(runs[0]["charges"], 6);
    assert_eq!(runs[1]["id"], run["id"]);
    assert_eq!(runs[1]["from"], json!(from));
    assert_eq!(runs[1]["candidateVersion"], json!(candidate_version));
}

#[tokio::test]
async fn facts_recorded_at_pricing_time_are_what_the_replay_sees() {
    let policies = backtest_policies();
    let app = spawn_app_with_policies(policies.path().to_path_buf(), "current").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = app
        .graphql(
            "mutation($a: ID!) { updateAccount(input: {account: $a, metadata: {tier: \"gold\"}}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    let id = charge(
        &app,
        None,
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "transferData": {"destination": seller}}),
    )
    .await;
    let body = app
        .graphql(
            "mutation($a: ID!) { updateAccount(input: {account: $a, metadata: {tier: \"silver\"}}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    let by_tier = "fn application_fee(charge) {
        if charge.account.metadata.tier == \"gold\" { 100 } else { 200 }
    }";
    // The account is silver now, but the charge was priced while it was gold.
    let replayed = backtest(&app, json!({"source": by_tier})).await;
    assert_eq!(replayed["rebuiltFacts"], 0);
    assert_eq!(
        replayed["results"]["nodes"],
        json!([row(&id, Some(100), Some(100))])
    );
    // A charge stored before facts were recorded is rebuilt from its fields and today's
    // account, and says so.
    forget_recorded_facts(&app, &id).await;
    let rebuilt = backtest(&app, json!({"source": by_tier})).await;
    assert_eq!(rebuilt["rebuiltFacts"], 1);
    let mut expected = row(&id, Some(100), Some(200));
    expected["factsRebuilt"] = json!(true);
    assert_eq!(rebuilt["results"]["nodes"], json!([expected]));
}

#[tokio::test]
async fn only_captured_charges_are_replayed_at_the_amount_captured_and_a_requested_fee_stands() {
    let policies = backtest_policies();
    let app = spawn_app_with_policies(policies.path().to_path_buf(), "current").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let destination = |amount: i64| {
        json!({"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa",
               "transferData": {"destination": seller}})
    };
    // Declined: stored as failed, never charged a fee.
    let mut declined = destination(3000);
    declined["paymentMethod"] = json!("pm_card_chargeDeclined");
    let body = create_charge(&app, None, declined).await;
    assert_eq!(error_code(&body), "CARD_DECLINED");
    // Authorized only: nothing charged yet.
    let mut authorization = destination(4000);
    authorization["capture"] = json!(false);
    charge(&app, None, authorization).await;
    // Authorized for 2000, captured for 1005: priced again at capture, 10% → 100.5 → 101.
    let mut partial = destination(2000);
    partial["capture"] = json!(false);
    let partial = charge(&app, None, partial).await;
    let body = app
        .graphql(
            "mutation($c: ID!) { captureCharge(input: {charge: $c, amount: 1005}) { id } }",
            json!({"c": partial}),
        )
        .await;
    assert_no_errors(&body);
    // The request's own application fee wins over any policy, the candidate's included.
    let mut requested = destination(2990);
    requested["applicationFeeAmount"] = json!(333);
    let requested = charge(&app, None, requested).await;
    let result = backtest(&app, json!({"source": CANDIDATE})).await;
    assert_eq!(result["charges"], 2);
    assert_eq!(result["currentFees"], usd(101 + 333));
    assert_eq!(result["candidateFees"], usd(55 + 333));
    assert_eq!(
        result["results"]["nodes"],
        json!([
            row(&partial, Some(101), Some(55)),
            row(&requested, Some(333), Some(333))
        ])
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_its_parameter_and_a_candidate_that_does_not_compile_with_its_position(
) {
    let policies = backtest_policies();
    let app = spawn_app_with_policies(policies.path().to_path_buf(), "current").await;
    let cases = [
        (json!({}), "INVALID_REQUEST", "input.source"),
        (
            json!({"source": CANDIDATE, "policy": "cheaper"}),
            "INVALID_REQUEST",
            "input.policy",
        ),
        (
            json!({"policy": "nonexistent"}),
            "NOT_FOUND",
            "input.policy",
        ),
        (
            json!({"source": CANDIDATE, "from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}),
            "INVALID_REQUEST",
            "input.to",
        ),
        (
            json!({"source": CANDIDATE, "from": "yesterday"}),
            "INVALID_REQUEST",
            "input.from",
        ),
        (
            json!({"source": CANDIDATE, "account": "acct_nope"}),
            "INVALID_REQUEST",
            "input.account",
        ),
        (
            json!({"source": CANDIDATE, "account": "acct_00000000000000000000000000"}),
            "NOT_FOUND",
            "input.account",
        ),
    ];
    for (input, code, param) in cases {
        let body = app.graphql(BACKTEST, json!({"input": input})).await;
        assert_eq!(error_code(&body), code, "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    let body = app
        .graphql(
            BACKTEST,
            json!({"input": {"source": "fn application_fee(charge) {\n    let x = ;\n}\n"}}),
        )
        .await;
    assert_eq!(error_code(&body), "POLICY_ERROR", "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["policy"], "candidate.rhai");
    assert_eq!(extensions["line"], 2);
    assert_eq!(extensions["column"], 13);
    assert_eq!(backtest_runs(&app).await, json!([]));
}

#[tokio::test]
async fn a_window_of_more_charges_than_the_limit_is_refused_with_the_count_beyond_it() {
    let policies = backtest_policies();
    let settings = tollgate::config::Settings {
        max_backtest_charges: 2,
        ..test_settings(policies.path().to_path_buf())
    };
    let app = spawn_app_with_settings(settings, "current").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let other = enabled_account(&app, "CUSTOM").await;
    for (amount, destination) in [(1000, &seller), (2000, &seller), (3000, &other)] {
        charge(
            &app,
            None,
            json!({"amount": amount, "currency": "usd", "paymentMethod": "pm_card_visa",
                   "transferData": {"destination": destination}}),
        )
        .await;
    }
    let body = app
        .graphql(BACKTEST, json!({"input": {"source": CANDIDATE}}))
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
    assert_eq!(error_param(&body), Some("input.from"));
    assert_eq!(
        body["errors"][0]["message"],
        "The window holds 3 charges, 1 more than the 2 one backtest replays; narrow it with from, to or account"
    );
    // Narrowed to one account, the two charges fit.
    let narrowed = backtest(&app, json!({"source": CANDIDATE, "account": seller})).await;
    assert_eq!(narrowed["charges"], 2);
    assert_eq!(narrowed["currentFees"], usd(100 + 200));
    assert_eq!(narrowed["candidateFees"], usd(55 + 80));
}

#[tokio::test]
async fn a_backtest_costs_like_an_expensive_field() {
    let policies = backtest_policies();
    let app = spawn_app_with_policies(policies.path().to_path_buf(), "current").await;
    let body = app
        .graphql(
            "mutation { a: backtestPolicy(input: {policy: \"cheaper\"}) { charges }
                        b: backtestPolicy(input: {policy: \"cheaper\"}) { charges } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUERY_TOO_COSTLY",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["limit"], 10_000, "{body}");
    assert_eq!(backtest_runs(&app).await, json!([]));
}

async fn event_count(app: &TestApp) -> usize {
    let body = app
        .graphql("{ events(first: 100) { nodes { id } } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .len()
}

async fn ledger_entries(app: &TestApp) -> i64 {
    let body = app.graphql("{ ledgerCheck { entries } }", json!({})).await;
    assert_no_errors(&body);
    body["data"]["ledgerCheck"]["entries"]
        .as_i64()
        .expect("entries")
}

async fn backtest_runs(app: &TestApp) -> Value {
    let body = app
        .graphql(
            "{ platform { policy { backtests(first: 10) { nodes { id policy currentVersion candidateVersion from to charges difference { amount currency } } } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["platform"]["policy"]["backtests"]["nodes"].clone()
}

/// Rewrites a stored charge as a build before recorded facts would have stored it.
async fn forget_recorded_facts(app: &TestApp, charge_id: &str) {
    use tollgate::domain::charges::Charge;
    use tollgate::ids::PlatformId;
    use tollgate::service::Draft;
    let stored = app
        .services
        .store
        .get_object::<Charge>(&app.platform_id, charge_id)
        .expect("read")
        .expect("charge");
    let mut charge = stored.value;
    assert!(charge.pricing.facts.is_some());
    charge.pricing.facts = None;
    let platform = PlatformId::parse(&app.platform_id).expect("platform id");
    let mut draft = Draft::new(&platform, app.services.clock.now(&platform));
    draft
        .update(charge_id, &charge, stored.revision)
        .expect("draft");
    app.services
        .store
        .commit(draft.commit)
        .await
        .expect("commit");
}
