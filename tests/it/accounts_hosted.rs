//! The hosted onboarding page behind account links: fetch it, post the form, follow the
//! redirect; spent and expired links go to refreshUrl.

use serde_json::{json, Value};

use crate::accounts_support::{
    account_query, browser, event_types, link_for, location, new_account, CREATE_LINK, REFRESH_URL,
    RETURN_URL,
};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app};

fn us_individual_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("individual.firstName", "Jenny"),
        ("individual.lastName", "Rosen"),
        ("individual.dobDay", "1"),
        ("individual.dobMonth", "1"),
        ("individual.dobYear", "1990"),
        ("individual.ssnLast4", "0000"),
        ("individual.address.line1", "510 Townsend St"),
        ("individual.address.city", "San Francisco"),
        ("individual.address.postalCode", "94103"),
        ("businessUrl", "https://jenny.example"),
        ("mcc", "5734"),
        ("tosAcceptance", "true"),
        ("accountNumber", "000123456789"),
        ("routingNumber", "110000000"),
    ]
}

#[tokio::test]
async fn an_express_holder_completes_onboarding_on_the_hosted_page() {
    let app = spawn_app().await;
    let id = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let body = app
        .graphql(
            CREATE_LINK,
            json!({"input": {"account": id, "refreshUrl": REFRESH_URL, "returnUrl": RETURN_URL}}),
        )
        .await;
    assert_no_errors(&body);
    let url = body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(
        url.starts_with(&format!("http://{}/onboarding/", app.address)),
        "{url}"
    );
    let expires_at: chrono::DateTime<chrono::Utc> = body["data"]["createAccountLink"]["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("time");
    assert!(
        (299..=300).contains(&(expires_at - app.now()).num_seconds()),
        "{expires_at}"
    );

    let client = browser();
    let page = client.get(&url).send().await.expect("get");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    for field in [
        "individual.firstName",
        "individual.ssnLast4",
        "accountNumber",
        "routingNumber",
        "tosAcceptance",
    ] {
        assert!(
            html.contains(&format!("name=\"{field}\"")),
            "{field} missing from the form"
        );
    }
    assert!(!html.contains("company.name"));

    // A bad date shows the form again with the problem, and spends nothing.
    let mut bad = us_individual_form();
    bad[2] = ("individual.dobDay", "31");
    bad[3] = ("individual.dobMonth", "2");
    let response = client.post(&url).form(&bad).send().await.expect("post");
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(
        html.contains("1990-02-31 is not a real calendar date"),
        "{html}"
    );
    assert!(html.contains("value=\"Jenny\""));
    assert!(
        !html.contains("000123456789"),
        "the account number is never echoed"
    );

    let response = client
        .post(&url)
        .form(&us_individual_form())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response).as_deref(), Some(RETURN_URL));

    let body = app.graphql(&account_query(), json!({"id": id})).await;
    let account = &body["data"]["account"];
    assert_eq!(
        (
            &account["chargesEnabled"],
            &account["payoutsEnabled"],
            &account["detailsSubmitted"]
        ),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(account["externalAccounts"][0]["last4"], "6789");
    let types = event_types(&app).await;
    assert_eq!(
        types,
        [
            "account.external_account.created",
            "account.updated",
            "capability.updated",
            "capability.updated"
        ]
    );

    // The link is spent: both a visit and a post go to refreshUrl.
    let again = client.get(&url).send().await.expect("get");
    assert_eq!(
        (again.status().as_u16(), location(&again).as_deref()),
        (303, Some(REFRESH_URL))
    );
    let again = client
        .post(&url)
        .form(&us_individual_form())
        .send()
        .await
        .expect("post");
    assert_eq!(
        (again.status().as_u16(), location(&again).as_deref()),
        (303, Some(REFRESH_URL))
    );
    assert_eq!(event_types(&app).await, types);

    // An unknown link is simply not there.
    let unknown = format!("{}x", url.trim_end_matches(char::is_alphanumeric));
    assert_eq!(
        client.get(&unknown).send().await.expect("get").status(),
        404
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn an_expired_link_goes_to_refresh_and_standard_holders_choose_a_business_type() {
    let app = spawn_app().await;
    let id = new_account(&app, "STANDARD", "US", None).await;
    let client = browser();
    let expired = link_for(&app, &id).await;
    app.graphql(
        "mutation { advanceClock(input: {seconds: 301}) }",
        json!({}),
    )
    .await;
    let response = client.get(&expired).send().await.expect("get");
    assert_eq!(
        (response.status().as_u16(), location(&response).as_deref()),
        (303, Some(REFRESH_URL))
    );
    let response = client
        .post(&expired)
        .form(&[("mcc", "5734")])
        .send()
        .await
        .expect("post");
    assert_eq!(location(&response).as_deref(), Some(REFRESH_URL));

    let url = link_for(&app, &id).await;
    let html = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("name=\"businessType\"")
            && html.contains("company.name")
            && html.contains("individual.firstName")
    );
    let form = [
        ("businessType", "COMPANY"),
        ("company.name", "Acme <Tools> & Co"),
        ("company.taxId", "123456789"),
        ("company.address.line1", "1 Main St"),
        ("company.address.city", "Springfield"),
        ("company.address.postalCode", "12345"),
        ("businessUrl", "https://acme.example"),
        ("mcc", "5734"),
        ("tosAcceptance", "true"),
        ("accountNumber", "000123456789"),
        ("routingNumber", "110000000"),
    ];
    let response = client.post(&url).form(&form).send().await.expect("post");
    assert_eq!(
        location(&response).as_deref(),
        Some(RETURN_URL),
        "{:?}",
        response.text().await
    );
    let body = app.graphql(&account_query(), json!({"id": id})).await;
    assert_eq!(body["data"]["account"]["businessType"], "COMPANY");
    assert_eq!(body["data"]["account"]["payoutsEnabled"], true, "{body}");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn links_are_refused_for_custom_accounts_and_bad_urls() {
    let app = spawn_app().await;
    let custom = new_account(&app, "CUSTOM", "US", Some("INDIVIDUAL")).await;
    let express = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let link = |account: &str, refresh: &str, back: &str| json!({"input": {"account": account, "refreshUrl": refresh, "returnUrl": back}});
    let body = app
        .graphql(CREATE_LINK, link(&custom, REFRESH_URL, RETURN_URL))
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(
        body["errors"][0]["message"],
        "custom accounts are onboarded through the API"
    );
    let cases: [(Value, &str); 4] = [
        (
            link(&express, "ftp://example.com/r", RETURN_URL),
            "input.refreshUrl",
        ),
        (link(&express, REFRESH_URL, "not a url"), "input.returnUrl"),
        (
            link(&express, REFRESH_URL, "javascript:alert(1)"),
            "input.returnUrl",
        ),
        (link("acct_123", REFRESH_URL, RETURN_URL), "input.account"),
    ];
    for (variables, param) in cases {
        let body = app.graphql(CREATE_LINK, variables.clone()).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{variables}");
        assert_eq!(error_param(&body), Some(param), "{variables}");
    }
    app.assert_ledger_balanced().await;
}
