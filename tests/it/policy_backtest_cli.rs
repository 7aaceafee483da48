//! `tollgate policy backtest`: the totals and the largest changes as a table, and every
//! replayed charge as CSV, from the data directory of a stopped server.

use std::path::Path;
use std::process::Output;

use crate::policy_backtests::{scenario, CANDIDATE, CURRENT_POLICY};

fn run_backtest(file: &Path, platform: &str, data: &Path, policies: &Path, csv: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["policy", "backtest"])
        .arg(file)
        .args(["--platform", platform, "--data"])
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .arg("--policies")
        .arg(policies)
        .arg("--csv")
        .arg(csv)
        .output()
        .expect("run tollgate policy backtest")
}

#[tokio::test]
async fn the_cli_prints_the_totals_and_largest_changes_and_writes_every_charge_as_csv() {
    let s = scenario().await;
    let work = tempfile::tempdir().expect("temp dir");
    let file = work.path().join("lower_fees.rhai");
    std::fs::write(&file, CANDIDATE).expect("write candidate");
    let csv = work.path().join("backtest.csv");
    let platform = s.app.platform_id.clone();
    let policies = s.policies.path().to_path_buf();
    if !crate::helpers::on_postgres() {
        // A running server holds sled's data directory: the command says so and changes
        // nothing. (A PostgreSQL store is shared: nothing holds it.)
        let held = run_backtest(&file, &platform, &s.app.data_dir, &policies, &csv);
        assert!(!held.status.success());
        assert!(
            String::from_utf8_lossy(&held.stderr).contains("could not open the data directory"),
            "{}",
            String::from_utf8_lossy(&held.stderr)
        );
        assert!(!csv.exists());
    }
    let (a, b, c, d, e, f, seller) = (
        s.a.clone(),
        s.b.clone(),
        s.c.clone(),
        s.d.clone(),
        s.e.clone(),
        s.f.clone(),
        s.seller.clone(),
    );
    let (data_dir, _data_temp) = s.app.stop().await;
    let output = run_backtest(&file, &platform, &data_dir, &policies, &csv);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let candidate_version = tollgate::policy::policy_version(CANDIDATE);
    let current_version = tollgate::policy::policy_version(CURRENT_POLICY);
    let line = |charge: &str, current: &str, candidate: &str, difference: &str, change: &str| {
        format!(
            "{charge:<29} {:<8} {current:>12} {candidate:>12} {difference:>12}  {change}\n",
            "usd"
        )
    };
    let expected = [
        format!(
            "candidate lower_fees ({}) against current ({})\n",
            &candidate_version[..12],
            &current_version[..12]
        ),
        "6 charges replayed, 1 refused by the candidate, 0 with rebuilt facts\n".to_owned(),
        "\n".to_owned(),
        format!("{:<8} {:>14} {:>14} {:>14}\n", "currency", "current", "candidate", "difference"),
        format!("{:<8} {:>14} {:>14} {:>14}\n", "usd", "14.04", "4.45", "-9.59"),
        "\n".to_owned(),
        format!(
            "{:<29} {:<8} {:>12} {:>12} {:>12}  change\n",
            "charge", "currency", "current", "candidate", "difference"
        ),
        line(
            &c,
            "1.02",
            "-",
            "-1.02",
            "refused in application_fee at line 3, column 9: application_fee failed: no fee for refused orders",
        ),
        line(&f, "5.00", "1.55", "-3.45", "fee"),
        line(&e, "4.02", "1.30", "-2.72", "fee"),
        line(&b, "2.99", "1.05", "-1.94", "fee"),
        line(&a, "1.01", "0.55", "-0.46", "fee"),
        line(&d, "-", "-", "0.00", &format!("route {seller}:808 -> {seller}:758")),
    ]
    .concat();
    assert_eq!(stdout, expected);
    let written = std::fs::read_to_string(&csv).expect("read csv");
    let expected_csv = [
        tollgate::backtest_report::CSV_HEADER.to_owned(),
        format!("{c},usd,102,,-102,,,application_fee,3,9,application_fee failed: no fee for refused orders,false"),
        format!("{f},usd,500,155,-345,,,,,,,false"),
        format!("{e},usd,402,130,-272,,,,,,,false"),
        format!("{b},usd,299,105,-194,,,,,,,false"),
        format!("{a},usd,101,55,-46,,,,,,,false"),
        format!("{d},usd,,,0,{seller}:808,{seller}:758,,,,,false"),
    ]
    .map(|row| row + "\n")
    .concat();
    assert_eq!(written, expected_csv);
    // A second run reads the same, and the ledger still proves.
    let again = run_backtest(&file, &platform, &data_dir, &policies, &csv);
    assert_eq!(String::from_utf8_lossy(&again.stdout), expected);
    let (verified, report) = crate::helpers::run_verify(&data_dir);
    assert!(verified, "{report}");
}
