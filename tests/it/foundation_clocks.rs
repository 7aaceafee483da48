//! Simulated clocks per platform, as Stripe's test clocks: `advanceClock` moves only the
//! caller's platform's clock and runs only its due work; every clock survives a restart.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::accounts_support::{browser, location, platform_in};
use crate::helpers::{assert_no_errors, start, TestApp, TOPUP};
use crate::payouts_support::{advance_to, advance_to_as};
use tollgate::ids::PlatformId;

fn clock_of(app: &TestApp, platform: &str) -> DateTime<Utc> {
    app.services
        .clock
        .now(&PlatformId::parse(platform).expect("platform id"))
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("time")
}

async fn balance_as(app: &TestApp, key: &str, currency: &str) -> (i64, i64) {
    let body = app
        .graphql_as(
            key,
            None,
            "{ balance { available { amount currency } pending { amount currency } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let pick = |bucket: &str| {
        body["data"]["balance"][bucket]
            .as_array()
            .expect("list")
            .iter()
            .find(|money| money["currency"] == currency)
            .map_or(0, |money| money["amount"].as_i64().expect("amount"))
    };
    (pick("available"), pick("pending"))
}

/// A US Express account of the platform with `key`, and a hosted onboarding link for it.
async fn account_with_link(app: &TestApp, key: &str) -> String {
    let body = app
        .graphql_as(
            key,
            None,
            "mutation { createAccount(input: {type: EXPRESS, country: \"US\", businessType: INDIVIDUAL}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let account = body["data"]["createAccount"]["id"].clone();
    let body = app
        .graphql_as(
            key,
            None,
            "mutation($a: ID!) { createAccountLink(input: {account: $a, refreshUrl: \"https://example.com/r\", returnUrl: \"https://example.com/d\"}) { url } }",
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// Whether a hosted onboarding link still shows its form (an expired one redirects).
async fn link_is_usable(url: &str) -> bool {
    let response = browser().get(url).send().await.expect("get link");
    match response.status().as_u16() {
        200 => true,
        status if (300..400).contains(&status) => {
            assert_eq!(
                location(&response).as_deref(),
                Some("https://example.com/r")
            );
            false
        }
        status => panic!("unexpected status {status}"),
    }
}

#[tokio::test]
async fn advancing_one_platform_leaves_every_other_platform_where_it_was() {
    let app = crate::helpers::spawn_app().await;
    let (other, other_key) = platform_in(&app, "US").await;
    let start_of_other = clock_of(&app, &other);
    let link = account_with_link(&app, &other_key).await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            TOPUP,
            json!({"amount": 5000, "currency": "usd"}),
        )
        .await;
    assert_no_errors(&body);

    // The first platform moves 30 days: the other's link (5 minutes) and its pending top-up
    // (2 days) are untouched, and so is its clock.
    app.advance_days(30).await;
    assert_eq!(
        clock_of(&app, &app.platform_id) - start_of_other,
        chrono::Duration::days(30)
    );
    assert_eq!(clock_of(&app, &other), start_of_other);
    assert!(link_is_usable(&link).await);
    assert_eq!(balance_as(&app, &other_key, "usd").await, (0, 5000));

    // The other platform's own advance runs its own work, and moves only its clock.
    let moved = app.now();
    advance_to_as(&app, &other_key, "2030-01-01T00:00:00Z").await;
    assert_eq!(clock_of(&app, &other), time("2030-01-01T00:00:00Z"));
    assert_eq!(clock_of(&app, &app.platform_id), moved);
    assert!(!link_is_usable(&link).await);
    assert_eq!(balance_as(&app, &other_key, "usd").await, (5000, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn every_platform_clock_survives_a_restart() {
    let app = crate::helpers::spawn_app().await;
    let (other, other_key) = platform_in(&app, "GB").await;
    advance_to(&app, "2031-05-01T08:00:00Z").await;
    advance_to_as(&app, &other_key, "2032-06-01T09:30:00Z").await;
    let (platform, secret_key) = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;

    let app = start(data_dir, Some((platform.clone(), secret_key))).await;
    assert_eq!(clock_of(&app, &platform), time("2031-05-01T08:00:00Z"));
    assert_eq!(clock_of(&app, &other), time("2032-06-01T09:30:00Z"));
    // Still one clock per platform after the restart, and still only forward.
    let body = app
        .graphql_as(
            &other_key,
            None,
            "mutation { advanceClock(input: {to: \"2032-01-01T00:00:00Z\"}) }",
            json!({}),
        )
        .await;
    assert_eq!(
        crate::helpers::error_code(&body),
        "INVALID_REQUEST",
        "{body}"
    );
    advance_to(&app, "2031-05-02T08:00:00Z").await;
    assert_eq!(clock_of(&app, &other), time("2032-06-01T09:30:00Z"));
    app.stop().await;
    drop(temp);
}

#[tokio::test]
async fn on_the_system_clock_every_platforms_due_timers_run_and_advance_clock_is_refused() {
    use tollgate::app::Application;
    use tollgate::config::Settings;
    use tollgate::service::platforms::NewPlatform;
    use tollgate::service::{Caller, Draft};
    use tollgate::store::Key;

    let temp = tempfile::tempdir().expect("temp dir");
    let settings = Settings::new(temp.path().join("data"), crate::helpers::policies_dir());
    let application = Application::build(crate::helpers::on_test_store(settings)).expect("build");
    let services = application.services.clone();
    let mut platforms = Vec::new();
    for name in ["First", "Second", "Third"] {
        let created = services
            .create_platform(NewPlatform {
                name: name.into(),
                country: "US".into(),
                default_currency: None,
                policy: None,
            })
            .await
            .expect("platform");
        platforms.push(PlatformId::parse(&created.id).expect("id"));
    }
    // A release of nothing, due a second ago, for each platform; and one due tomorrow.
    let now = Utc::now();
    let mut draft = Draft::system(now);
    let nothing = br#"{"balance_transactions":[]}"#.to_vec();
    for platform in &platforms {
        let due = (now - chrono::Duration::seconds(1)).timestamp_micros();
        draft.raw(
            Key::timer(due, "release", platform.as_ref(), "x"),
            nothing.clone(),
        );
    }
    let tomorrow = (now + chrono::Duration::days(1)).timestamp_micros();
    let later = Key::timer(tomorrow, "release", platforms[0].as_ref(), "y");
    draft.raw(later.clone(), nothing.clone());
    services.store.commit(draft.commit).await.expect("commit");

    assert_eq!(services.run_due_work().await.expect("run"), 3);
    for platform in &platforms {
        assert_eq!(
            services
                .store
                .due_timers(platform.as_ref(), i64::MAX, 10)
                .expect("timers")
                .len(),
            usize::from(platform == &platforms[0])
        );
        // Every platform reads the same wall time.
        assert!(
            (services.clock.now(platform) - Utc::now())
                .num_seconds()
                .abs()
                < 60
        );
    }
    assert_eq!(services.store.get_raw(&later).expect("read"), Some(nothing));

    let platform = services
        .store
        .get_object(platforms[1].as_ref(), platforms[1].as_ref())
        .expect("read")
        .expect("platform")
        .value;
    let caller = Caller {
        platform,
        connect_account: None,
        access: tollgate::service::Access::Change,
        read_only: false,
    };
    let refused = services.advance_clock(&caller, None, Some(60)).await;
    assert!(
        matches!(
            refused,
            Err(tollgate::service::ServiceError::Forbidden { .. })
        ),
        "{refused:?}"
    );
    drop(services);
    application.close().await;
}
