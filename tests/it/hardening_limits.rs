//! The server's own limits over real sockets: the header-read timeout, per-key rate limits
//! (reads and writes apart), the request deadline, and what refused requests may show.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    assert_no_errors, error_code, open_onboarding_form, spawn_app, spawn_app_with, TOPUP,
};

#[tokio::test]
async fn a_socket_that_never_finishes_its_headers_is_closed_within_the_timeout() {
    let app =
        spawn_app_with(|settings| settings.limits.header_read_timeout_milliseconds = 300).await;
    let mut socket = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    // The server answers 408 or just closes; either way the socket ends.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    println!("slow-header socket closed after {elapsed:?} (timeout 300 ms)");
    assert!(closed.is_ok(), "the socket was still open after 10 s");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The server still serves.
    let body = app.graphql("{ platform { id } }", json!({})).await;
    assert_no_errors(&body);
}

#[tokio::test]
async fn reads_and_writes_have_separate_budgets_per_key() {
    let app = spawn_app_with(|settings| {
        settings.limits.reads_per_second = 1;
        settings.limits.read_burst = 3;
        settings.limits.writes_per_second = 1;
        settings.limits.write_burst = 2;
    })
    .await;
    let (_, other_key) = app.second_platform().await;
    for _ in 0..3 {
        assert_no_errors(&app.graphql("{ platform { id } }", json!({})).await);
    }
    let response = app
        .client
        .post(app.url())
        .bearer_auth(&app.secret_key)
        .json(&json!({"query": "{ platform { id } }"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After header");
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["budget"], "reads");
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfter"],
        json!(retry_after)
    );
    assert_eq!(retry_after, 1);

    // Writes have their own budget, and each mutation field takes one token.
    let body = app
        .graphql(
            TOPUP,
            json!({"amount": 100, "currency": "usd", "key": "budget-1"}),
        )
        .await;
    assert_no_errors(&body);
    let two = "mutation { a: createTopup(input: {amount: 1, currency: \"usd\"}) { id } b: createTopup(input: {amount: 1, currency: \"usd\"}) { id } }";
    let body = app.graphql(two, json!({})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["budget"], "writes");
    // Refused before it ran: only the first top-up moved money.
    let platform = tollgate::ids::PlatformId::parse(&app.platform_id).expect("platform id");
    let stored = app
        .services
        .balance(&tollgate::ledger::Holder::Platform(platform))
        .expect("balance");
    assert_eq!(stored.pending.len(), 1);
    assert_eq!(stored.pending[0].amount.get(), 100);

    // Another key is not affected.
    let body = app
        .graphql_as(&other_key, None, "{ platform { id } }", json!({}))
        .await;
    assert_no_errors(&body);
}

#[tokio::test]
async fn the_deadline_stops_queries_and_mutations_before_they_start() {
    let app = spawn_app_with(|settings| settings.limits.request_deadline_milliseconds = 0).await;
    let body = app.graphql("{ platform { id } }", json!({})).await;
    assert_eq!(error_code(&body), "TIMEOUT", "{body}");
    assert_eq!(body["data"], Value::Null);
    let body = app
        .graphql(
            TOPUP,
            json!({"amount": 100, "currency": "usd", "key": "late"}),
        )
        .await;
    assert_eq!(error_code(&body), "TIMEOUT", "{body}");
    let platform = tollgate::ids::PlatformId::parse(&app.platform_id).expect("platform id");
    let stored = app
        .services
        .balance(&tollgate::ledger::Holder::Platform(platform))
        .expect("balance");
    assert!(
        stored.pending.is_empty() && stored.available.is_empty(),
        "{stored:?}"
    );
}

/// Text that only Rust or serde would write.
const INTERNAL_MARKERS: [&str; 6] = [
    "serde",
    "at line",
    "column",
    "invalid type",
    "expected",
    "Error(",
];

#[tokio::test]
async fn refusals_carry_a_request_id_and_no_internal_text_or_locations() {
    let app = spawn_app().await;
    let cases: [(&str, Option<&str>, u16, &str); 4] = [
        (
            "{not json",
            Some(app.secret_key.as_str()),
            400,
            "INVALID_REQUEST",
        ),
        (
            "{\"query\": 5}",
            Some(app.secret_key.as_str()),
            400,
            "INVALID_REQUEST",
        ),
        (
            "{\"query\": \"{ platform { id } }\", \"variables\": [1]}",
            Some(app.secret_key.as_str()),
            400,
            "INVALID_REQUEST",
        ),
        (
            "{\"query\": \"{ platform { id } }\"}",
            None,
            401,
            "UNAUTHENTICATED",
        ),
    ];
    for (raw, key, status, code) in cases {
        let mut request = app
            .client
            .post(app.url())
            .header("content-type", "application/json")
            .body(raw.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), status, "{raw}");
        let header_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .expect("X-Request-Id");
        let body: Value = response.json().await.expect("json body");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{raw}: {body}");
        assert_eq!(error["extensions"]["requestId"], json!(header_id), "{body}");
        assert!(error.get("locations").is_none(), "{raw}: {body}");
        let message = error["message"].as_str().expect("message");
        for marker in INTERNAL_MARKERS {
            assert!(!message.contains(marker), "{raw}: {message}");
        }
    }
    // A refusal by cost has no location either, and says what it cost.
    let body = app
        .graphql("{ charges(first: 100000) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COSTLY");
    assert_eq!(body["errors"][0]["extensions"]["cost"], json!(200_001));
    assert_eq!(body["errors"][0]["extensions"]["limit"], json!(10_000));
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
    assert!(body["errors"][0]["extensions"]["requestId"]
        .as_str()
        .is_some_and(|id| id.starts_with("req_")));
}

#[tokio::test]
async fn responses_larger_than_the_cap_are_refused() {
    let app = spawn_app_with(|settings| settings.limits.max_response_bytes = 2_000).await;
    for n in 0..10 {
        let body = app
            .graphql(
                TOPUP,
                json!({"amount": 100 + n, "currency": "usd", "key": format!("cap-{n}")}),
            )
            .await;
        assert_no_errors(&body);
    }
    let body = app
        .graphql(
            "{ events(first: 10) { nodes { id type data { object } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COSTLY", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], json!(2_000));
    assert!(body["errors"][0]["extensions"]["responseBytes"].as_u64() > Some(2_000));
}

const CREATE_LINK: &str = "mutation($a: ID!) { createAccountLink(input: {account: $a, refreshUrl: \"https://example.com/r\", returnUrl: \"https://example.com/d\"}) { url } }";

async fn express_account_link(app: &crate::helpers::TestApp) -> String {
    let body = app
        .graphql(
            "mutation { createAccount(input: {type: EXPRESS, country: \"US\", businessType: INDIVIDUAL}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let account = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = app.graphql(CREATE_LINK, json!({"a": account})).await;
    assert_no_errors(&body);
    body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

#[tokio::test]
async fn the_onboarding_page_is_not_cached_framed_forged_or_refilled_with_secrets() {
    let app = spawn_app_with(|settings| {
        settings.public_url = Some("https://pay.example.com/".parse().expect("url"));
    })
    .await;
    let link = express_account_link(&app).await;
    // Links are built from the configured public URL, never from the Host header.
    let path = link
        .strip_prefix("https://pay.example.com/onboarding/")
        .unwrap_or_else(|| panic!("{link}"));
    let url = format!("http://{}/onboarding/{path}", app.address);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(&url).send().await.expect("get");
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
    // The link never leaves as a Referer to another origin, while the form's own post keeps
    // its Origin: browsers send `Origin: null` from a `no-referrer` page.
    assert_eq!(headers["referrer-policy"], "same-origin");
    let cookie = headers["set-cookie"].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure"),
        "{cookie}"
    );

    let (cookie, token) = open_onboarding_form(&client, &url).await;
    let form = |token: &str| {
        vec![
            ("individual.firstName".to_owned(), "Jenny".to_owned()),
            ("individual.dobDay".to_owned(), "31".to_owned()),
            ("individual.dobMonth".to_owned(), "2".to_owned()),
            ("individual.dobYear".to_owned(), "1990".to_owned()),
            ("individual.ssnLast4".to_owned(), "4321".to_owned()),
            ("accountNumber".to_owned(), "000123456789".to_owned()),
            ("csrfToken".to_owned(), token.to_owned()),
        ]
    };
    // Without the cookie's token, or from another site, nothing is read.
    let forged = client
        .post(&url)
        .header("cookie", &cookie)
        .form(&form("0".repeat(64).as_str()))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(forged.headers()["x-frame-options"], "DENY");
    let no_cookie = client
        .post(&url)
        .form(&form(&token))
        .send()
        .await
        .expect("post");
    assert_eq!(no_cookie.status(), 403);
    let cross_site = client
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&form(&token))
        .send()
        .await
        .expect("post");
    assert_eq!(cross_site.status(), 403);

    // A failed submission shows the form again without the secrets typed into it.
    let refused = client
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", "https://pay.example.com")
        .form(&form(&token))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let html = refused.text().await.expect("html");
    assert!(html.contains("value=\"Jenny\""), "{html}");
    // The page holds random tokens and ids, which may contain these digits by chance: what
    // must not be there is a field filled with them.
    assert!(
        !html.contains("value=\"4321\"") && !html.contains(">4321<"),
        "the SSN digits were refilled"
    );
    assert!(
        !html.contains("000123456789"),
        "the account number was refilled"
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_slot() {
    let app = spawn_app_with(|settings| {
        settings.limits.max_connections = 1;
        settings.limits.header_read_timeout_milliseconds = 300;
    })
    .await;
    // An idle connection that never sends a byte holds the only slot.
    let idle = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = client
        .post(app.url())
        .bearer_auth(&app.secret_key)
        .json(&json!({"query": "{ platform { id } }"}))
        .send()
        .await
        .expect("send");
    let elapsed = started.elapsed();
    println!("a request behind an idle connection was served after {elapsed:?}");
    assert_eq!(response.status(), 200);
    // Served only once the idle connection was closed by the header-read timeout.
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    drop(idle);
}

/// Serves a fresh store on `address` with `demo_key`, and returns GraphiQL's page.
async fn graphiql_page_on(address: &str, demo_key: &str) -> String {
    let temp = tempfile::tempdir().expect("temp dir");
    let settings = tollgate::config::Settings {
        simulated_clock: true,
        ..tollgate::config::Settings::new(temp.path().join("data"), crate::helpers::policies_dir())
    };
    let application =
        tollgate::app::Application::build(crate::helpers::on_test_store(settings)).expect("build");
    let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let key = demo_key.to_owned();
    let server = tokio::spawn(async move {
        application
            .serve(listener, Some(key), async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    let page = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    let _ = stop.send(());
    server.await.expect("server");
    page
}

#[tokio::test]
async fn the_demo_key_is_prefilled_only_on_loopback() {
    let key = "sk_test_demo_key_for_the_page";
    assert!(graphiql_page_on("127.0.0.1:0", key).await.contains(key));
    assert!(!graphiql_page_on("0.0.0.0:0", key).await.contains(key));
}
