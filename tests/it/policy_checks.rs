//! `policy check` and `policy test` hold a policy to what the host does with it: a function
//! that looks like a misspelled hook is warned about, and a test that calls a hook sees its
//! result checked as a request would (a fee of "8%" fails the test).

use tollgate::policy::{check_file, run_tests};

fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp policies");
    for (name, source) in files {
        std::fs::write(folder.path().join(name), source).expect("write");
    }
    folder
}

#[test]
fn policy_check_warns_about_functions_that_look_like_misspelled_hooks() {
    let folder = folder_with(&[(
        "typos.rhai",
        "fn aplication_fee(charge) { 100 }\nfn holdDays(charge) { 3 }\nfn routes(charge) { [] }\nfn rate(amount) { amount / 100 }\nfn application_fee(charge) { rate(charge.amount) }\nfn payout_schedul(account, extra) { () }\n",
    )]);
    let report = check_file(&folder.path().join("typos.rhai")).expect("compiles");
    let warned: Vec<&str> = report
        .warnings
        .iter()
        .map(|warning| warning.split(' ').next().unwrap_or_default())
        .collect();
    // `rate` is an ordinary helper, and a two-parameter function is no hook.
    assert_eq!(warned, vec!["aplication_fee", "holdDays", "routes"]);
    assert_eq!(
        report.warnings[0],
        "aplication_fee (line 1) looks like the hook application_fee, which the host calls by that exact name; as written it never runs and the default applies"
    );
    assert!(report
        .to_string()
        .contains("\n  warning: holdDays (line 2) looks like the hook hold_days"));
}

#[test]
fn the_shipped_policies_have_no_near_miss_hooks() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for name in [
        "default",
        "gateway",
        "marketplace",
        "rides",
        "crowdfunding",
        "booking",
    ] {
        let report = check_file(&shipped.join(format!("{name}.rhai"))).expect("compiles");
        assert_eq!(report.warnings, Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_hook_result_the_host_would_refuse_fails_its_policy_test() {
    let folder = folder_with(&[
        ("percent.rhai", "fn application_fee(charge) {\n    \"8%\"\n}\nfn hold_days(charge) { 400 }\nfn fee_of(amount) { amount / 10 }\n"),
        (
            "percent.test.rhai",
            "fn test_fee_is_8_percent() {\n    assert_eq(application_fee(charge(#{amount: 1000})), \"8%\");\n}\nfn test_hold() {\n    assert_eq(hold_days(charge(#{})), 400);\n}\nfn test_helper() {\n    assert_eq(fee_of(1000), 100);\n}\n",
        ),
    ]);
    let report = run_tests(folder.path(), Some("percent"));
    println!("{report}");
    assert!(!report.passed());
    assert_eq!((report.passed_count(), report.failed_count()), (1, 2));
    let tests = report.policies[0].outcome.as_ref().expect("ran");
    let failure = |name: &str| {
        tests
            .iter()
            .find(|test| test.name == name)
            .and_then(|test| test.failure.clone())
            .map(|failure| failure.message)
    };
    assert_eq!(
        failure("test_fee_is_8_percent").as_deref(),
        Some("policy percent.rhai, hook application_fee, line 1, column 1: application_fee returned \"8%\" (a string), expected an amount: an integer or a decimal")
    );
    assert!(failure("test_hold")
        .is_some_and(|message| message.contains("hook hold_days") && message.contains("400")));
    assert_eq!(failure("test_helper"), None);
}
