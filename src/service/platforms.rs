//! Platforms: creation with a secret key (only its hash is kept; see `api_keys.rs` for
//! authentication and rotation), and the caller a request acts as.

use serde::Serialize;

use super::api_keys::new_secret_key;
use super::{Access, Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::platforms::{parse_name, parse_policy_name, Platform};
use crate::ids::{AccountId, PlatformId, SecretKeyId, TypedId};
use crate::money::Currency;
use crate::store::{Applied, Key, Keyspace};

/// The meta key under which the demo platform's id is kept.
pub const DEMO_PLATFORM_META: &str = "demo_platform";

/// What `platform create` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedPlatform {
    pub id: String,
    pub secret_key: String,
}

/// A principal to write: a platform, or a standalone account's own record.
pub(super) struct Principal {
    pub id: PlatformId,
    pub name: String,
    pub country: String,
    pub default_currency: Currency,
    pub policy: String,
    pub standalone: Option<crate::domain::connections::StandaloneProfile>,
    pub created: chrono::DateTime<chrono::Utc>,
}

pub struct NewPlatform {
    pub name: String,
    pub country: String,
    pub default_currency: Option<String>,
    pub policy: Option<String>,
}

/// Two-letter uppercase country code; the accounts rules check it against the supported table.
pub(super) fn parse_country(country: &str) -> Result<String, ServiceError> {
    crate::domain::countries::Country::parse(country)
        .map(|country| country.code().to_owned())
        .map_err(|error| ServiceError::invalid("country", error.to_string()))
}

impl Services {
    pub async fn create_platform(&self, new: NewPlatform) -> Result<CreatedPlatform, ServiceError> {
        let name = parse_name(&new.name)
            .map_err(|error| ServiceError::invalid("name", error.to_string()))?;
        let country = parse_country(&new.country)?;
        let default_currency = match new.default_currency.as_deref() {
            Some(code) => Currency::parse(code)
                .map_err(|error| ServiceError::money("default_currency", error))?,
            None => crate::domain::countries::Country::parse(&country)
                .map(|country| country.default_currency())
                .map_err(|error| ServiceError::invalid("country", error.to_string()))?,
        };
        let policy = parse_policy_name(
            new.policy
                .as_deref()
                .unwrap_or(crate::policy::DEFAULT_POLICY_NAME),
        )
        .map_err(|error| ServiceError::invalid("policy", error.to_string()))?;
        if !self.policies.contains(&policy) {
            return Err(ServiceError::invalid(
                "policy",
                format!(
                    "There is no policy '{policy}' in {}",
                    self.policies.policy_dir().display()
                ),
            ));
        }
        let platform_id: PlatformId = self.ids.next();
        let now = self.clock.now(&platform_id);
        self.create_principal(Principal {
            id: platform_id,
            name,
            country,
            default_currency,
            policy,
            standalone: None,
            created: now,
        })
        .await
    }

    /// Writes a principal (a platform, or a standalone account's own record) with a new
    /// secret key, its clock and its place in the server's list of platforms.
    pub(super) async fn create_principal(
        &self,
        principal: Principal,
    ) -> Result<CreatedPlatform, ServiceError> {
        let Principal {
            id,
            name,
            country,
            default_currency,
            policy,
            standalone,
            created: now,
        } = principal;
        let secret_key_id: SecretKeyId = self.ids.next();
        let new_key = new_secret_key(&secret_key_id, &id)?;
        let shown_id = standalone
            .as_ref()
            .map_or_else(|| id.to_string(), |profile| profile.account.to_string());
        let platform = Platform {
            id,
            name,
            country,
            default_currency,
            policy,
            secret_key: secret_key_id.clone(),
            created: now,
            oauth_redirect_uris: Vec::new(),
            standalone,
        };
        let mut draft = Draft::new(&platform.id, now);
        let platform_id = platform.id.to_string();
        draft.insert(&platform_id, &platform, &[])?;
        if self.clock.is_simulated() {
            // The platform's own simulated clock starts here, survives restarts and is read
            // by every server over the store.
            draft.record(
                crate::clock::platform_clock_key(&platform.id),
                &now.timestamp_micros(),
                crate::store::Expect::Absent,
            )?;
        }
        // The server's own list of platforms (not any platform's): policy changes reach
        // every platform that uses the changed policy through it.
        draft.raw(
            Key::index("", super::policies::PLATFORMS_INDEX, &platform_id),
            Vec::new(),
        );
        draft.raw(
            Key::new(Keyspace::SecretKey, secret_key_id.as_str()),
            new_key.record,
        );
        match self.store.commit(draft.commit).await? {
            Applied::Committed => Ok(CreatedPlatform {
                id: shown_id,
                secret_key: new_key.secret,
            }),
            Applied::Replayed { .. } => {
                Err(ServiceError::internal("platform", "unexpected replay"))
            }
        }
    }

    /// The platform whose secret key this is; a restricted key is refused here (requests
    /// authenticate with [`Services::authenticate_key`], which knows its limits).
    pub fn authenticate(&self, secret_key: &str) -> Result<Platform, ServiceError> {
        let credential = self.authenticate_key(secret_key)?;
        if credential.read_only || credential.account.is_some() {
            return Err(ServiceError::Unauthenticated {
                message: "A restricted key cannot be used here: use the platform's secret key"
                    .into(),
            });
        }
        Ok(credential.platform)
    }

    /// The caller for a request: the platform of the key, the `Connect-Account` it names
    /// (which must be one of that platform's accounts), and whether the request changes
    /// anything.
    pub fn caller(
        &self,
        platform: Platform,
        connect_account: Option<&str>,
        access: Access,
    ) -> Result<Caller, ServiceError> {
        let mut read_only = false;
        let connect_account = match connect_account {
            None => None,
            Some(given) => {
                let account = AccountId::parse(given.trim()).map_err(|error| {
                    ServiceError::invalid(
                        "Connect-Account",
                        format!("Invalid Connect-Account header: {error}"),
                    )
                })?;
                let record = self
                    .store
                    .get_object::<AccountRecord>(platform.id.as_str(), account.as_str())?
                    .filter(|found| !found.value.is_disconnected());
                let Some(record) = record else {
                    return Err(ServiceError::not_found(
                        "Connect-Account",
                        "account",
                        account.as_str(),
                    ));
                };
                read_only = record.value.is_read_only();
                Some(account)
            }
        };
        if read_only && access == Access::Change {
            return Err(ServiceError::forbidden(
                Some("Connect-Account"),
                "The account was connected with the read_only scope: the platform may read it but change nothing",
            ));
        }
        Ok(Caller {
            platform,
            connect_account,
            access,
            read_only,
        })
    }

    /// A platform by its id, for commands that name one.
    pub fn platform_by_id(&self, id: &PlatformId) -> Result<Option<Platform>, ServiceError> {
        Ok(self
            .store
            .get_object::<Platform>(id.as_ref(), id.as_ref())?
            .map(|versioned| versioned.value))
    }

    /// The demo platform's id, if `serve --demo` made one.
    pub fn demo_platform(&self) -> Result<Option<PlatformId>, ServiceError> {
        let Some(bytes) = self
            .store
            .get_raw(&Key::new(Keyspace::Meta, DEMO_PLATFORM_META))?
        else {
            return Ok(None);
        };
        Ok(Some(crate::store::from_payload(&bytes)?))
    }
}
