//! Connect-by-authorization: a standalone account authorizes a platform on the hosted
//! page, the platform redeems the code (`connectAccount`), and either side ends the
//! connection (`disconnectAccount`, `revokePlatform`).
//!
//! Every step is one commit in one keyspace. Approving writes the connection into the
//! holder's index, then the code into the platform's keyspace; redeeming the code writes
//! the connection's STANDARD account record in the platform's keyspace, under an id of its
//! own, so the platform's charges through it are booked in the platform's own ledger and
//! each platform sees only what it made.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::accounts::account_indexes;
use super::idempotency::{self, Prepared};
use super::standalone::CONNECTIONS_INDEX;
use super::{Access, Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::accounts::{AccountType, NewAccount, NewAccountInput};
use crate::domain::connections::{
    parse_state, standalone_keyspace, AuthorizationCode, CodeRefusal, ConnectError, Connection,
    ConnectionScope, MAX_CONNECTIONS_PER_ACCOUNT,
};
use crate::domain::countries::Country;
use crate::domain::platforms::Platform;
use crate::ids::{check_id, AccountId, AuthorizationCodeId, PlatformId, TypedId, BODY_CHARS};
use crate::store::{Applied, Key};

/// Random bytes in the secret half of an authorization code.
const CODE_SECRET_BYTES: usize = 24;
/// The longest code accepted by `connectAccount`.
const MAX_CODE_CHARS: usize = 100;

pub const EVENT_AUTHORIZED: &str = "account.application.authorized";
pub const EVENT_DEAUTHORIZED: &str = "account.application.deauthorized";

/// What the authorization page asks for, checked: the platform, the scope, where to go back.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub platform: Platform,
    pub scope: ConnectionScope,
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// The query of `GET /connect/authorize`, as given.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizationParams {
    pub client_id: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub redirect_uri: Option<String>,
}

/// The data of `account.application.*` events: the platform (Stripe's "application").
#[derive(Debug, Clone, Serialize)]
struct ApplicationView<'a> {
    id: &'a PlatformId,
    name: &'a str,
    scope: &'static str,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn connect_error(param: &str, error: ConnectError) -> ServiceError {
    ServiceError::invalid(param, error.to_string())
}

/// Adds the query parameters to the redirect URI.
fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Result<String, ServiceError> {
    let mut url = url::Url::parse(redirect_uri)
        .map_err(|error| ServiceError::internal("redirect uri", error))?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    Ok(url.to_string())
}

impl Services {
    /// Checks what the authorization page was asked: any error is shown on the page,
    /// never sent to the redirect URI (it may not be the platform's).
    pub fn authorization_request(
        &self,
        params: &AuthorizationParams,
    ) -> Result<AuthorizationRequest, ServiceError> {
        let client_id = params.client_id.as_deref().unwrap_or_default();
        let unknown = || ServiceError::not_found("client_id", "platform", client_id);
        let platform_id = PlatformId::parse(client_id).map_err(|_| unknown())?;
        let platform = self
            .platform_by_id(&platform_id)?
            .filter(|platform| platform.standalone.is_none())
            .ok_or_else(unknown)?;
        if params.response_type.as_deref() != Some("code") {
            return Err(connect_error(
                "response_type",
                ConnectError::BadResponseType,
            ));
        }
        let scope = ConnectionScope::parse(params.scope.as_deref().unwrap_or("read_only"))
            .map_err(|error| connect_error("scope", error))?;
        let state =
            parse_state(params.state.as_deref()).map_err(|error| connect_error("state", error))?;
        let redirect_uri = match params.redirect_uri.as_deref() {
            Some(given) => platform
                .oauth_redirect_uris
                .iter()
                .find(|registered| registered.as_str() == given)
                .cloned()
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "redirect_uri",
                        "redirect_uri is not one of the platform's registered redirect URIs",
                    )
                })?,
            None => platform.oauth_redirect_uris.first().cloned().ok_or_else(|| {
                ServiceError::invalid(
                    "redirect_uri",
                    "The platform has registered no redirect URI (updatePlatform oauthRedirectUris)",
                )
            })?,
        };
        Ok(AuthorizationRequest {
            platform,
            scope,
            redirect_uri,
            state,
        })
    }

    /// The holder refused: back to the platform with `error=access_denied`.
    pub fn deny_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<String, ServiceError> {
        let mut pairs = vec![
            ("error", "access_denied"),
            ("error_description", "The user denied your request"),
        ];
        if let Some(state) = &request.state {
            pairs.push(("state", state));
        }
        redirect_to(&request.redirect_uri, &pairs)
    }

    /// The holder signed in with its key and approved: records the connection on the
    /// holder's side, then the code on the platform's, and answers where to send the browser.
    pub async fn approve_authorization(
        &self,
        request: &AuthorizationRequest,
        secret_key: &str,
    ) -> Result<String, ServiceError> {
        let holder = self.authenticate(secret_key.trim())?;
        let Some(profile) = holder.standalone.clone() else {
            return Err(ServiceError::Unauthenticated {
                message:
                    "That is a platform's key: sign in with your standalone account's secret key"
                        .into(),
            });
        };
        if self.standalone_connections(&holder.id)?.len() >= MAX_CONNECTIONS_PER_ACCOUNT {
            return Err(ServiceError::invalid(
                "client_id",
                format!("An account may authorize at most {MAX_CONNECTIONS_PER_ACCOUNT} platforms"),
            ));
        }
        let connection: AccountId = self.ids.next();
        let mut on_holder = Draft::new(&holder.id, self.clock.now(&holder.id));
        on_holder.raw(
            Key::index(holder.id.as_ref(), CONNECTIONS_INDEX, connection.as_ref()),
            request.platform.id.as_str().as_bytes().to_vec(),
        );
        self.commit_plain(on_holder).await?;
        let code_id: AuthorizationCodeId = self.ids.next();
        let mut secret = [0u8; CODE_SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut secret);
        let code = format!("{code_id}_{}", hex::encode(secret));
        let now = self.clock.now(&request.platform.id);
        let record = AuthorizationCode {
            id: code_id.clone(),
            code_sha256: sha256_hex(&code),
            standalone: profile.account,
            connection,
            scope: request.scope,
            redirect_uri: request.redirect_uri.clone(),
            created: now,
            expires: AuthorizationCode::expiry(now),
            redeemed: None,
        };
        let mut on_platform = Draft::new(&request.platform.id, now);
        on_platform.insert(code_id.as_ref(), &record, &[])?;
        self.commit_plain(on_platform).await?;
        let mut pairs = vec![("code", code.as_str()), ("scope", request.scope.as_str())];
        if let Some(state) = &request.state {
            pairs.push(("state", state));
        }
        redirect_to(&request.redirect_uri, &pairs)
    }

    /// Commits a draft that needs no idempotency record and publishes its events.
    async fn commit_plain(&self, draft: Draft) -> Result<(), ServiceError> {
        let platform = draft.commit.platform.clone();
        let published = draft.published;
        match self.store.commit(draft.commit).await? {
            Applied::Committed => {
                if let Some(platform) = platform {
                    self.publish(&platform, published);
                }
                Ok(())
            }
            Applied::Replayed { .. } => Err(ServiceError::internal("connect", "unexpected replay")),
        }
    }

    /// The caller's authorization code named by `code`, if the secret matches.
    fn authorization_code(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<crate::store::Versioned<AuthorizationCode>, ServiceError> {
        let not_found = || ServiceError::not_found("input.code", "authorization code", "…");
        if code.len() > MAX_CODE_CHARS {
            return Err(not_found());
        }
        let id = code
            .get(..AuthorizationCodeId::PREFIX.len() + 1 + BODY_CHARS)
            .ok_or_else(not_found)?;
        check_id(id, AuthorizationCodeId::PREFIX, "authorization code").map_err(|_| not_found())?;
        let found = self
            .store
            .get_object::<AuthorizationCode>(&caller.platform_key(), id)?
            .ok_or_else(not_found)?;
        let matches = sha256_hex(code)
            .as_bytes()
            .ct_eq(found.value.code_sha256.as_bytes());
        if !bool::from(matches) {
            return Err(not_found());
        }
        Ok(found)
    }

    /// Redeems a code: the standalone account becomes one of the platform's STANDARD
    /// accounts, under the connection's own id.
    pub async fn connect_account(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<AccountRecord, ServiceError> {
        caller.require_platform("Connecting an account is the platform's")?;
        let code = code.trim();
        let id = idempotency::run_async(self, caller, "connectAccount", None, &(), || async {
            let found = self.authorization_code(caller, code)?;
            let now = self.clock.now(&caller.platform.id);
            let mut redeemed = found.value.clone();
            redeemed.redeem(now).map_err(|refusal| match refusal {
                CodeRefusal::AlreadyRedeemed => ServiceError::invalid(
                    "input.code",
                    "This authorization code was already redeemed; ask the account holder to authorize again",
                ),
                CodeRefusal::Expired => ServiceError::invalid(
                    "input.code",
                    "This authorization code has expired (codes last 5 minutes); ask the account holder to authorize again",
                ),
            })?;
            let holder = self
                .platform_by_id(&standalone_keyspace(&redeemed.standalone))?
                .ok_or_else(|| {
                    ServiceError::not_found("input.code", "account", redeemed.standalone.as_ref())
                })?;
            let record = self.connection_record(caller, &holder, &redeemed, now).await?;
            let mut draft = Draft::new(&caller.platform.id, now);
            draft.update(redeemed.id.as_ref(), &redeemed, found.revision)?;
            draft.insert(
                record.id().as_ref(),
                &record,
                &account_indexes(AccountType::Standard),
            )?;
            let application = ApplicationView {
                id: &caller.platform.id,
                name: &caller.platform.name,
                scope: redeemed.scope.as_str(),
            };
            draft.event(&self.ids, EVENT_AUTHORIZED, Some(record.id()), &application)?;
            super::payout_runs::arm_payout_run(&mut draft, &caller.platform_key(), now)?;
            Ok(Prepared {
                draft,
                object_id: record.id().to_string(),
                error: None,
            })
        })
        .await?;
        let account =
            AccountId::parse(&id).map_err(|error| ServiceError::internal("account", error))?;
        self.connection_named(caller, &account, "input.code")
            .map(|found| found.value)
    }

    /// The STANDARD account record a redeemed code makes in the platform's keyspace.
    async fn connection_record(
        &self,
        caller: &Caller,
        holder: &Platform,
        code: &AuthorizationCode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<AccountRecord, ServiceError> {
        let country = Country::parse(&holder.country)
            .map_err(|error| ServiceError::internal("holder country", error))?;
        let platform_country = Country::parse(&caller.platform.country)
            .map_err(|error| ServiceError::internal("platform country", error))?;
        let email = holder
            .standalone
            .as_ref()
            .map(|profile| profile.email.as_str().to_owned());
        let account = NewAccount::parse(
            NewAccountInput {
                account_type: AccountType::Standard,
                country,
                email,
                business_type: None,
                default_currency: Some(holder.default_currency),
                requested_capabilities: None,
                metadata: None,
            },
            platform_country,
        )
        .map_err(|error| ServiceError::invalid("input.code", error.to_string()))?;
        let schedule = self
            .policy_payout_schedule(caller, &code.connection, &account)
            .await?;
        let connection = Connection {
            standalone: code.standalone.clone(),
            scope: code.scope,
            disconnected: None,
        };
        Ok(AccountRecord::connected(
            code.connection.clone(),
            &account,
            schedule,
            connection,
            now,
        ))
    }

    /// The platform ends a connection: the account is never found by it again; its ledger
    /// keeps what was booked.
    pub async fn disconnect_account(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<AccountRecord, ServiceError> {
        caller.require_platform("Disconnecting an account is the platform's")?;
        let id = idempotency::run(self, caller, "disconnectAccount", None, &(), || {
            let found = self.connection_named(caller, account, "input.account")?;
            self.prepare_disconnect(caller, found)
        })
        .await?;
        self.store
            .get_object::<AccountRecord>(&caller.platform_key(), &id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::internal("account", "missing after commit"))
    }

    /// One of the platform's accounts, read-only connections included (ending one is not
    /// acting on it); NOT_FOUND naming `param` otherwise. The caller is the platform itself.
    fn connection_named(
        &self,
        caller: &Caller,
        account: &AccountId,
        param: &str,
    ) -> Result<crate::store::Versioned<AccountRecord>, ServiceError> {
        self.store
            .get_object::<AccountRecord>(&caller.platform_key(), account.as_ref())?
            .filter(|found| !found.value.is_disconnected())
            .ok_or_else(|| ServiceError::not_found(param, "account", account.as_ref()))
    }

    fn prepare_disconnect(
        &self,
        caller: &Caller,
        found: crate::store::Versioned<AccountRecord>,
    ) -> Result<Prepared, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let mut record = found.value;
        let scope = record
            .connection()
            .map(|connection| connection.scope)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "input.account",
                    "Only accounts connected by authorization can be disconnected",
                )
            })?;
        if !record.disconnect(now) {
            return Err(ServiceError::not_found(
                "input.account",
                "account",
                record.id().as_ref(),
            ));
        }
        let mut draft = Draft::new(&caller.platform.id, now);
        draft.update(record.id().as_ref(), &record, found.revision)?;
        let application = ApplicationView {
            id: &caller.platform.id,
            name: &caller.platform.name,
            scope: scope.as_str(),
        };
        draft.event(
            &self.ids,
            EVENT_DEAUTHORIZED,
            Some(record.id()),
            &application,
        )?;
        Ok(Prepared {
            draft,
            object_id: record.id().to_string(),
            error: None,
        })
    }

    /// The standalone account ends its connections to a platform, with its own key. Each
    /// is one commit in the platform's keyspace; the platform hears of it as an event.
    pub async fn revoke_platform(
        &self,
        caller: &Caller,
        platform: &PlatformId,
    ) -> Result<bool, ServiceError> {
        if caller.platform.standalone.is_none() {
            return Err(ServiceError::forbidden(
                Some("input.platform"),
                "Only a standalone account's key revokes a platform's access",
            ));
        }
        caller.require_platform("Revoking a platform is the account holder's")?;
        let not_found =
            || ServiceError::not_found("input.platform", "connected platform", platform.as_ref());
        let Some(owner) = self
            .platform_by_id(platform)?
            .filter(|owner| owner.standalone.is_none())
        else {
            return Err(not_found());
        };
        let on_platform = Caller {
            platform: owner,
            connect_account: None,
            access: Access::Change,
            read_only: false,
        };
        let mut revoked = 0usize;
        for (connection, connected_to) in self.standalone_connections(&caller.platform.id)? {
            if &connected_to != platform {
                continue;
            }
            let active = self
                .connection_named(&on_platform, &connection, "input.platform")
                .is_ok();
            if !active {
                continue;
            }
            idempotency::run(self, &on_platform, "revokePlatform", None, &(), || {
                let found = self.connection_named(&on_platform, &connection, "input.platform")?;
                self.prepare_disconnect(&on_platform, found)
            })
            .await?;
            revoked += 1;
        }
        if revoked == 0 {
            return Err(not_found());
        }
        Ok(true)
    }
}
