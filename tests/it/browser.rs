//! The hosted pages as a real browser renders them: headless Chromium dumps the DOM of the
//! Express dashboard (reached through a login link, whose redirect sets the session), of
//! the onboarding page, and of the sign-up and connect-by-authorization pages. Chromium is found through `CHROMIUM`, `/usr/bin/chromium` or
//! `chromium` on the PATH; without it these tests say so and pass.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::accounts_support::{link_for, new_account};
use crate::charges_support::{create_charge, enabled_account};
use crate::connect_support::{authorize_url, register_redirect_uri};
use crate::express_dashboard::login_link;
use crate::helpers::{assert_no_errors, spawn_app};

/// How long one page may take to load and dump.
const CHROMIUM_TIMEOUT_SECONDS: u64 = 60;

/// Where Chromium is looked for when `CHROMIUM` is not set.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// The Chromium binary to run, if the machine has one.
pub fn find_chromium() -> Option<PathBuf> {
    locate_chromium(
        std::env::var_os("CHROMIUM").filter(|given| !given.is_empty()),
        Path::new(DEFAULT_CHROMIUM),
        std::env::var_os("PATH"),
    )
}

/// `CHROMIUM` (a path, or a name looked up on the PATH) when given, and then it must exist;
/// else the default path; else `chromium` on the PATH.
fn locate_chromium(
    given: Option<OsString>,
    default: &Path,
    path: Option<OsString>,
) -> Option<PathBuf> {
    let on_path = |name: &OsStr| {
        std::env::split_paths(path.as_deref().unwrap_or_default())
            .map(|directory| directory.join(name))
            .find(|candidate| candidate.is_file())
    };
    if let Some(given) = given {
        let found = if Path::new(&given).components().count() > 1 {
            Some(PathBuf::from(&given)).filter(|given| given.is_file())
        } else {
            on_path(&given)
        };
        assert!(
            found.is_some(),
            "CHROMIUM={} names no file; unset it to skip the browser checks",
            given.to_string_lossy()
        );
        return found;
    }
    if default.is_file() {
        return Some(default.to_owned());
    }
    on_path(OsStr::new("chromium"))
}

/// The DOM of `url` after Chromium loaded it (following redirects, keeping cookies), or
/// `None` when there is no Chromium (after printing that the check was skipped).
pub async fn dump_dom(url: &str) -> Option<String> {
    let Some(chromium) = find_chromium() else {
        println!("chromium not found; skipped (set CHROMIUM or install chromium)");
        return None;
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let mut command = tokio::process::Command::new(&chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(
        Duration::from_secs(CHROMIUM_TIMEOUT_SECONDS),
        command.output(),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} took over {CHROMIUM_TIMEOUT_SECONDS}s",
            chromium.display()
        )
    })
    .unwrap_or_else(|error| panic!("running {}: {error}", chromium.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        chromium.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn chromium_renders_the_express_dashboard() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 123, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let url = login_link(&app, &seller).await;
    let Some(dom) = dump_dom(&url).await else {
        return;
    };
    assert!(
        dom.contains(&format!("<span id=\"account\">{seller}</span>")),
        "{dom}"
    );
    assert!(
        dom.contains("<tr id=\"balance-usd\"><th>USD</th><td class=\"available\">0.00</td><td class=\"pending\">98.77</td></tr>"),
        "{dom}"
    );
    assert!(dom.contains("<form id=\"add-bank-account\""), "{dom}");
    assert!(dom.contains("Default for USD"), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
}

#[tokio::test]
async fn chromium_renders_the_onboarding_page() {
    let app = spawn_app().await;
    let express = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let url = link_for(&app, &express).await;
    let Some(dom) = dump_dom(&url).await else {
        return;
    };
    assert!(dom.contains("<h1>Set up your account</h1>"), "{dom}");
    for field in [
        "individual.firstName",
        "accountNumber",
        "routingNumber",
        "csrfToken",
    ] {
        assert!(dom.contains(&format!("name=\"{field}\"")), "{field}: {dom}");
    }
    assert!(dom.contains(&express), "{dom}");
}

#[test]
fn chromium_is_looked_for_in_order() {
    let directory = tempfile::tempdir().expect("dir");
    let binary = directory.path().join("chromium");
    std::fs::write(&binary, "").expect("fake chromium");
    let missing = directory.path().join("missing");
    let path = Some(directory.path().as_os_str().to_owned());
    // Nothing anywhere: skipped.
    assert_eq!(locate_chromium(None, &missing, None), None);
    // The default path, then the PATH.
    assert_eq!(locate_chromium(None, &binary, None), Some(binary.clone()));
    assert_eq!(
        locate_chromium(None, &missing, path.clone()),
        Some(binary.clone())
    );
    // CHROMIUM as a path or as a name on the PATH.
    let given = Some(binary.as_os_str().to_owned());
    assert_eq!(locate_chromium(given, &missing, None), Some(binary.clone()));
    let named = Some(OsString::from("chromium"));
    assert_eq!(locate_chromium(named, &missing, path), Some(binary));
}

#[tokio::test]
async fn chromium_renders_the_signup_and_authorization_pages() {
    let app = spawn_app().await;
    register_redirect_uri(&app, &app.secret_key).await;
    let Some(signup) = dump_dom(&format!("http://{}/signup", app.address)).await else {
        return;
    };
    assert!(signup.contains("<h1>Create an account</h1>"), "{signup}");
    for field in ["email", "country", "csrfToken"] {
        assert!(
            signup.contains(&format!("name=\"{field}\"")),
            "{field}: {signup}"
        );
    }
    let url = authorize_url(&app, &app.platform_id, "read_only", "state-1");
    let Some(authorize) = dump_dom(&url).await else {
        return;
    };
    let platform_name = app.graphql("{ platform { name } }", json!({})).await["data"]["platform"]
        ["name"]
        .as_str()
        .expect("platform name")
        .to_owned();
    assert!(
        authorize.contains(&format!("<h1>Connect to {platform_name}</h1>")),
        "{authorize}"
    );
    for field in ["secretKey", "decision", "csrfToken"] {
        assert!(
            authorize.contains(&format!("name=\"{field}\"")),
            "{field}: {authorize}"
        );
    }
    assert!(!authorize.contains("<script"), "{authorize}");
}
