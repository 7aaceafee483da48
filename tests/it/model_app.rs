//! An in-process server for the model-based test: the real services, writer and store over a
//! data directory, GraphQL executed without HTTP, and restarts that reopen the same store.

use std::path::{Path, PathBuf};

use async_graphql::{Request, Variables};
use serde_json::{json, Value};

use tollgate::app::Application;
use tollgate::config::Settings;
use tollgate::graphql::{build_schema, TollgateSchema};
use tollgate::ledger::{Bucket, Holder};
use tollgate::service::platforms::NewPlatform;
use tollgate::service::{Access, AppState};
use tollgate::store::StoreUrl;

/// The test's own scratch space: RAM when the machine has /dev/shm, since durability is
/// what the crash test proves, not this one.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("tollgate-model-")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().expect("temp dir")
}

/// How long a restart waits for the closed store's lock to be released.
const REOPEN_ATTEMPTS: u32 = 500;
const REOPEN_RETRY_MILLISECONDS: u64 = 10;

/// A running application with one platform, driven through its schema.
pub struct ModelApp {
    application: Option<Application>,
    schema: Option<TollgateSchema>,
    data_dir: PathBuf,
    policies_dir: PathBuf,
    store: Option<StoreUrl>,
    secret_key: String,
    pub platform_id: String,
}

fn settings(data_dir: PathBuf, policies_dir: PathBuf, store: Option<StoreUrl>) -> Settings {
    Settings {
        simulated_clock: true,
        store,
        ..Settings::new(data_dir, policies_dir)
    }
}

impl ModelApp {
    /// Opens a new store (in `data_dir`, or `store`) and creates a platform priced by
    /// `policy`.
    pub async fn start(
        data_dir: PathBuf,
        store: Option<StoreUrl>,
        policies_dir: PathBuf,
        policy: &str,
    ) -> ModelApp {
        let application = Application::build(settings(
            data_dir.clone(),
            policies_dir.clone(),
            store.clone(),
        ))
        .expect("build application");
        let created = application
            .services
            .create_platform(NewPlatform {
                name: "Model Platform".into(),
                country: "US".into(),
                default_currency: Some("usd".into()),
                policy: Some(policy.to_owned()),
            })
            .await
            .expect("create platform");
        let schema = build_schema(Some(application.services.clone()));
        ModelApp {
            application: Some(application),
            schema: Some(schema),
            data_dir,
            policies_dir,
            store,
            secret_key: created.secret_key,
            platform_id: created.id,
        }
    }

    pub fn services(&self) -> &AppState {
        &self.application.as_ref().expect("running").services
    }

    /// Stops the writer after its last flush and closes the store.
    pub async fn stop(&mut self) {
        self.schema = None;
        if let Some(application) = self.application.take() {
            application.close().await;
        }
    }

    /// Stops, then opens the same store again, as a server restart does. The storage
    /// engine's background threads let go of the directory's lock a little after it is
    /// closed, so opening is retried for a bounded time while the lock is still held.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut attempts = 0;
        let application = loop {
            match Application::build(settings(
                self.data_dir.clone(),
                self.policies_dir.clone(),
                self.store.clone(),
            )) {
                Ok(application) => break application,
                Err(error) if attempts < REOPEN_ATTEMPTS && error.to_string().contains("lock") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(REOPEN_RETRY_MILLISECONDS))
                        .await;
                }
                Err(error) => panic!("reopen application: {error}"),
            }
        };
        self.schema = Some(build_schema(Some(application.services.clone())));
        self.application = Some(application);
    }

    /// Runs one GraphQL request as the platform, or as one of its accounts.
    pub async fn graphql_as(
        &self,
        connect_account: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let services = self.services();
        let platform = services
            .authenticate(&self.secret_key)
            .expect("authenticate");
        // As the HTTP layer does: a mutation changes, anything else reads.
        let access = if query.trim_start().starts_with("mutation") {
            Access::Change
        } else {
            Access::Read
        };
        let caller = services
            .caller(platform, connect_account, access)
            .expect("caller");
        let request = Request::new(query)
            .variables(Variables::from_json(variables))
            .data(caller);
        let response = self
            .schema
            .as_ref()
            .expect("running")
            .execute(request)
            .await;
        serde_json::to_value(&response).expect("response as json")
    }

    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(None, query, variables).await
    }

    /// Every stored balance of the store, keyed `holder/currency/bucket`.
    pub fn stored_balances(&self) -> Vec<(String, Holder, Bucket, i64)> {
        self.services()
            .store
            .all_balances()
            .expect("balances")
            .into_iter()
            .map(|(account, amount)| (account.key(), account.holder, account.bucket, amount))
            .collect()
    }

    /// The platform's balance as the API shows it: (available, pending, reserved) in usd.
    pub async fn platform_balance(&self) -> (i64, i64, i64) {
        let body = self
            .graphql(
                "{ balance { available { amount currency } pending { amount currency } reserved { amount currency } } }",
                json!({}),
            )
            .await;
        let pick = |bucket: &str| {
            body["data"]["balance"][bucket]
                .as_array()
                .unwrap_or_else(|| panic!("balance: {body}"))
                .iter()
                .find(|money| money["currency"] == "usd")
                .map_or(0, |money| money["amount"].as_i64().expect("amount"))
        };
        (pick("available"), pick("pending"), pick("reserved"))
    }
}

/// The `extensions.code` of a response's first error, if any.
pub fn error_code(body: &Value) -> Option<String> {
    body.get("errors")
        .and_then(|errors| errors.get(0))
        .map(|error| {
            error["extensions"]["code"]
                .as_str()
                .unwrap_or("NO_CODE")
                .to_owned()
        })
}
