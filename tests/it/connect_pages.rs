//! The hosted pages of standalone accounts as a browser sees them: the authorization page
//! (approve, deny, state, errors shown without redirecting, CSRF, escaping), `/signup`, and
//! `tollgate account create` on a stopped and beside a running server.

use serde_json::json;

use crate::connect_support::{
    authorize_url, decide, field_value, query_param, register_redirect_uri, standalone, Browser,
    REDIRECT_URI,
};
use crate::helpers::{assert_no_errors, policies_dir, spawn_app, spawn_app_configured};

#[tokio::test]
async fn approving_and_denying_send_the_browser_back_with_the_state() {
    let app = spawn_app().await;
    let (_, holder_key) = standalone(&app, "holder@example.com").await;
    register_redirect_uri(&app, &app.secret_key).await;
    let state = "xyz <&> 1";

    let mut browser = Browser::new();
    let url = authorize_url(&app, &app.platform_id, "read_write", state);
    let page = decide(&app, &mut browser, &url, "approve", &holder_key).await;
    assert_eq!(page.status, 303, "{}", page.html);
    let location = page.location.expect("location");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some(state));
    assert!(query_param(&location, "code").is_some_and(|code| code.starts_with("ac_")));

    let page = decide(&app, &mut browser, &url, "deny", "").await;
    assert_eq!(page.status, 303);
    let location = page.location.expect("location");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some(state));
    assert_eq!(query_param(&location, "code"), None);

    // A wrong key, or a platform's key, shows the page again with an error.
    for key in ["sk_wrong", app.secret_key.as_str()] {
        let page = decide(&app, &mut browser, &url, "approve", key).await;
        assert_eq!(page.status, 401, "{}", page.html);
        assert_eq!(page.location, None);
        assert!(page.html.contains("class=\"error\""), "{}", page.html);
        assert!(page.html.contains("name=\"secretKey\""));
    }
}

#[tokio::test]
async fn a_bad_request_is_an_error_page_and_never_a_redirect() {
    let app = spawn_app().await;
    register_redirect_uri(&app, &app.secret_key).await;
    let base = format!("http://{}/connect/authorize", app.address);
    let plat = app.platform_id.as_str();
    let cases = [
        format!("{base}?client_id={plat}&response_type=code&scope=read_write&redirect_uri=https%3A%2F%2Fevil.example.com%2F"),
        format!("{base}?client_id={plat}&response_type=code&scope=read_write&redirect_uri=https%3A%2F%2Fplatform.example.com%2Foauth%2Fcallback%2F"),
        format!("{base}?client_id=plat_unknown&response_type=code&scope=read_write"),
        format!("{base}?response_type=code&scope=read_write"),
        format!("{base}?client_id={plat}&response_type=token&scope=read_write"),
        format!("{base}?client_id={plat}&response_type=code&scope=admin"),
    ];
    let mut browser = Browser::new();
    for url in cases {
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{url}: {}", page.html);
        assert_eq!(page.location, None, "{url}");
        assert!(!page.html.contains("name=\"secretKey\""), "{url}");
    }
}

#[tokio::test]
async fn the_form_needs_its_token_and_escapes_what_it_shows() {
    let app = spawn_app().await;
    let (_, holder_key) = standalone(&app, "holder@example.com").await;
    register_redirect_uri(&app, &app.secret_key).await;
    let body = app
        .graphql(
            "mutation { updatePlatform(input: {name: \"<script>alert(1)</script>\"}) { name } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let url = authorize_url(&app, &app.platform_id, "read_only", "\"><b>");
    let mut browser = Browser::new();
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200);
    assert!(!page.html.contains("<script>alert"), "{}", page.html);
    assert!(page.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.html.contains("\"><b>"));
    assert_eq!(
        crate::connect_support::raw_field_value(&page.html, "state").as_deref(),
        Some("&quot;&gt;&lt;b&gt;")
    );

    let address = format!("http://{}/connect/authorize", app.address);
    let form = |token: &str| {
        vec![
            ("client_id", app.platform_id.clone()),
            ("response_type", "code".to_owned()),
            ("scope", "read_only".to_owned()),
            ("state", "\"><b>".to_owned()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("csrfToken", token.to_owned()),
            ("decision", "approve".to_owned()),
            ("secretKey", holder_key.clone()),
        ]
    };
    let token = field_value(&page.html, "csrfToken").expect("token");
    // Without the cookie, with another token, or with the scope changed: refused.
    let mut stranger = Browser::new();
    let posted: Vec<(&str, String)> = form(&token);
    let as_pairs = |form: &Vec<(&str, String)>| -> Vec<(String, String)> {
        form.iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    };
    let refused = post_pairs(&mut stranger, &address, &as_pairs(&posted)).await;
    assert_eq!((refused.status, refused.location), (403, None));
    let refused = post_pairs(&mut browser, &address, &as_pairs(&form("00"))).await;
    assert_eq!((refused.status, refused.location), (403, None));
    let mut widened = form(&token);
    widened[2].1 = "read_write".to_owned();
    let refused = post_pairs(&mut browser, &address, &as_pairs(&widened)).await;
    assert_eq!((refused.status, refused.location), (403, None));
    let accepted = post_pairs(&mut browser, &address, &as_pairs(&posted)).await;
    assert_eq!(accepted.status, 303, "{}", accepted.html);
}

async fn post_pairs(
    browser: &mut Browser,
    url: &str,
    form: &[(String, String)],
) -> crate::connect_support::Page {
    let pairs: Vec<(&str, &str)> = form
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.post(url, &pairs).await
}

#[tokio::test]
async fn signup_makes_a_standalone_account_whose_key_charges_on_its_own() {
    let app = spawn_app().await;
    let url = format!("http://{}/signup", app.address);
    let mut browser = Browser::new();
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200);
    let token = field_value(&page.html, "csrfToken").expect("token");
    let refused = Browser::new()
        .post(
            &url,
            &[
                ("csrfToken", &token),
                ("email", "a@example.com"),
                ("country", "US"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let bad = browser
        .post(
            &url,
            &[
                ("csrfToken", &token),
                ("email", "not an email"),
                ("country", "US"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    let page = browser
        .post(
            &url,
            &[
                ("csrfToken", &token),
                ("email", "new@example.com"),
                ("country", "US"),
            ],
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.html);
    let key = page
        .html
        .split("<code>")
        .filter_map(|part| part.split("</code>").next())
        .find(|text| text.starts_with("sk_"))
        .expect("key")
        .to_owned();
    let account = page
        .html
        .split("<code>")
        .filter_map(|part| part.split("</code>").next())
        .find(|text| text.starts_with("acct_"))
        .expect("account")
        .to_owned();

    let body = app
        .graphql_as(&key, None, "{ platform { id name } }", json!({}))
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["platform"]["id"], account.as_str());
    assert_eq!(body["data"]["platform"]["name"], "new@example.com");
    crate::connect_support::charge(&app, &key, None, 5_000).await;
    assert_eq!(
        crate::connect_support::own_available_usd(&app, &key).await,
        4_825
    );
}

/// Runs the command line off the runtime's threads, so the server keeps answering it.
async fn tollgate(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&args)
            .envs(crate::helpers::store_env_of_args(&args))
            .env_remove("TOLLGATE_OPERATOR_KEY")
            .env_remove("TOLLGATE_SERVER")
            .output()
            .expect("run tollgate");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("command line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_create_works_offline_and_beside_a_running_server() {
    let operator_key = "operator-key-for-the-tests";
    let app =
        spawn_app_configured(|settings| settings.operator_key = Some(operator_key.into())).await;
    let server = format!("http://{}", app.address);
    let (ok, stdout, stderr) = tollgate(&[
        "account",
        "create",
        "--email",
        "cli@example.com",
        "--country",
        "US",
        "--server",
        &server,
        "--operator-key",
        operator_key,
    ])
    .await;
    assert!(ok, "{stderr}");
    let created: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json line");
    assert!(
        created["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("acct_")),
        "{created}"
    );
    let key = created["secretKey"].as_str().expect("key");
    let body = app
        .graphql_as(key, None, "{ platform { id } }", json!({}))
        .await;
    assert_eq!(body["data"]["platform"]["id"], created["id"]);
    let (ok, _, stderr) = tollgate(&[
        "account",
        "create",
        "--email",
        "nope",
        "--country",
        "US",
        "--server",
        &server,
        "--operator-key",
        operator_key,
    ])
    .await;
    assert!(!ok);
    assert!(stderr.contains("INVALID_REQUEST"), "{stderr}");
    app.stop().await;

    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("data");
    let policies = policies_dir();
    let (ok, stdout, stderr) = tollgate(&[
        "account",
        "create",
        "--email",
        "offline@example.com",
        "--country",
        "GB",
        "--data",
        data_dir.to_str().expect("path"),
        "--policies",
        policies.to_str().expect("path"),
    ])
    .await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\"id\":\"acct_") && stdout.contains("\"secretKey\":\"sk_"),
        "{stdout}"
    );
}
