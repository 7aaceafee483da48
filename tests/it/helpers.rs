//! `spawn_app()` and `TestApp::graphql()`: a real server on port 0 over a temporary store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use tollgate::app::Application;
use tollgate::config::Settings;
use tollgate::service::platforms::NewPlatform;
use tollgate::service::Services;

use crate::test_store::DatabaseOf;
pub use crate::test_store::{
    on_postgres, on_test_store, skipped_on_postgres, store_env, store_env_of_args,
};

pub struct TestApp {
    pub address: SocketAddr,
    pub secret_key: String,
    pub platform_id: String,
    pub client: reqwest::Client,
    pub services: Arc<Services>,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _temp: Option<TestDir>,
}

/// A test's temporary data directory and, on PostgreSQL, its database: both go when this
/// is dropped.
pub struct TestDir {
    _database: DatabaseOf,
    _temp: tempfile::TempDir,
}

impl TestDir {
    /// `temp`, whose `data` directory holds a server's store.
    fn new(temp: tempfile::TempDir) -> TestDir {
        TestDir {
            _database: DatabaseOf::new(&temp.path().join("data")),
            _temp: temp,
        }
    }
}

pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// Test settings over `data_dir`: port 0, the simulated clock, and webhooks allowed to
/// reach the loopback receivers the tests start.
pub fn settings_in(data_dir: PathBuf) -> Settings {
    settings(data_dir, policies_dir())
}

fn settings(data_dir: PathBuf, policies: PathBuf) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        simulated_clock: true,
        webhooks_allow_private: true,
        ..Settings::new(data_dir, policies)
    }
}

/// A server over a new temporary store with one platform (US, usd, default policy).
pub async fn spawn_app() -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let mut app = start(data_dir, None).await;
    app._temp = Some(TestDir::new(temp));
    app
}

/// Starts a server over `data_dir`; creates a platform unless one is given.
pub async fn start(data_dir: PathBuf, platform: Option<(String, String)>) -> TestApp {
    start_with(data_dir, platform, policies_dir(), None).await
}

/// A server over a temporary store whose policies come from `policies`, with one platform
/// priced by `policy`.
pub async fn spawn_app_with_policies(policies: PathBuf, policy: &str) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let mut app = start_with(data_dir, None, policies, Some(policy.to_owned())).await;
    app._temp = Some(TestDir::new(temp));
    app
}

pub async fn start_with(
    data_dir: PathBuf,
    platform: Option<(String, String)>,
    policies: PathBuf,
    policy: Option<String>,
) -> TestApp {
    start_with_settings(settings(data_dir, policies), platform, policy).await
}

/// A server over a temporary store whose settings `configure` changes (limits, public URL).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut settings = settings(temp.path().join("data"), policies_dir());
    configure(&mut settings);
    let mut app = start_with_settings(settings, None, None).await;
    app._temp = Some(TestDir::new(temp));
    app
}

/// A server over a new temporary store with one platform, its settings changed first.
pub async fn spawn_app_configured(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(configure).await
}

/// A server over a temporary store with `settings` (its data directory replaced), and one
/// platform priced by `policy`.
pub async fn spawn_app_with_settings(settings: Settings, policy: &str) -> TestApp {
    let temp = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        data_dir: temp.path().join("data"),
        ..settings
    };
    let mut app = start_with_settings(settings, None, Some(policy.to_owned())).await;
    app._temp = Some(TestDir::new(temp));
    app
}

/// The settings every test server starts from: port 0 and the simulated clock.
pub fn test_settings(policies: PathBuf) -> Settings {
    settings(PathBuf::new(), policies)
}

pub async fn start_with_settings(
    settings: Settings,
    platform: Option<(String, String)>,
    policy: Option<String>,
) -> TestApp {
    let settings = on_test_store(settings);
    let data_dir = settings.data_dir.clone();
    let application = Application::build(settings).expect("build application");
    let services = application.services.clone();
    let (platform_id, secret_key) = match platform {
        Some(platform) => platform,
        None => {
            let created = services
                .create_platform(NewPlatform {
                    name: "Test Platform".into(),
                    country: "US".into(),
                    default_currency: Some("usd".into()),
                    policy,
                })
                .await
                .expect("create platform");
            (created.id, created.secret_key)
        }
    };
    serve(application, data_dir, platform_id, secret_key).await
}

/// Another server over `app`'s store, as a second server over one database: its own
/// services, HTTP server, webhook worker and event feed, sharing only the store (and so the
/// platform and its key). `configure` changes its settings, which start as the test
/// settings. Stop it before `app`, which owns the store's writer.
pub async fn start_second_server(app: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = settings(app.data_dir.clone(), policies_dir());
    configure(&mut settings);
    let application =
        Application::over_store(settings, &app.services.store).expect("second server");
    serve(
        application,
        app.data_dir.clone(),
        app.platform_id.clone(),
        app.secret_key.clone(),
    )
    .await
}

async fn serve(
    application: Application,
    data_dir: PathBuf,
    platform_id: String,
    secret_key: String,
) -> TestApp {
    let services = application.services.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        application
            .serve(listener, None, shutdown)
            .await
            .expect("serve");
    });
    TestApp {
        address,
        secret_key,
        platform_id,
        client: reqwest::Client::new(),
        services,
        data_dir,
        shutdown: Some(shutdown),
        server: Some(server),
        _temp: None,
    }
}

impl TestApp {
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.address)
    }

    /// Another platform on the same server.
    pub async fn second_platform(&self) -> (String, String) {
        let created = self
            .services
            .create_platform(NewPlatform {
                name: "Other Platform".into(),
                country: "GB".into(),
                default_currency: Some("gbp".into()),
                policy: None,
            })
            .await
            .expect("second platform");
        (created.id, created.secret_key)
    }

    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(&self.secret_key, None, query, variables)
            .await
    }

    pub async fn graphql_as(
        &self,
        key: &str,
        connect_account: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .client
            .post(self.url())
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(account) = connect_account {
            request = request.header("Connect-Account", account);
        }
        let response = request.send().await.expect("send");
        response.json().await.expect("json body")
    }

    /// Stops the server (drain, stop the writer, flush, close the store) and returns its
    /// data directory, so a new server can open it.
    pub async fn stop(self) -> (PathBuf, Option<TestDir>) {
        let TestApp {
            services,
            shutdown,
            server,
            client,
            data_dir,
            _temp,
            ..
        } = self;
        // The server must hold the last handle to the state to close the store.
        drop(services);
        drop(client);
        if let Some(shutdown) = shutdown {
            let _ = shutdown.send(());
        }
        if let Some(server) = server {
            server.await.expect("server task");
        }
        (data_dir, _temp)
    }

    /// This platform's business time (its own simulated clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let platform = tollgate::ids::PlatformId::parse(&self.platform_id).expect("platform id");
        self.services.clock.now(&platform)
    }

    pub async fn advance_days(&self, days: i64) -> Value {
        let body = self
            .graphql(
                "mutation($s: Int!) { advanceClock(input: {seconds: $s}) }",
                json!({ "s": days * 86_400 }),
            )
            .await;
        assert_no_errors(&body);
        body
    }

    /// Adds the US test bank account to an account as its holder would: through a hosted
    /// onboarding link's form.
    pub async fn add_bank_account_as_holder(&self, account: &str) {
        let body = self
            .graphql(
                "mutation($a: ID!) { createAccountLink(input: {account: $a, refreshUrl: \"https://example.com/r\", returnUrl: \"https://example.com/d\"}) { url } }",
                json!({ "a": account }),
            )
            .await;
        assert_no_errors(&body);
        let url = body["data"]["createAccountLink"]["url"]
            .as_str()
            .expect("link url");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let (cookie, token) = open_onboarding_form(&client, url).await;
        let form = [
            ("accountNumber", "000123456789"),
            ("routingNumber", "110000000"),
            ("csrfToken", token.as_str()),
        ];
        let response = client
            .post(url)
            .header("cookie", cookie)
            .form(&form)
            .send()
            .await
            .expect("post form");
        assert_eq!(
            response.status(),
            303,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    pub async fn assert_ledger_balanced(&self) {
        let body = self
            .graphql("{ ledgerCheck { balanced entries violations } }", json!({}))
            .await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["ledgerCheck"]["violations"],
            json!([]),
            "{body}"
        );
        assert_eq!(
            body["data"]["ledgerCheck"]["balanced"],
            json!(true),
            "{body}"
        );
    }

    /// `(available, pending)` of one currency in a balance query's result.
    pub async fn balance(&self, account: Option<&str>, currency: &str) -> (i64, i64) {
        let body = self
            .graphql(
                "query($a: ID) { balance(account: $a) { available { amount currency } pending { amount currency } } }",
                json!({ "a": account }),
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
}

/// Opens a hosted onboarding form as a browser would: returns the cookie to send back and
/// the CSRF token the form carries.
pub async fn open_onboarding_form(client: &reqwest::Client, url: &str) -> (String, String) {
    let page = client.get(url).send().await.expect("get form");
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let html = page.text().await.expect("form html");
    let marker = "name=\"csrfToken\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    let token = html[start..].split('"').next().expect("token").to_owned();
    (cookie, token)
}

/// Posts a hosted onboarding form as a browser would: the form is opened first, and its
/// CSRF token and cookie go with the post (a spent or expired link has none).
pub async fn post_onboarding_form(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let page = client.get(url).send().await.expect("get form");
    let mut form: Vec<(&str, String)> = form
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect();
    let mut request = client.post(url);
    if page.status() == 200 {
        let (cookie, token) = open_onboarding_form(client, url).await;
        form.push(("csrfToken", token));
        request = request.header("cookie", cookie);
    }
    request.form(&form).send().await.expect("post form")
}

pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

pub fn error_param(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["param"].as_str()
}

pub const TOPUP: &str = "mutation($amount: MinorUnits!, $currency: Currency!, $key: String) {
  createTopup(input: {amount: $amount, currency: $currency, idempotencyKey: $key}) { id amount { amount currency decimal } status }
}";

/// Runs `tollgate verify` on a data directory and returns whether it passed, and its output.
pub fn run_verify(data_dir: &std::path::Path) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["verify", "--data"])
        .arg(data_dir)
        .envs(store_env(data_dir))
        .output()
        .expect("run tollgate verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
