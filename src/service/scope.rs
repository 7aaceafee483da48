//! Who a request may see and change: the one rule that keeps a request made with
//! `Connect-Account` inside that account, applied to every lookup by id and every list.
//!
//! A platform's key sees all of its objects. With `Connect-Account: acct_X` the request acts
//! as that account: an object is in scope when it belongs to acct_X (its charges, the
//! transfers paid to it, its payouts, balance transactions, events, external accounts, …).
//! Out of scope, a read finds nothing (NOT_FOUND, or absent from a list) and a mutation
//! that names the object is FORBIDDEN. Objects only the platform has (top-ups, webhook
//! endpoints, the platform's own payouts) are out of every account's scope.

use serde::de::DeserializeOwned;

use super::external_accounts::ExternalAccountOwner;
use super::pagination::encode_cursor;
use super::transfers::StoredReversal;
use super::{Caller, Page, PageRequest, ServiceError, Services};
use crate::domain::account_debits::AccountDebit;
use crate::domain::account_links::AccountLink;
use crate::domain::account_record::AccountRecord;
use crate::domain::balance_transactions::BalanceTransaction;
use crate::domain::charges::{ApplicationFee, Charge, Transfer};
use crate::domain::connections::AuthorizationCode;
use crate::domain::disputes::Dispute;
use crate::domain::events::Event;
use crate::domain::login_links::LoginLink;
use crate::domain::payouts::Payout;
use crate::domain::policy_backtests::PolicyBacktestRun;
use crate::domain::refunds::{FeeRefundRecord, Refund};
use crate::domain::topups::Topup;
use crate::domain::webhooks::{WebhookDelivery, WebhookEndpoint};
use crate::ids::{prefix_of, AccountId};
use crate::ledger::Holder;
use crate::store::Versioned;

/// The most filtered-out ids one page of a filtered or account-scoped list reads before
/// it answers with what it found, so a rare match cannot make a request read a whole index.
pub const MAX_FILTER_SCAN: usize = 5_000;
/// How far an ownership chain is followed (a fee refund → its fee → the fee's account).
const MAX_OWNER_DEPTH: usize = 3;

/// What the request does with the objects it names: a query reads, a mutation changes.
/// Out of scope, a read finds nothing and a change is refused as FORBIDDEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Change,
}

/// Who an object belongs to within its platform.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// Only the platform: in no connected account's scope.
    Platform,
    /// A connected account (and the platform).
    Account(&'a AccountId),
    /// A charge: the account it is on (direct) and the account it pays (destination).
    Charge {
        account: Option<&'a AccountId>,
        destination: Option<&'a AccountId>,
    },
    /// Whoever owns another object: a refund belongs with its charge.
    Parent(&'a str),
}

/// Every stored object a request can reach says who owns it.
pub trait Scoped {
    fn owner(&self) -> Owner<'_>;

    /// Kept for the ledger but never found again (an ended connection).
    fn hidden(&self) -> bool {
        false
    }

    /// Readable, but no mutation may act on it (an account connected with read_only).
    fn read_only(&self) -> bool {
        false
    }
}

impl Scoped for AccountRecord {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(self.id())
    }

    fn hidden(&self) -> bool {
        self.is_disconnected()
    }

    fn read_only(&self) -> bool {
        self.is_read_only()
    }
}

impl Scoped for AuthorizationCode {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

impl Scoped for Charge {
    fn owner(&self) -> Owner<'_> {
        Owner::Charge {
            account: self.account.as_ref(),
            destination: self.destination.as_ref(),
        }
    }
}

impl Scoped for Transfer {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(&self.destination)
    }
}

impl Scoped for ApplicationFee {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(&self.account)
    }
}

impl Scoped for PolicyBacktestRun {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

impl Scoped for Payout {
    fn owner(&self) -> Owner<'_> {
        self.account
            .as_ref()
            .map_or(Owner::Platform, Owner::Account)
    }
}

impl Scoped for Refund {
    fn owner(&self) -> Owner<'_> {
        Owner::Parent(self.charge.as_ref())
    }
}

impl Scoped for FeeRefundRecord {
    fn owner(&self) -> Owner<'_> {
        Owner::Parent(self.fee.as_ref())
    }
}

impl Scoped for StoredReversal {
    fn owner(&self) -> Owner<'_> {
        Owner::Parent(self.transfer.as_ref())
    }
}

impl Scoped for Dispute {
    fn owner(&self) -> Owner<'_> {
        Owner::Parent(self.charge.as_ref())
    }
}

impl Scoped for BalanceTransaction {
    fn owner(&self) -> Owner<'_> {
        match &self.holder {
            Holder::Account(account) => Owner::Account(account),
            _ => Owner::Platform,
        }
    }
}

impl Scoped for Event {
    fn owner(&self) -> Owner<'_> {
        self.account
            .as_ref()
            .map_or(Owner::Platform, Owner::Account)
    }
}

impl Scoped for AccountDebit {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(&self.account)
    }
}

impl Scoped for ExternalAccountOwner {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(&self.account)
    }
}

impl Scoped for AccountLink {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(self.account())
    }
}

impl Scoped for LoginLink {
    fn owner(&self) -> Owner<'_> {
        Owner::Account(self.account())
    }
}

impl Scoped for Topup {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

impl Scoped for WebhookEndpoint {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

impl Scoped for WebhookDelivery {
    fn owner(&self) -> Owner<'_> {
        Owner::Platform
    }
}

impl Caller {
    /// The connected account the request acts as, if any.
    pub fn scope_account(&self) -> Option<&AccountId> {
        self.connect_account.as_ref()
    }

    /// Refuses, as FORBIDDEN, what only the platform itself may do (`what` says it, e.g.
    /// "Top-ups fund the platform's own balance").
    pub fn require_platform(&self, what: &str) -> Result<(), ServiceError> {
        match &self.connect_account {
            None => Ok(()),
            Some(account) => Err(ServiceError::forbidden(
                Some("Connect-Account"),
                format!("{what}: a request acting as {account} may not; send it without Connect-Account"),
            )),
        }
    }
}

impl Services {
    /// Reads an object of the caller's platform by id, within the caller's scope. Another
    /// platform's object is simply not there; another account's is not there for a read
    /// and FORBIDDEN for a change.
    pub fn find_required<T: DeserializeOwned + Scoped>(
        &self,
        caller: &Caller,
        id: &str,
        param: &str,
        kind: &str,
    ) -> Result<Versioned<T>, ServiceError> {
        self.find(caller, id)?
            .ok_or_else(|| ServiceError::not_found(param, kind, id))
    }

    pub fn find<T: DeserializeOwned + Scoped>(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<Versioned<T>>, ServiceError> {
        let Some(found) = self
            .store
            .get_object::<T>(&caller.platform_key(), id)?
            .filter(|found| !found.value.hidden())
        else {
            return Ok(None);
        };
        if caller.access == Access::Change && found.value.read_only() {
            return Err(ServiceError::forbidden(
                None,
                format!("{id} was connected with the read_only scope: the platform may read it but change nothing"),
            ));
        }
        if self.visible(caller, &found.value)? {
            return Ok(Some(found));
        }
        match (caller.access, caller.scope_account()) {
            (Access::Change, Some(account)) => Err(ServiceError::forbidden(
                None,
                format!("{id} is not {account}'s: a request acting as {account} may only change that account's objects"),
            )),
            _ => Ok(None),
        }
    }

    /// [`Services::find`] for an object a request names in `param`: NOT_FOUND when it is
    /// not there, FORBIDDEN (naming `param`) when a change names another account's.
    pub fn find_named<T: DeserializeOwned + Scoped>(
        &self,
        caller: &Caller,
        id: &str,
        param: &str,
        kind: &str,
    ) -> Result<Versioned<T>, ServiceError> {
        match self.find::<T>(caller, id) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(ServiceError::not_found(param, kind, id)),
            Err(ServiceError::Forbidden { message, .. }) => Err(ServiceError::Forbidden {
                message,
                param: Some(param.to_owned()),
            }),
            Err(other) => Err(other),
        }
    }

    /// Whether an object the caller's platform holds is in the caller's scope.
    pub fn visible<T: Scoped>(&self, caller: &Caller, object: &T) -> Result<bool, ServiceError> {
        match caller.scope_account() {
            None => Ok(true),
            Some(account) => self.owned_by(
                &caller.platform_key(),
                object.owner(),
                account,
                MAX_OWNER_DEPTH,
            ),
        }
    }

    fn owned_by(
        &self,
        platform: &str,
        owner: Owner<'_>,
        account: &AccountId,
        depth: usize,
    ) -> Result<bool, ServiceError> {
        match owner {
            Owner::Platform => Ok(false),
            Owner::Account(owner) => Ok(owner == account),
            Owner::Charge {
                account: on,
                destination,
            } => Ok(on == Some(account) || destination == Some(account)),
            Owner::Parent(_) if depth == 0 => Ok(false),
            Owner::Parent(parent) => match prefix_of(parent) {
                Some("ch") => self.parent_owned_by::<Charge>(platform, parent, account, depth),
                Some("fee") => {
                    self.parent_owned_by::<ApplicationFee>(platform, parent, account, depth)
                }
                Some("tr") => self.parent_owned_by::<Transfer>(platform, parent, account, depth),
                _ => Ok(false),
            },
        }
    }

    fn parent_owned_by<T: DeserializeOwned + Scoped>(
        &self,
        platform: &str,
        id: &str,
        account: &AccountId,
        depth: usize,
    ) -> Result<bool, ServiceError> {
        match self.store.get_object::<T>(platform, id)? {
            Some(parent) => self.owned_by(platform, parent.value.owner(), account, depth - 1),
            None => Ok(false),
        }
    }

    /// One page of an index of the caller's platform, newest first, holding only objects
    /// in the caller's scope.
    pub fn page<T: DeserializeOwned + Scoped>(
        &self,
        caller: &Caller,
        index: &str,
        request: &PageRequest,
    ) -> Result<Page<T>, ServiceError> {
        self.page_where(caller, index, request, |_| true)
    }

    /// One page of an index holding only objects in the caller's scope that `keep` accepts.
    /// It reads at most [`MAX_FILTER_SCAN`] ids past the cursor: when they run out before
    /// the page is full, the page says there may be more, and the next one continues from
    /// its last item.
    pub fn page_where<T: DeserializeOwned + Scoped>(
        &self,
        caller: &Caller,
        index: &str,
        request: &PageRequest,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, ServiceError> {
        let platform = caller.platform_key();
        let mut cursor = request.after.clone();
        let mut items = Vec::with_capacity(request.first);
        let mut scanned = 0usize;
        let mut has_next_page = false;
        'scan: loop {
            if scanned >= MAX_FILTER_SCAN {
                has_next_page = !items.is_empty();
                break;
            }
            let ids =
                self.store
                    .scan_index(&platform, index, cursor.as_deref(), request.first + 1)?;
            if ids.is_empty() {
                break;
            }
            for id in ids {
                scanned += 1;
                let object = self.store.get_object::<T>(&platform, &id)?.ok_or_else(|| {
                    ServiceError::internal("index", format!("{id} is indexed but missing"))
                })?;
                cursor = Some(id);
                if object.value.hidden()
                    || !keep(&object.value)
                    || !self.visible(caller, &object.value)?
                {
                    continue;
                }
                if items.len() == request.first {
                    has_next_page = true;
                    break 'scan;
                }
                let id = cursor.as_deref().unwrap_or_default();
                items.push((encode_cursor(id), object.value));
            }
        }
        Ok(Page {
            items,
            has_next_page,
            has_previous_page: request.after.is_some(),
        })
    }

    /// The account a list is limited to: the one the request names, else the
    /// Connect-Account. Naming an account outside the caller's scope is NOT_FOUND.
    pub fn scoped_account_filter(
        &self,
        caller: &Caller,
        named: Option<AccountId>,
        param: &str,
    ) -> Result<Option<AccountId>, ServiceError> {
        match named {
            Some(account) => {
                self.account_named(caller, &account, param)?;
                Ok(Some(account))
            }
            None => Ok(caller.scope_account().cloned()),
        }
    }
}
