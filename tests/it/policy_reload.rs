//! Hot reload: a new version is swapped in atomically only when it compiles and its tests pass; charges priced meanwhile use wholly one version.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate::money::MinorUnits;
use tollgate::policy::{
    policy_version, ChargeFacts, ChargeRequest, PolicyChange, PolicyEngine, PolicyError,
    PolicyRegistry, ReloadOutcome, SplitDirectory,
};

/// Version 1 takes 1% and holds 1 day; version 2 takes 2% and holds 2 days. Both pass the
/// same test file, which checks the fee against the version's own rate.
const VERSION_1: &str = "fn rate_percent() { 1 }\nfn application_fee(charge) { percent(charge.amount, rate_percent()) }\nfn hold_days(charge) { rate_percent() }\n";
const VERSION_2: &str = "fn rate_percent() { 2 }\nfn application_fee(charge) { percent(charge.amount, rate_percent()) }\nfn hold_days(charge) { rate_percent() }\n";
const TESTS: &str = "fn test_fee_follows_the_rate() {\n    assert_eq(application_fee(charge(#{amount: 10000})), rate_percent() * 100);\n}\n";
/// Takes 3% but its tests expect the rate of a test file written for 1%.
const VERSION_FAILING_TESTS: &str =
    "fn rate_percent() { 3 }\nfn application_fee(charge) { percent(charge.amount, 3) }\n";
const TESTS_FOR_1_PERCENT: &str =
    "fn test_one_percent() {\n    assert_eq(application_fee(charge(#{amount: 10000})), 100);\n}\n";

struct NoAccounts;

impl SplitDirectory for NoAccounts {
    fn check_destination(&self, _account_id: &str) -> Result<(), String> {
        Err("no accounts".to_string())
    }
}

fn shipped_policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// A temp policy folder with the gateway, the default and `pricing` at version 1.
fn folder_with_version_1() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["gateway.rhai", "default.rhai"] {
        std::fs::copy(shipped_policies().join(file), dir.path().join(file)).expect("copied");
    }
    std::fs::write(dir.path().join("pricing.rhai"), VERSION_1).expect("written");
    std::fs::write(dir.path().join("pricing.test.rhai"), TESTS).expect("written");
    dir
}

/// Replaces a file the way editors and deploy tools should: write aside, then rename.
fn replace(path: &Path, contents: &str) {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, contents).expect("written");
    std::fs::rename(&staging, path).expect("renamed");
}

fn load(dir: &Path) -> (Arc<PolicyRegistry>, Arc<Mutex<Vec<PolicyChange>>>) {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&changes);
    let registry = PolicyRegistry::load(dir, Arc::new(PolicyEngine::new()), move |change| {
        recorded.lock().expect("change log").push(change);
    })
    .expect("loads");
    (registry, changes)
}

fn charge() -> ChargeRequest {
    ChargeRequest {
        facts: ChargeFacts::sample(),
        requested_application_fee: None,
        has_transfer_data: false,
    }
}

/// Polls `condition` every 20 ms for up to 10 s.
fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

#[test]
fn charges_priced_during_a_reload_use_wholly_one_version() {
    let dir = folder_with_version_1();
    let (registry, _changes) = load(dir.path());
    let (version_1, version_2) = (policy_version(VERSION_1), policy_version(VERSION_2));
    let stop = Arc::new(AtomicBool::new(false));
    let priced = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (registry, stop, priced) = (
                Arc::clone(&registry),
                Arc::clone(&stop),
                Arc::clone(&priced),
            );
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let decision = registry
                        .decide_charge("pricing", &charge(), &NoAccounts)
                        .expect("never an error");
                    seen.push((
                        decision.policy_version,
                        decision.application_fee.get(),
                        decision.hold_days,
                    ));
                    priced.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    assert!(
        eventually(|| priced.load(Ordering::Relaxed) >= 200),
        "workers are pricing"
    );
    replace(&dir.path().join("pricing.rhai"), VERSION_2);
    let outcome = registry
        .reload_file(&dir.path().join("pricing.rhai"))
        .expect("reloads");
    assert_eq!(
        outcome,
        ReloadOutcome::Updated {
            name: "pricing".to_string(),
            version: version_2.clone()
        }
    );
    let after_swap = priced.load(Ordering::Relaxed);
    assert!(
        eventually(|| priced.load(Ordering::Relaxed) >= after_swap + 200),
        "workers keep pricing"
    );
    stop.store(true, Ordering::Relaxed);
    let decisions: Vec<(String, i64, u32)> = workers
        .into_iter()
        .flat_map(|worker| worker.join().expect("worker"))
        .collect();
    for (version, fee, hold_days) in &decisions {
        let expected = if *version == version_1 {
            (100, 1)
        } else {
            (200, 2)
        };
        assert!(
            *version == version_1 || *version == version_2,
            "unknown version {version}"
        );
        assert_eq!(
            (*fee, *hold_days),
            expected,
            "version {version} priced with another version's numbers"
        );
    }
    assert!(decisions.iter().any(|(version, ..)| *version == version_1));
    assert!(decisions.iter().any(|(version, ..)| *version == version_2));
}

#[test]
fn a_replacement_that_does_not_compile_leaves_the_old_version_in_force() {
    let dir = folder_with_version_1();
    let (registry, changes) = load(dir.path());
    let path = dir.path().join("pricing.rhai");
    replace(
        &path,
        "fn application_fee(charge) {\n    percent(charge.amount, 2\n}\n",
    );
    let error = registry.reload_file(&path).expect_err("refused");
    assert!(matches!(error, PolicyError::Syntax { .. }));
    assert_eq!(
        (error.policy(), error.line(), error.column()),
        ("pricing.rhai", Some(3), Some(1))
    );
    let status = registry.status_of("pricing").expect("known");
    assert_eq!(status.version, Some(policy_version(VERSION_1)));
    assert_eq!(status.last_error, Some(error.clone()));
    let decision = registry
        .decide_charge("pricing", &charge(), &NoAccounts)
        .expect("still priced");
    assert_eq!(decision.application_fee, MinorUnits::new(100).expect("fee"));
    let last = changes.lock().expect("change log").last().cloned();
    assert_eq!(
        last,
        Some(PolicyChange::LoadFailed {
            name: "pricing".to_string(),
            error
        })
    );
    // Fixing the file clears the error.
    replace(&path, VERSION_2);
    registry.reload_file(&path).expect("reloads");
    assert_eq!(
        registry
            .status_of("pricing")
            .and_then(|status| status.last_error),
        None
    );
}

#[test]
fn a_replacement_whose_tests_fail_leaves_the_old_version_in_force() {
    let dir = folder_with_version_1();
    let (registry, _changes) = load(dir.path());
    std::fs::write(dir.path().join("pricing.test.rhai"), TESTS_FOR_1_PERCENT).expect("written");
    let path = dir.path().join("pricing.rhai");
    replace(&path, VERSION_FAILING_TESTS);
    let error = registry.reload_file(&path).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "policy pricing.test.rhai, line 2, column 5: pricing.test.rhai: test_one_percent failed: assert_eq failed: got 300, expected 100"
    );
    assert!(matches!(error, PolicyError::TestFailed { .. }));
    let status = registry.status_of("pricing").expect("known");
    assert_eq!(
        (status.version, status.last_error),
        (Some(policy_version(VERSION_1)), Some(error))
    );
    let decision = registry
        .decide_charge("pricing", &charge(), &NoAccounts)
        .expect("still priced");
    assert_eq!(decision.policy_version, policy_version(VERSION_1));
}

#[test]
fn removing_a_file_keeps_the_last_good_version() {
    let dir = folder_with_version_1();
    let (registry, _changes) = load(dir.path());
    let path = dir.path().join("pricing.rhai");
    std::fs::remove_file(&path).expect("removed");
    assert_eq!(registry.reload_file(&path), Ok(ReloadOutcome::Ignored));
    assert_eq!(
        registry.policy("pricing").expect("loaded").version(),
        policy_version(VERSION_1)
    );
}

#[test]
fn every_version_is_reported_and_kept_by_its_hash() {
    let dir = folder_with_version_1();
    let (registry, changes) = load(dir.path());
    let mut loaded: Vec<String> = changes
        .lock()
        .expect("change log")
        .iter()
        .filter_map(|change| match change {
            PolicyChange::Updated { name, .. } => Some(name.clone()),
            PolicyChange::LoadFailed { .. } => None,
        })
        .collect();
    loaded.sort();
    assert_eq!(loaded, ["default", "gateway", "pricing"]);
    let path = dir.path().join("pricing.rhai");
    replace(&path, VERSION_2);
    registry.reload_file(&path).expect("reloads");
    assert_eq!(
        registry.reload_file(&path),
        Ok(ReloadOutcome::Unchanged {
            name: "pricing".to_string(),
            version: policy_version(VERSION_2)
        })
    );
    assert_eq!(
        registry
            .source_by_version(&policy_version(VERSION_1))
            .as_deref(),
        Some(VERSION_1)
    );
    assert_eq!(
        registry
            .source_by_version(&policy_version(VERSION_2))
            .as_deref(),
        Some(VERSION_2)
    );
    let updates = changes
        .lock()
        .expect("change log")
        .iter()
        .filter(|change| matches!(change, PolicyChange::Updated { .. }))
        .count();
    assert_eq!(
        updates, 4,
        "three at load, one for the new version, none for the unchanged one"
    );
    let names: Vec<String> = registry
        .status()
        .into_iter()
        .map(|status| status.name)
        .collect();
    assert_eq!(names, ["default", "gateway", "pricing"]);
}

#[test]
fn the_watcher_swaps_in_a_changed_file() {
    let dir = folder_with_version_1();
    let (registry, changes) = load(dir.path());
    let _watcher = registry.watch().expect("watching");
    replace(&dir.path().join("pricing.rhai"), VERSION_2);
    let version_2 = policy_version(VERSION_2);
    assert!(
        eventually(|| registry.policy("pricing").expect("loaded").version() == version_2),
        "the watcher reloaded the file"
    );
    let decision = registry
        .decide_charge("pricing", &charge(), &NoAccounts)
        .expect("priced");
    assert_eq!(
        (decision.application_fee.get(), decision.hold_days),
        (200, 2)
    );
    assert!(changes.lock().expect("change log").iter().any(
        |change| matches!(change, PolicyChange::Updated { version, .. } if *version == version_2)
    ));
}
