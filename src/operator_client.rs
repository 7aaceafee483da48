//! The command line's side of the operator API: `platform create`, `account create`, `verify`
//! and `backup`
//! against a running server (`--server URL --operator-key KEY`).

use std::path::Path;

use serde_json::{json, Value};

/// The operator API of one server.
pub struct OperatorClient {
    base_url: String,
    key: String,
    client: reqwest::Client,
}

/// A platform made through the operator API.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedPlatform {
    pub id: String,
    pub secret_key: String,
}

const CREATE_PLATFORM: &str =
    "mutation($input: CreatePlatformInput!) { createPlatform(input: $input) { id secretKey } }";
const CREATE_STANDALONE_ACCOUNT: &str = "mutation($input: CreateStandaloneAccountInput!) { createStandaloneAccount(input: $input) { id secretKey } }";
const VERIFY_LEDGER: &str =
    "{ verifyLedger { balanced entries totals { currency debits credits } violations } }";

impl OperatorClient {
    pub fn new(server: &str, key: &str) -> OperatorClient {
        OperatorClient {
            base_url: server.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, String> {
        let url = format!("{}/operator/graphql", self.base_url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|error| format!("could not reach {url}: {error}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {}", text.trim()));
        }
        let body: Value = serde_json::from_str(&text).map_err(|error| format!("{url}: {error}"))?;
        if let Some(error) = body["errors"].as_array().and_then(|errors| errors.first()) {
            let message = error["message"].as_str().unwrap_or("unknown error");
            return Err(match error["extensions"]["code"].as_str() {
                Some(code) => format!("{code}: {message}"),
                None => message.to_owned(),
            });
        }
        Ok(body["data"].clone())
    }

    pub async fn create_platform(
        &self,
        name: &str,
        country: &str,
        default_currency: Option<&str>,
        policy: Option<&str>,
    ) -> Result<CreatedPlatform, String> {
        let data = self
            .graphql(
                CREATE_PLATFORM,
                json!({"input": {"name": name, "country": country,
                                 "defaultCurrency": default_currency, "policy": policy}}),
            )
            .await?;
        let field = |name: &str| {
            data["createPlatform"][name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the server's answer has no {name}"))
        };
        Ok(CreatedPlatform {
            id: field("id")?,
            secret_key: field("secretKey")?,
        })
    }

    pub async fn create_standalone_account(
        &self,
        email: &str,
        country: &str,
    ) -> Result<CreatedPlatform, String> {
        let data = self
            .graphql(
                CREATE_STANDALONE_ACCOUNT,
                json!({"input": {"email": email, "country": country}}),
            )
            .await?;
        let field = |name: &str| {
            data["createStandaloneAccount"][name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the server's answer has no {name}"))
        };
        Ok(CreatedPlatform {
            id: field("id")?,
            secret_key: field("secretKey")?,
        })
    }

    /// The server's `verifyLedger` answer.
    pub async fn verify(&self) -> Result<Value, String> {
        Ok(self.graphql(VERIFY_LEDGER, json!({})).await?["verifyLedger"].clone())
    }

    /// Downloads a snapshot into `path` (through a temporary file renamed when complete and
    /// checked); returns its record count.
    pub async fn backup_to(&self, path: &Path) -> Result<u64, String> {
        use std::io::Write;
        let url = format!("{}/operator/backup", self.base_url);
        let mut response = self
            .client
            .get(&url)
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|error| format!("could not reach {url}: {error}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("{url} answered {status}: {}", text.trim()));
        }
        let partial = path.with_extension("partial");
        let mut file = std::fs::File::create(&partial)
            .map_err(|error| format!("could not write {}: {error}", partial.display()))?;
        let written: Result<(), String> = async {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| format!("the download broke off: {error}"))?
            {
                file.write_all(&chunk)
                    .map_err(|error| format!("could not write {}: {error}", partial.display()))?;
            }
            file.sync_all()
                .map_err(|error| format!("could not write {}: {error}", partial.display()))
        }
        .await;
        let checked = written.and_then(|()| {
            let mut reader = std::io::BufReader::new(
                std::fs::File::open(&partial).map_err(|error| error.to_string())?,
            );
            crate::store::backup::check(&mut reader)
                .map_err(|error| format!("the backup is not complete: {error}"))
        });
        match checked {
            Ok(records) => {
                std::fs::rename(&partial, path)
                    .map_err(|error| format!("could not write {}: {error}", path.display()))?;
                Ok(records)
            }
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                Err(error)
            }
        }
    }
}
