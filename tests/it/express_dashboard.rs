//! The Express dashboard: login links work once and expire, the page shows the account's
//! money to the minor unit, its forms need the session's CSRF token, and only EXPRESS
//! accounts have one.

use serde_json::{json, Value};

use crate::accounts_support::{browser, location, new_account};
use crate::charges_support::{create_charge, enabled_account};
use crate::helpers::{assert_no_errors, error_code, error_param, TestApp};
use tollgate::domain::login_links::{stored_id, LoginLink};

pub const CREATE_LOGIN_LINK: &str =
    "mutation($a: ID!) { createLoginLink(input: {account: $a}) { url expiresAt } }";

/// A fresh login link's URL for `account`.
pub async fn login_link(app: &TestApp, account: &str) -> String {
    let body = app.graphql(CREATE_LOGIN_LINK, json!({"a": account})).await;
    assert_no_errors(&body);
    body["data"]["createLoginLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// Signs in with a fresh link as a browser would: returns the session cookie to send back.
pub async fn sign_in(app: &TestApp, account: &str) -> String {
    let url = login_link(app, account).await;
    let response = browser().get(&url).send().await.expect("login");
    assert_eq!(response.status(), 303);
    response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned()
}

fn dashboard_url(app: &TestApp, path: &str) -> String {
    format!("http://{}/express/{path}", app.address)
}

/// The dashboard's HTML and the HTTP status it came with.
async fn dashboard(app: &TestApp, cookie: &str) -> (u16, String) {
    let response = browser()
        .get(dashboard_url(app, "dashboard"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("dashboard");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

/// The text of the element with `id` in `<tag id="…">text</tag>` form, or of the first
/// element with `class` after it.
fn text_after<'a>(html: &'a str, marker: &str, class: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[start..];
    let cell = format!("class=\"{class}\">");
    let from = rest
        .find(&cell)
        .unwrap_or_else(|| panic!("{class} after {marker}"))
        + cell.len();
    rest[from..].split('<').next().expect("text")
}

fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrfToken\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..].split('"').next().expect("token").to_owned()
}

async fn post_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> u16 {
    browser()
        .post(dashboard_url(app, path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

async fn external_accounts(app: &TestApp, account: &str) -> Vec<Value> {
    let body = app
        .graphql(
            "query($id: ID!) { account(id: $id) { externalAccounts { ... on BankAccount { id last4 defaultForCurrency } } } }",
            json!({"id": account}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["account"]["externalAccounts"]
        .as_array()
        .expect("external accounts")
        .clone()
}

#[tokio::test]
async fn a_login_link_works_once_and_expires() {
    let app = crate::helpers::spawn_app().await;
    let express = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let body = app.graphql(CREATE_LOGIN_LINK, json!({"a": express})).await;
    assert_no_errors(&body);
    let link = &body["data"]["createLoginLink"];
    let url = link["url"].as_str().expect("url").to_owned();
    let prefix = format!("http://{}/express/login/{}/", app.address, app.platform_id);
    assert!(url.starts_with(&prefix), "{url}");
    let expires_at: chrono::DateTime<chrono::Utc> = link["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("time");
    assert!(
        (299..=300).contains(&(expires_at - app.now()).num_seconds()),
        "{expires_at}"
    );

    // Only the token's hash is stored.
    let token = url.trim_start_matches(&prefix);
    let stored = app
        .services
        .store
        .get_object::<LoginLink>(&app.platform_id, &stored_id(token))
        .expect("read");
    assert!(stored.is_some());
    assert!(app
        .services
        .store
        .get_object::<LoginLink>(&app.platform_id, token)
        .expect("read")
        .is_none());

    let response = browser().get(&url).send().await.expect("login");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some("/express/dashboard"));
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/express", "Max-Age=3600"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().expect("cookie").to_owned();
    let (status, html) = dashboard(&app, &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("<span id=\"account\">{express}</span>")));

    // Used: refused, and no session.
    let again = browser().get(&url).send().await.expect("again");
    assert_eq!(again.status(), 410);
    assert!(again.headers().get("set-cookie").is_none());
    assert!(again
        .text()
        .await
        .expect("html")
        .contains("already used or has expired"));

    // Expired: five minutes on the platform's clock.
    let late = login_link(&app, &express).await;
    let body = app
        .graphql(
            "mutation { advanceClock(input: {seconds: 300}) }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let response = browser().get(&late).send().await.expect("late");
    assert_eq!(response.status(), 410);
    assert!(response.headers().get("set-cookie").is_none());

    // A made-up token, another platform's id, no session at all.
    let forged = format!("{prefix}{}", "0".repeat(64));
    assert_eq!(
        browser()
            .get(&forged)
            .send()
            .await
            .expect("forged")
            .status(),
        410
    );
    let (status, _) = dashboard(&app, "tollgate_dashboard=nothing").await;
    assert_eq!(status, 401);

    // The session ends an hour after the login.
    let body = app
        .graphql(
            "mutation { advanceClock(input: {seconds: 3300}) }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let (status, _) = dashboard(&app, &cookie).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_dashboard_shows_the_balance_and_payouts_after_a_destination_charge() {
    let app = crate::helpers::spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 123, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let cookie = sign_in(&app, &seller).await;
    let (status, html) = dashboard(&app, &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1 id=\"platform\">"), "{html}");
    assert_eq!(text_after(&html, "id=\"balance-usd\"", "available"), "0.00");
    assert_eq!(text_after(&html, "id=\"balance-usd\"", "pending"), "98.77");
    assert!(html.contains("id=\"no-payouts\""));
    assert!(
        html.contains("<p id=\"payout-schedule\">Daily, 2 days after payment</p>"),
        "{html}"
    );

    // Paid out by hand from here on.
    let body = app
        .graphql(
            "mutation($a: ID!) { updatePayoutSchedule(input: {account: $a, interval: MANUAL}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    app.advance_days(2).await;
    // Sessions run on the platform's clock too: two days later, sign in again.
    assert_eq!(dashboard(&app, &cookie).await.0, 401);
    let cookie = sign_in(&app, &seller).await;
    let (_, html) = dashboard(&app, &cookie).await;
    assert_eq!(
        text_after(&html, "id=\"balance-usd\"", "available"),
        "98.77"
    );
    assert!(html.contains("<p id=\"payout-schedule\">Manual: the platform pays out on request</p>"));
    let body = app
        .graphql(
            "mutation($a: ID!) { createPayout(input: {account: $a, amount: 5000, currency: \"usd\"}) { id status arrivalDate } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    let payout = &body["data"]["createPayout"];
    let (_, html) = dashboard(&app, &cookie).await;
    assert_eq!(
        text_after(&html, "id=\"balance-usd\"", "available"),
        "48.77"
    );
    assert_eq!(text_after(&html, "id=\"balance-usd\"", "pending"), "0.00");
    let row = format!("id=\"{}\"", payout["id"].as_str().expect("id"));
    assert_eq!(text_after(&html, &row, "amount"), "50.00 USD");
    assert_eq!(
        text_after(&html, &row, "status"),
        payout["status"].as_str().expect("status")
    );
    let arrival = &payout["arrivalDate"].as_str().expect("arrival")[..10];
    assert_eq!(text_after(&html, &row, "arrival"), arrival);
}

#[tokio::test]
async fn the_holder_adds_a_bank_account_and_sets_the_default_with_the_csrf_token() {
    let app = crate::helpers::spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let before = external_accounts(&app, &seller).await;
    assert_eq!(before.len(), 1);
    let first = before[0]["id"].as_str().expect("id").to_owned();
    let cookie = sign_in(&app, &seller).await;
    let (_, html) = dashboard(&app, &cookie).await;
    let token = csrf_token(&html);
    assert!(html.contains(&format!("id=\"{first}\"")));

    let bank = [
        ("routingNumber", "110000000"),
        ("accountNumber", "000555555559"),
        ("currency", "usd"),
    ];
    // Without the token, with a wrong one, or without a session: refused, nothing added.
    assert_eq!(
        post_form(&app, &cookie, "dashboard/bank-accounts", &bank).await,
        403
    );
    let mut wrong = bank.to_vec();
    wrong.push(("csrfToken", "0123"));
    assert_eq!(
        post_form(&app, &cookie, "dashboard/bank-accounts", &wrong).await,
        403
    );
    let mut with_token = bank.to_vec();
    with_token.push(("csrfToken", token.as_str()));
    assert_eq!(
        post_form(
            &app,
            "tollgate_dashboard=none",
            "dashboard/bank-accounts",
            &with_token
        )
        .await,
        401
    );
    assert_eq!(external_accounts(&app, &seller).await.len(), 1);

    // A bad routing number shows the dashboard again with the problem.
    let mut bad = with_token.clone();
    bad[0] = ("routingNumber", "123");
    assert_eq!(
        post_form(&app, &cookie, "dashboard/bank-accounts", &bad).await,
        422
    );
    assert_eq!(external_accounts(&app, &seller).await.len(), 1);

    assert_eq!(
        post_form(&app, &cookie, "dashboard/bank-accounts", &with_token).await,
        303
    );
    let after = external_accounts(&app, &seller).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let added = after
        .iter()
        .find(|bank| bank["last4"] == "5559")
        .expect("added");
    let second = added["id"].as_str().expect("id").to_owned();
    assert_eq!(added["defaultForCurrency"], false);

    let make_default = [("externalAccount", second.as_str())];
    assert_eq!(
        post_form(
            &app,
            &cookie,
            "dashboard/default-external-account",
            &make_default
        )
        .await,
        403
    );
    let mut make_default = make_default.to_vec();
    make_default.push(("csrfToken", token.as_str()));
    assert_eq!(
        post_form(
            &app,
            &cookie,
            "dashboard/default-external-account",
            &make_default
        )
        .await,
        303
    );
    let defaults: Vec<(String, bool)> = external_accounts(&app, &seller)
        .await
        .iter()
        .map(|bank| {
            (
                bank["id"].as_str().expect("id").to_owned(),
                bank["defaultForCurrency"].as_bool().expect("default"),
            )
        })
        .collect();
    assert!(defaults.contains(&(second.clone(), true)), "{defaults:?}");
    assert!(defaults.contains(&(first, false)), "{defaults:?}");
    let (_, html) = dashboard(&app, &cookie).await;
    assert!(html.contains("Default for USD"));

    // Another account's id is not found; a post from another site is refused.
    let unknown = [
        ("externalAccount", "ba_nothing"),
        ("csrfToken", token.as_str()),
    ];
    assert_eq!(
        post_form(
            &app,
            &cookie,
            "dashboard/default-external-account",
            &unknown
        )
        .await,
        422
    );
    let foreign = browser()
        .post(dashboard_url(&app, "dashboard/default-external-account"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&make_default)
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), 403);

    // Signing out ends the session.
    assert_eq!(
        post_form(&app, &cookie, "logout", &[("csrfToken", token.as_str())]).await,
        200
    );
    assert_eq!(dashboard(&app, &cookie).await.0, 401);
}

#[tokio::test]
async fn custom_and_standard_accounts_have_no_express_dashboard() {
    let app = crate::helpers::spawn_app().await;
    let custom = new_account(&app, "CUSTOM", "US", Some("INDIVIDUAL")).await;
    let standard = new_account(&app, "STANDARD", "US", Some("INDIVIDUAL")).await;
    for (account, reason) in [
        (
            &custom,
            "Custom accounts have no Stripe-hosted dashboard; the platform builds its own",
        ),
        (
            &standard,
            "Standard accounts use their own key and their own full dashboard",
        ),
    ] {
        let body = app.graphql(CREATE_LOGIN_LINK, json!({"a": account})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(error_param(&body), Some("input.account"));
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.starts_with(reason), "{message}");
    }

    // Acting as an EXPRESS account, a request may make one for that account alone.
    let express = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let other = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let own = app
        .graphql_as(
            &app.secret_key,
            Some(&express),
            CREATE_LOGIN_LINK,
            json!({"a": express}),
        )
        .await;
    assert_no_errors(&own);
    let foreign = app
        .graphql_as(
            &app.secret_key,
            Some(&express),
            CREATE_LOGIN_LINK,
            json!({"a": other}),
        )
        .await;
    assert_eq!(error_code(&foreign), "FORBIDDEN", "{foreign}");
    let unknown = app
        .graphql(CREATE_LOGIN_LINK, json!({"a": "acct_nothing"}))
        .await;
    assert_eq!(error_code(&unknown), "INVALID_REQUEST", "{unknown}");
}

#[tokio::test]
async fn the_dashboard_escapes_what_it_prints() {
    let app = crate::helpers::spawn_app().await;
    let created = app
        .services
        .create_platform(tollgate::service::platforms::NewPlatform {
            name: "<script>alert(1)</script> & Co".into(),
            country: "US".into(),
            default_currency: Some("usd".into()),
            policy: None,
        })
        .await
        .expect("platform");
    let body = app
        .graphql_as(
            &created.secret_key,
            None,
            "mutation { createAccount(input: {type: EXPRESS, country: \"US\", businessType: INDIVIDUAL}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let account = body["data"]["createAccount"]["id"].as_str().expect("id");
    let body = app
        .graphql_as(
            &created.secret_key,
            None,
            CREATE_LOGIN_LINK,
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    let url = body["data"]["createLoginLink"]["url"]
        .as_str()
        .expect("url");
    let response = browser().get(url).send().await.expect("login");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let (status, html) = dashboard(&app, &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1 id=\"platform\">&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</h1>"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("id=\"no-balance\"") && html.contains("id=\"no-external-accounts\""));
}
