//! Standalone accounts: an account holder without a platform, its own principal with its
//! own keyspace and secret key, and a platform's settings (`updatePlatform`).
//!
//! A standalone account `acct_X` is a principal record in the keyspace `plat_X` (the same
//! id body), flagged with its [`StandaloneProfile`]. Its key works like a platform's: it
//! charges on its own, holds its own balance and pays out from it. Its `balance` also
//! counts what lies on its connections (the STANDARD accounts that platforms it authorized
//! keep in their own keyspaces): those reads never write, and no commit touches two
//! keyspaces.

use std::collections::BTreeMap;

use super::idempotency::{self, Prepared};
use super::platforms::{parse_country, CreatedPlatform, Principal};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::connections::{
    parse_redirect_uris, standalone_keyspace, StandaloneProfile, MAX_CONNECTIONS_PER_ACCOUNT,
};
use crate::domain::countries::Country;
use crate::domain::email::Email;
use crate::domain::platforms::{parse_name, Platform, MAX_PLATFORM_NAME_CHARS};
use crate::ids::{AccountId, PlatformId};
use crate::ledger::{Bucket, Holder};
use crate::money::{Currency, MinorUnits, Money};
use crate::store::Key;

use super::balances::BalanceView;

/// The index, in a standalone account's keyspace, of the connections it authorized: the
/// connection's account id, with the platform's id as the value.
pub const CONNECTIONS_INDEX: &str = "connections";

/// A parsed `updatePlatform` input: what to change.
#[derive(Debug, Clone, Default)]
pub struct PlatformUpdate {
    pub name: Option<String>,
    pub oauth_redirect_uris: Option<Vec<String>>,
}

impl Services {
    /// Creates a standalone STANDARD account with its own secret key; prints as
    /// `{"id": "acct_…", "secretKey": "sk_…"}`.
    pub async fn create_standalone_account(
        &self,
        email: &str,
        country: &str,
    ) -> Result<CreatedPlatform, ServiceError> {
        let email = Email::parse(email)
            .map_err(|error| ServiceError::invalid("email", error.to_string()))?;
        let country = parse_country(country)?;
        let default_currency = Country::parse(&country)
            .map(|country| country.default_currency())
            .map_err(|error| ServiceError::invalid("country", error.to_string()))?;
        let account: AccountId = self.ids.next();
        let keyspace = standalone_keyspace(&account);
        let name: String = email
            .as_str()
            .chars()
            .take(MAX_PLATFORM_NAME_CHARS)
            .collect();
        let created = self.clock.now(&keyspace);
        self.create_principal(Principal {
            id: keyspace,
            name,
            country,
            default_currency,
            policy: crate::policy::DEFAULT_POLICY_NAME.to_owned(),
            standalone: Some(StandaloneProfile { account, email }),
            created,
        })
        .await
    }

    /// Renames the platform and sets the redirect URIs connect-by-authorization may use.
    pub async fn update_platform(
        &self,
        caller: &Caller,
        update: PlatformUpdate,
    ) -> Result<Platform, ServiceError> {
        caller.require_platform("The platform's settings are the platform's")?;
        let name = update
            .name
            .as_deref()
            .map(parse_name)
            .transpose()
            .map_err(|error| ServiceError::invalid("input.name", error.to_string()))?;
        let uris = update
            .oauth_redirect_uris
            .as_deref()
            .map(parse_redirect_uris)
            .transpose()
            .map_err(|error| ServiceError::invalid("input.oauthRedirectUris", error.to_string()))?;
        let platform_key = caller.platform_key();
        let id = idempotency::run(self, caller, "updatePlatform", None, &(), || {
            let found = self
                .store
                .get_object::<Platform>(&platform_key, &platform_key)?
                .ok_or_else(|| {
                    ServiceError::internal("platform", "the caller's platform is gone")
                })?;
            let mut platform = found.value;
            if let Some(name) = &name {
                platform.name = name.clone();
            }
            if let Some(uris) = &uris {
                platform.oauth_redirect_uris = uris.clone();
            }
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            draft.update(&platform_key, &platform, found.revision)?;
            Ok(Prepared {
                draft,
                object_id: platform_key.clone(),
                error: None,
            })
        })
        .await?;
        self.store
            .get_object::<Platform>(&id, &id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::internal("platform", "missing after commit"))
    }

    /// The connections a standalone account authorized: (connection account, platform).
    pub fn standalone_connections(
        &self,
        holder: &PlatformId,
    ) -> Result<Vec<(AccountId, PlatformId)>, ServiceError> {
        let ids = self.store.scan_index(
            holder.as_ref(),
            CONNECTIONS_INDEX,
            None,
            MAX_CONNECTIONS_PER_ACCOUNT,
        )?;
        let mut connections = Vec::with_capacity(ids.len());
        for id in ids {
            let key = Key::index(holder.as_ref(), CONNECTIONS_INDEX, &id);
            let Some(value) = self.store.get_raw(&key)? else {
                continue;
            };
            let platform = std::str::from_utf8(&value)
                .ok()
                .and_then(|text| PlatformId::parse(text).ok())
                .ok_or_else(|| {
                    ServiceError::internal("connection", format!("{id} names no platform"))
                })?;
            let account = AccountId::parse(&id)
                .map_err(|error| ServiceError::internal("connection", error))?;
            connections.push((account, platform));
        }
        Ok(connections)
    }

    /// A standalone account's balance: its own, plus what lies on its connections.
    pub(super) fn standalone_balance(
        &self,
        holder: &PlatformId,
    ) -> Result<BalanceView, ServiceError> {
        let own = self.balance(&Holder::Platform(holder.clone()))?;
        let mut available = totals(&own.available);
        let mut pending = totals(&own.pending);
        for (connection, _) in self.standalone_connections(holder)? {
            for (ledger_account, amount) in self.store.balances_of(&Holder::Account(connection))? {
                let amount = MinorUnits::new(amount)
                    .map_err(|error| ServiceError::internal("balance", error))?;
                let target = match ledger_account.bucket {
                    Bucket::Available => &mut available,
                    Bucket::Pending => &mut pending,
                };
                let sum = target.entry(ledger_account.currency).or_default();
                *sum = sum
                    .checked_add(amount)
                    .map_err(|error| ServiceError::internal("balance", error))?;
            }
        }
        for currency in available
            .keys()
            .chain(pending.keys())
            .copied()
            .collect::<Vec<_>>()
        {
            available.entry(currency).or_default();
            pending.entry(currency).or_default();
        }
        Ok(BalanceView {
            available: to_list(&available),
            pending: to_list(&pending),
            reserved: own.reserved,
            instant_available: own.instant_available,
        })
    }
}

fn totals(list: &[Money]) -> BTreeMap<Currency, MinorUnits> {
    list.iter()
        .map(|money| (money.currency, money.amount))
        .collect()
}

fn to_list(map: &BTreeMap<Currency, MinorUnits>) -> Vec<Money> {
    map.iter()
        .map(|(currency, amount)| Money::new(*amount, *currency))
        .collect()
}
