//! API keys: who a presented key belongs to (a platform's secret key, or a restricted key
//! with its limits), restricted keys (create, list, revoke) and rotating the secret key.
//!
//! Only hashes of keys are stored, under `s<key id>`: the key's id is in the key itself
//! (`sk_<body>_<secret>` is found under `skid_<body>`, `rk_<body>_<secret>` under
//! `rkid_<body>`), so a presented key is one read and a constant-time comparison away.

use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::idempotency::{self, Prepared};
use super::{Caller, Draft, Owner, Page, PageRequest, Scoped, ServiceError, Services};
use crate::domain::api_keys::{
    keys_ended_by_rotation, KeyPermission, RestrictedKey, MAX_PREVIOUS_SECRET_KEYS,
    MAX_RESTRICTED_KEYS_PER_PLATFORM,
};
use crate::domain::platforms::Platform;
use crate::ids::{
    check_id, AccountId, PlatformId, RestrictedKeyId, SecretKeyId, TypedId, BODY_CHARS,
};
use crate::store::{from_payload, to_payload, Key, Keyspace};

/// The secret part of a key, in random bytes.
const SECRET_BYTES: usize = 24;
/// The index of a platform's restricted keys.
pub const RESTRICTED_KEYS_INDEX: &str = "restricted_keys";
/// The index of a platform's rotated secret keys that may still be inside their overlap.
const RETIRED_KEYS_INDEX: &str = "retired_secret_keys";

/// What is stored for a key: the platform, the SHA-256 of the whole key, when it stops
/// working (a rotated secret key), and what a restricted key may do.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct KeyRecord {
    platform: PlatformId,
    key_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restriction: Option<Restriction>,
}

/// The limits of a restricted key.
#[derive(Clone, Serialize, Deserialize)]
struct Restriction {
    account: Option<AccountId>,
    read_only: bool,
}

/// Who a presented key belongs to, and what it may do.
#[derive(Clone, Debug)]
pub struct Credential {
    pub platform: Platform,
    /// The account every request made with the key acts as.
    pub account: Option<AccountId>,
    pub read_only: bool,
}

/// A new key and the record that stores its hash.
pub(super) struct NewKey {
    pub(super) secret: String,
    pub(super) record: Vec<u8>,
}

/// What `createRestrictedKey` returns: the key, and its secret (shown this once).
pub struct CreatedRestrictedKey {
    pub key: RestrictedKey,
    pub secret: String,
}

/// What `rotateSecretKey` returns.
pub struct SecretKeyRotation {
    pub secret_key: String,
    pub previous_key_expires_at: DateTime<Utc>,
}

impl Scoped for RestrictedKey {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn unauthenticated() -> ServiceError {
    ServiceError::Unauthenticated {
        message: "Invalid API key provided: send 'Authorization: Bearer sk_…' with a platform's secret key (or a restricted key, rk_…)".into(),
    }
}

/// `<kind>_<id body>_<random hex>`, with the record of its hash.
fn new_key<Id: TypedId>(
    kind: &str,
    id: &Id,
    platform: &PlatformId,
    restriction: Option<Restriction>,
) -> Result<NewKey, ServiceError> {
    let mut random = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut random);
    let body = id.as_str().split_once('_').map_or("", |(_, body)| body);
    let secret = format!("{kind}_{body}_{}", hex::encode(random));
    let record = KeyRecord {
        platform: platform.clone(),
        key_sha256: sha256_hex(&secret),
        expires_at: None,
        restriction,
    };
    Ok(NewKey {
        secret,
        record: to_payload(&record)?,
    })
}

/// A new secret key for a platform, with the record of its hash.
pub(super) fn new_secret_key(
    id: &SecretKeyId,
    platform: &PlatformId,
) -> Result<NewKey, ServiceError> {
    new_key("sk", id, platform, None)
}

impl Services {
    /// Finds who a presented key belongs to, comparing hashes in constant time. An unknown,
    /// revoked or expired key is refused alike.
    pub fn authenticate_key(&self, presented: &str) -> Result<Credential, ServiceError> {
        let (prefix, rest) = match presented.split_once('_') {
            Some(("sk", rest)) => (SecretKeyId::PREFIX, rest),
            Some(("rk", rest)) => (RestrictedKeyId::PREFIX, rest),
            _ => return Err(unauthenticated()),
        };
        let body = rest.get(..BODY_CHARS).ok_or_else(unauthenticated)?;
        let key_id = format!("{prefix}_{body}");
        check_id(&key_id, prefix, "API key").map_err(|_| unauthenticated())?;
        let epoch = self.store.credentials_epoch();
        let started = Instant::now();
        let cached = self.key_cache.get(&key_id, epoch, started);
        let (record, platform) = match cached {
            Some(cached) => cached,
            None => {
                let Some(bytes) = self
                    .store
                    .get_raw(&Key::new(Keyspace::SecretKey, &key_id))?
                else {
                    return Err(unauthenticated());
                };
                let record: KeyRecord = from_payload(&bytes)?;
                let platform_id = record.platform.to_string();
                let platform = self
                    .store
                    .get_object::<Platform>(&platform_id, &platform_id)?
                    .map(|versioned| versioned.value)
                    .ok_or_else(unauthenticated)?;
                self.key_cache
                    .put(&key_id, record.clone(), platform.clone(), epoch, started);
                (record, platform)
            }
        };
        let presented_sha256 = sha256_hex(presented);
        if !bool::from(
            presented_sha256
                .as_bytes()
                .ct_eq(record.key_sha256.as_bytes()),
        ) {
            return Err(unauthenticated());
        }
        let restricted = prefix == RestrictedKeyId::PREFIX;
        if restricted != record.restriction.is_some() {
            return Err(unauthenticated());
        }
        if let Some(expires_at) = record.expires_at {
            if self.clock.now(&record.platform) >= expires_at {
                return Err(unauthenticated());
            }
        }
        let restriction = record.restriction.unwrap_or(Restriction {
            account: None,
            read_only: false,
        });
        Ok(Credential {
            platform,
            account: restriction.account,
            read_only: restriction.read_only,
        })
    }

    /// The caller for a request made with `credential`. A key bound to an account acts as
    /// that account; naming another in Connect-Account is FORBIDDEN.
    pub fn caller_for(
        &self,
        credential: Credential,
        connect_account: Option<&str>,
        access: super::Access,
    ) -> Result<Caller, ServiceError> {
        let acting_as = match (&credential.account, connect_account) {
            (None, named) => named.map(str::to_owned),
            (Some(bound), None) => Some(bound.to_string()),
            (Some(bound), Some(named)) if named.trim() == bound.as_str() => Some(bound.to_string()),
            (Some(bound), Some(named)) => {
                return Err(ServiceError::forbidden(
                    Some("Connect-Account"),
                    format!(
                        "This key is bound to {bound} and acts only as that account, not as '{}': send Connect-Account: {bound} or no Connect-Account header",
                        named.chars().take(64).collect::<String>()
                    ),
                ))
            }
        };
        let mut caller = self.caller(credential.platform, acting_as.as_deref(), access)?;
        caller.read_only |= credential.read_only;
        Ok(caller)
    }

    /// A new restricted key; its secret is returned this once and only its hash is kept.
    pub async fn create_restricted_key(
        &self,
        caller: &Caller,
        name: &str,
        account: Option<AccountId>,
        permissions: &[KeyPermission],
    ) -> Result<CreatedRestrictedKey, ServiceError> {
        caller.require_platform("Restricted keys are made by the platform")?;
        if let Some(account) = &account {
            self.account_named(caller, account, "input.account")?;
        }
        let now = self.clock.now(&caller.platform.id);
        let id: RestrictedKeyId = self.ids.next();
        let key =
            RestrictedKey::new(id.clone(), name, account, permissions, now).map_err(|error| {
                ServiceError::invalid(format!("input.{}", error.param()), error.to_string())
            })?;
        let platform = caller.platform_key();
        let held = self.store.scan_index(
            &platform,
            RESTRICTED_KEYS_INDEX,
            None,
            MAX_RESTRICTED_KEYS_PER_PLATFORM,
        )?;
        if held.len() >= MAX_RESTRICTED_KEYS_PER_PLATFORM {
            let error = crate::domain::api_keys::ApiKeyError::TooManyKeys;
            return Err(ServiceError::invalid(
                format!("input.{}", error.param()),
                error.to_string(),
            ));
        }
        let new = new_key(
            "rk",
            &id,
            &caller.platform.id,
            Some(Restriction {
                account: key.account().cloned(),
                read_only: key.read_only(),
            }),
        )?;
        idempotency::run(self, caller, "createRestrictedKey", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, now);
            draft.insert(id.as_ref(), &key, &[RESTRICTED_KEYS_INDEX.to_owned()])?;
            draft.raw(
                Key::new(Keyspace::SecretKey, id.as_ref()),
                new.record.clone(),
            );
            Ok(Prepared {
                draft,
                object_id: id.to_string(),
                error: None,
            })
        })
        .await?;
        Ok(CreatedRestrictedKey {
            key,
            secret: new.secret,
        })
    }

    /// The platform's restricted keys, newest first (a request acting as an account sees none).
    pub fn restricted_keys(
        &self,
        caller: &Caller,
        request: &PageRequest,
    ) -> Result<Page<RestrictedKey>, ServiceError> {
        self.page(caller, RESTRICTED_KEYS_INDEX, request)
    }

    /// Ends a restricted key: from now on it is refused like a key that never existed.
    pub async fn revoke_restricted_key(
        &self,
        caller: &Caller,
        id: &RestrictedKeyId,
    ) -> Result<RestrictedKey, ServiceError> {
        caller.require_platform("Restricted keys are revoked by the platform")?;
        let platform = caller.platform_key();
        let mut revoked = None;
        idempotency::run(self, caller, "revokeRestrictedKey", None, &(), || {
            let found = self.find_required::<RestrictedKey>(
                caller,
                id.as_ref(),
                "input.id",
                "restricted key",
            )?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            // Only its current revision may be deleted, so a concurrent revoke is retried.
            draft.update(id.as_ref(), &found.value, found.revision)?;
            draft.delete(Key::object(&platform, id.as_ref()));
            draft.delete(Key::index(&platform, RESTRICTED_KEYS_INDEX, id.as_ref()));
            draft.delete(Key::new(Keyspace::SecretKey, id.as_ref()));
            revoked = Some(found.value);
            Ok(Prepared {
                draft,
                object_id: id.to_string(),
                error: None,
            })
        })
        .await?;
        revoked.ok_or_else(|| ServiceError::internal("revokeRestrictedKey", "nothing revoked"))
    }

    /// A new secret key for the platform. The key in use keeps working for the configured
    /// overlap (on the platform's clock); earlier rotated keys keep their own expiry, but at
    /// most `MAX_PREVIOUS_SECRET_KEYS` stay alive: the oldest beyond that ends now.
    pub async fn rotate_secret_key(
        &self,
        caller: &Caller,
    ) -> Result<SecretKeyRotation, ServiceError> {
        caller.require_platform("Rotating the platform's secret key")?;
        let platform_key = caller.platform_key();
        let new_id: SecretKeyId = self.ids.next();
        let new = new_secret_key(&new_id, &caller.platform.id)?;
        let mut previous_key_expires_at = None;
        idempotency::run(self, caller, "rotateSecretKey", None, &(), || {
            let now = self.clock.now(&caller.platform.id);
            let found = self
                .store
                .get_object::<Platform>(&platform_key, &platform_key)?
                .ok_or_else(|| ServiceError::internal("rotateSecretKey", "no platform"))?;
            let current = found.value.secret_key.clone();
            let mut draft = Draft::new(&caller.platform.id, now);
            self.retire_earlier_keys(&mut draft, &platform_key, now)?;
            let expires_at = self.settings.key_rotation_overlap.expiry(now);
            let current_key = Key::new(Keyspace::SecretKey, current.as_ref());
            let mut record: KeyRecord = match self.store.get_raw(&current_key)? {
                Some(bytes) => from_payload(&bytes)?,
                None => return Err(ServiceError::internal("rotateSecretKey", "no current key")),
            };
            record.expires_at = Some(expires_at);
            draft.raw(current_key, to_payload(&record)?);
            draft.index(RETIRED_KEYS_INDEX, current.as_ref());
            draft.raw(
                Key::new(Keyspace::SecretKey, new_id.as_ref()),
                new.record.clone(),
            );
            let rotated = Platform {
                secret_key: new_id.clone(),
                ..found.value.clone()
            };
            draft.update(&platform_key, &rotated, found.revision)?;
            previous_key_expires_at = Some(expires_at);
            Ok(Prepared {
                draft,
                object_id: platform_key.clone(),
                error: None,
            })
        })
        .await?;
        let previous_key_expires_at = previous_key_expires_at
            .ok_or_else(|| ServiceError::internal("rotateSecretKey", "not rotated"))?;
        Ok(SecretKeyRotation {
            secret_key: new.secret,
            previous_key_expires_at,
        })
    }

    /// Forgets rotated keys whose overlap is over, and ends the oldest still alive beyond
    /// the bound (the key being retired now counts as one of them).
    fn retire_earlier_keys(
        &self,
        draft: &mut Draft,
        platform_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let mut retired = self.store.scan_index(
            platform_key,
            RETIRED_KEYS_INDEX,
            None,
            MAX_PREVIOUS_SECRET_KEYS + 1,
        )?;
        // Newest first from the index; the rule wants the oldest first.
        retired.reverse();
        let mut alive = Vec::with_capacity(retired.len());
        for id in retired {
            let key = Key::new(Keyspace::SecretKey, &id);
            let expires_at = match self.store.get_raw(&key)? {
                Some(bytes) => from_payload::<KeyRecord>(&bytes)?.expires_at,
                None => None,
            };
            match expires_at {
                Some(expires_at) if expires_at > now => alive.push((id, expires_at)),
                _ => forget_key(draft, platform_key, &id),
            }
        }
        for id in keys_ended_by_rotation(&alive, now) {
            forget_key(draft, platform_key, &id);
        }
        Ok(())
    }
}

fn forget_key(draft: &mut Draft, platform_key: &str, id: &str) {
    draft.delete(Key::new(Keyspace::SecretKey, id));
    draft.delete(Key::index(platform_key, RETIRED_KEYS_INDEX, id));
}
