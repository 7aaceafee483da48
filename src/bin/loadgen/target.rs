//! The server under load: started in-process over a data directory (or named by `--url`),
//! with a platform priced by the marketplace policy, onboarded connected accounts, funds
//! on the platform for transfers, and earlier charges to refund.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use tollgate::app::Application;
use tollgate::config::{Limits, Settings};
use tollgate::ids::PlatformId;
use tollgate::service::platforms::NewPlatform;
use tollgate::service::Services;
use tollgate::store::StoreUrl;

use crate::ops;

/// How many requests the setup sends at once.
pub const SETUP_CONCURRENCY: usize = 32;

/// A server to drive.
pub struct Target {
    pub url: String,
    pub key: String,
    /// The in-process server's services and platform (for the store-only run).
    pub local: Option<(Arc<Services>, PlatformId)>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// Settings for an in-process server under load: the simulated clock, no per-key rate
/// limits (one key drives thousands of requests a second).
pub fn load_settings(
    data_dir: PathBuf,
    store: Option<StoreUrl>,
    policies_dir: PathBuf,
    cache_mb: u64,
) -> Settings {
    Settings {
        store,
        simulated_clock: true,
        cache_mb,
        limits: Limits {
            reads_per_second: 0,
            writes_per_second: 0,
            ..Limits::default()
        },
        ..Settings::new(data_dir, policies_dir)
    }
}

impl Target {
    /// Starts an in-process server over `settings` with a new platform.
    pub async fn start(settings: Settings) -> Result<Target, String> {
        let application = Application::build(settings).map_err(|error| error.to_string())?;
        let services = application.services.clone();
        let created = services
            .create_platform(NewPlatform {
                name: "Load".into(),
                country: "US".into(),
                default_currency: Some("usd".into()),
                policy: Some("marketplace".into()),
            })
            .await
            .map_err(|error| error.to_string())?;
        let platform = PlatformId::parse(&created.id).map_err(|error| error.to_string())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| error.to_string())?;
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = application
                .serve(listener, None, async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                eprintln!("loadgen: the server stopped: {error}");
            }
        });
        Ok(Target {
            url: format!("http://{address}/graphql"),
            key: created.secret_key,
            local: Some((services, platform)),
            server: Some((stop, server)),
        })
    }

    /// A server already running.
    pub fn remote(url: String, key: String) -> Target {
        Target {
            url,
            key,
            local: None,
            server: None,
        }
    }

    /// Stops an in-process server: drains it, stops the writer, flushes, closes the store.
    pub async fn stop(mut self) {
        // The server must hold the last handle to the services to close the store.
        self.local = None;
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            let _ = server.await;
        }
    }
}

/// Sends one GraphQL request; any error in the answer is a failure.
pub async fn call(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let body: Value = client
        .post(url)
        .bearer_auth(key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    if body.get("errors").is_some() {
        return Err(format!("failed: {body}"));
    }
    Ok(body)
}

/// Sends a request whose every write carries an idempotency key, again (up to
/// `attempts` times in all) while the answer says nothing about it: the connection failed,
/// the server timed out (408) or was unavailable (5xx). A repeat returns the first
/// answer's results, as a client of a payments API retries.
pub async fn call_idempotent(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    query: &str,
    variables: Value,
    attempts: usize,
) -> Result<Value, String> {
    let request = json!({"query": query, "variables": variables});
    let mut last_failure = String::new();
    for _ in 0..attempts.max(1) {
        let response = match client
            .post(url)
            .bearer_auth(key)
            .json(&request)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                last_failure = error.to_string();
                continue;
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
            last_failure = format!("HTTP {status}");
            continue;
        }
        let body: Value = response.json().await.map_err(|error| error.to_string())?;
        if body.get("errors").is_some() {
            return Err(format!("failed: {body}"));
        }
        return Ok(body);
    }
    Err(format!(
        "no answer after {attempts} attempts: {last_failure}"
    ))
}

/// A Custom account with CARD_PAYMENTS and TRANSFERS active, made through the API.
pub async fn onboarded_account(
    client: &reqwest::Client,
    url: &str,
    key: &str,
) -> Result<String, String> {
    let created = call(
        client,
        url,
        key,
        "mutation { createAccount(input: {type: CUSTOM, country: \"US\", businessType: INDIVIDUAL}) { id } }",
        json!({}),
    )
    .await?;
    let account = created["data"]["createAccount"]["id"]
        .as_str()
        .ok_or("no account id")?
        .to_owned();
    call(
        client,
        url,
        key,
        "mutation($a: ID!) { submitAccountDetails(input: {account: $a, individual: {firstName: \"Load\", lastName: \"Test\", dobDay: 1, dobMonth: 1, dobYear: 1990, ssnLast4: \"0000\", address: {line1: \"1 Main St\", city: \"Springfield\", postalCode: \"12345\"}}, businessUrl: \"https://load.example\", mcc: \"5734\", tosAcceptance: true}) { id } }",
        json!({"a": account}),
    )
    .await?;
    call(
        client,
        url,
        key,
        "mutation($a: ID!) { addBankAccount(input: {account: $a, country: \"US\", currency: \"usd\", routingNumber: \"110000000\", accountNumber: \"000123456789\"}) { id } }",
        json!({"a": account}),
    )
    .await?;
    Ok(account)
}

/// `count` onboarded accounts, made `SETUP_CONCURRENCY` at a time.
pub async fn onboard(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    count: usize,
) -> Result<Vec<String>, String> {
    let mut accounts = Vec::with_capacity(count);
    while accounts.len() < count {
        let wave = (count - accounts.len()).min(SETUP_CONCURRENCY);
        let made =
            futures::future::join_all((0..wave).map(|_| onboarded_account(client, url, key))).await;
        for account in made {
            accounts.push(account?);
        }
    }
    Ok(accounts)
}

/// Funds the platform's available balance for transfers: charges whose funds are
/// available at once.
pub async fn fund_platform(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    nonce: &str,
) -> Result<(), String> {
    for index in 0..3 {
        call(
            client,
            url,
            key,
            "mutation($key: String!) { createCharge(input: {amount: 99999999, currency: \"usd\", paymentMethod: \"pm_card_bypassPending\", idempotencyKey: $key}) { id } }",
            json!({"key": format!("{nonce}-fund-{index}")}),
        )
        .await?;
    }
    Ok(())
}

/// `count` destination charges (in batches) spread over `accounts`, to refund later.
pub async fn seed_charges(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    accounts: &[String],
    count: usize,
    nonce: &str,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::with_capacity(count);
    let mut batch = 0usize;
    while ids.len() < count {
        let size = (count - ids.len()).min(100);
        let inputs: Vec<Value> = (0..size)
            .map(|index| {
                let destination = &accounts[(batch * 100 + index) % accounts.len()];
                ops::charge_input(&format!("{nonce}-seed-{batch}-{index}"), destination)
            })
            .collect();
        let body = call(client, url, key, ops::BATCH, json!({"inputs": inputs})).await?;
        for result in body["data"]["createCharges"]
            .as_array()
            .ok_or("no results")?
        {
            let id = result["charge"]["id"]
                .as_str()
                .ok_or(format!("seed failed: {result}"))?;
            ids.push(id.to_owned());
        }
        batch += 1;
    }
    Ok(ids)
}
