//! Helpers for standalone accounts and connect-by-authorization: a browser with a cookie
//! and no redirects, the authorization page's form, and the steps of a connection.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, TestApp};

pub const REDIRECT_URI: &str = "https://platform.example.com/oauth/callback";

/// A browser: remembers the CSRF cookie, never follows a redirect.
pub struct Browser {
    client: reqwest::Client,
    cookie: Option<String>,
}

/// An answer as the browser saw it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub html: String,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        if let Some(cookie) = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
        {
            self.cookie = Some(cookie.to_owned());
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Page {
            status: response.status().as_u16(),
            location,
            html: response.text().await.expect("html"),
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let mut request = self.client.get(url);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("get");
        self.read(response).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self.client.post(url).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("post");
        self.read(response).await
    }
}

/// The value of a field in a page's form, as the browser would send it back.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    raw_field_value(html, name).map(|value| {
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&amp;", "&")
    })
}

/// The value of a field as the HTML spells it.
pub fn raw_field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}

/// One query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).expect("url");
    parsed
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A standalone account made through the service: (acct_…, sk_…).
pub async fn standalone(app: &TestApp, email: &str) -> (String, String) {
    let created = app
        .services
        .create_standalone_account(email, "US")
        .await
        .expect("standalone account");
    (created.id, created.secret_key)
}

/// Another US platform on the same server: (plat_…, sk_…).
pub async fn us_platform(app: &TestApp, name: &str) -> (String, String) {
    let created = app
        .services
        .create_platform(tollgate::service::platforms::NewPlatform {
            name: name.into(),
            country: "US".into(),
            default_currency: None,
            policy: None,
        })
        .await
        .expect("platform");
    (created.id, created.secret_key)
}

pub async fn register_redirect_uri(app: &TestApp, platform_key: &str) {
    let body = app
        .graphql_as(
            platform_key,
            None,
            "mutation($uris: [String!]) { updatePlatform(input: {oauthRedirectUris: $uris}) { oauthRedirectUris } }",
            json!({ "uris": [REDIRECT_URI] }),
        )
        .await;
    assert_no_errors(&body);
}

pub fn authorize_url(app: &TestApp, platform: &str, scope: &str, state: &str) -> String {
    let mut url =
        url::Url::parse(&format!("http://{}/connect/authorize", app.address)).expect("url");
    url.query_pairs_mut()
        .append_pair("client_id", platform)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("redirect_uri", REDIRECT_URI);
    url.to_string()
}

/// Opens the authorization page and answers it as the holder would.
pub async fn decide(
    app: &TestApp,
    browser: &mut Browser,
    url: &str,
    decision: &str,
    secret_key: &str,
) -> Page {
    let page = browser.get(url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let field = |name: &str| field_value(&page.html, name).unwrap_or_default();
    let form = [
        ("client_id", field("client_id")),
        ("response_type", field("response_type")),
        ("scope", field("scope")),
        ("state", field("state")),
        ("redirect_uri", field("redirect_uri")),
        ("csrfToken", field("csrfToken")),
        ("decision", decision.to_owned()),
        ("secretKey", secret_key.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    browser
        .post(&format!("http://{}/connect/authorize", app.address), &form)
        .await
}

/// The holder approves; returns the code sent to the redirect URI.
pub async fn approved_code(app: &TestApp, platform: &str, scope: &str, holder_key: &str) -> String {
    let mut browser = Browser::new();
    let url = authorize_url(app, platform, scope, "s1");
    let page = decide(app, &mut browser, &url, "approve", holder_key).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let location = page.location.expect("location");
    query_param(&location, "code").expect("code")
}

pub const CONNECT: &str =
    "mutation($code: String!) { connectAccount(input: {code: $code}) { id type chargesEnabled } }";

/// The whole flow: registered URI, approval, redemption; returns the connection's acct_….
pub async fn connect(
    app: &TestApp,
    platform: &str,
    platform_key: &str,
    scope: &str,
    holder_key: &str,
) -> String {
    register_redirect_uri(app, platform_key).await;
    let code = approved_code(app, platform, scope, holder_key).await;
    let body = app
        .graphql_as(platform_key, None, CONNECT, json!({ "code": code }))
        .await;
    assert_no_errors(&body);
    body["data"]["connectAccount"]["id"]
        .as_str()
        .expect("account id")
        .to_owned()
}

pub const DIRECT_CHARGE: &str = "mutation($amount: MinorUnits!) { createCharge(input: {amount: $amount, currency: \"usd\", paymentMethod: \"pm_card_bypassPending\"}) { id status processingFee { amount } } }";

/// A charge with `key`, optionally acting as `account`; returns its id.
pub async fn charge(app: &TestApp, key: &str, account: Option<&str>, amount: i64) -> String {
    let body = app
        .graphql_as(key, account, DIRECT_CHARGE, json!({ "amount": amount }))
        .await;
    assert_no_errors(&body);
    body["data"]["createCharge"]["id"]
        .as_str()
        .expect("charge id")
        .to_owned()
}

/// The ids of the charges a key sees.
pub async fn charge_ids(app: &TestApp, key: &str) -> Vec<String> {
    let body = app
        .graphql_as(
            key,
            None,
            "{ charges(first: 50) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["charges"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The available usd of the key's own `platform { balance }`.
pub async fn own_available_usd(app: &TestApp, key: &str) -> i64 {
    let body: Value = app
        .graphql_as(
            key,
            None,
            "{ platform { balance { available { amount currency } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["platform"]["balance"]["available"]
        .as_array()
        .expect("list")
        .iter()
        .find(|money| money["currency"] == "usd")
        .map_or(0, |money| money["amount"].as_i64().expect("amount"))
}
