//! Balances and balance transactions, as a holder sees them.

use std::collections::BTreeMap;

use super::{holder_index, holder_type_index, Caller, Page, PageRequest, ServiceError, Services};
use crate::domain::balance_transactions::BalanceTransaction;
use crate::ids::AccountId;
use crate::ledger::{BalanceTransactionType, Bucket, Holder, LedgerAccount};
use crate::money::{Currency, MinorUnits, Money};

/// A holder's balance, per currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BalanceView {
    pub available: Vec<Money>,
    pub pending: Vec<Money>,
    /// Held against connected accounts' negative balances (platforms only).
    pub reserved: Vec<Money>,
    /// Available funds that may be paid out instantly.
    pub instant_available: Vec<Money>,
}

/// Available funds that may be paid out instantly, per currency. Instant payouts are made only
/// to connected accounts, whose every credit comes from card charges (direct charges,
/// destination payments, transfers of charges; top-ups land on the platform), so an account's
/// instantly available funds are its available balance, never below zero. A platform has none.
fn instant_available(holder: &Holder, available: &BTreeMap<Currency, MinorUnits>) -> Vec<Money> {
    available
        .iter()
        .map(|(currency, amount)| {
            let instant = match holder {
                Holder::Account(_) => (*amount).max(MinorUnits::ZERO),
                _ => MinorUnits::ZERO,
            };
            Money::new(instant, *currency)
        })
        .collect()
}

impl Services {
    /// The holder a balance request is about: the named account, the Connect-Account, or
    /// the platform. The account must be the caller's.
    pub fn balance_holder(
        &self,
        caller: &Caller,
        account: Option<AccountId>,
    ) -> Result<Holder, ServiceError> {
        match account.or_else(|| caller.connect_account.clone()) {
            Some(account) => {
                if self
                    .find::<serde_json::Value>(caller, account.as_ref())?
                    .is_none()
                {
                    return Err(ServiceError::not_found(
                        "account",
                        "account",
                        account.as_ref(),
                    ));
                }
                Ok(Holder::Account(account))
            }
            None => Ok(Holder::Platform(caller.platform.id.clone())),
        }
    }

    pub fn balance(&self, holder: &Holder) -> Result<BalanceView, ServiceError> {
        let mut available: BTreeMap<Currency, MinorUnits> = BTreeMap::new();
        let mut pending: BTreeMap<Currency, MinorUnits> = BTreeMap::new();
        for (account, amount) in self.store.balances_of(holder)? {
            let amount = MinorUnits::new(amount)
                .map_err(|error| ServiceError::internal("balance", error))?;
            let target = match account.bucket {
                Bucket::Available => &mut available,
                Bucket::Pending => &mut pending,
            };
            target.insert(account.currency, amount);
        }
        // Every currency the holder has used shows in both lists, so clients see zeros too.
        for currency in available
            .keys()
            .chain(pending.keys())
            .copied()
            .collect::<Vec<_>>()
        {
            available.entry(currency).or_default();
            pending.entry(currency).or_default();
        }
        let to_list = |map: &BTreeMap<Currency, MinorUnits>| -> Vec<Money> {
            map.iter()
                .map(|(currency, amount)| Money::new(*amount, *currency))
                .collect()
        };
        // A platform's reserve is what it covers of its Express and Custom accounts'
        // negative balances; a connected account has none.
        let reserved = match holder {
            Holder::Platform(platform) => self.platform_reserve(platform)?,
            _ => Vec::new(),
        };
        Ok(BalanceView {
            available: to_list(&available),
            pending: to_list(&pending),
            reserved,
            instant_available: instant_available(holder, &available),
        })
    }

    /// Whether any of the account's available balances is below zero. A negative balance
    /// is netted against later credits first; payouts are refused while it lasts.
    pub fn account_balance_is_negative(&self, account: &AccountId) -> Result<bool, ServiceError> {
        Ok(!self.negative_available(account)?.is_empty())
    }

    /// Whether the account's available balance in `currency` is below zero.
    pub fn account_balance_is_negative_in(
        &self,
        account: &AccountId,
        currency: Currency,
    ) -> Result<bool, ServiceError> {
        let ledger_account = LedgerAccount::new(
            Holder::Account(account.clone()),
            currency,
            Bucket::Available,
        );
        Ok(self.store.balance(&ledger_account)? < 0)
    }

    /// A holder's balance transactions, newest first, optionally of one type.
    pub fn balance_transactions(
        &self,
        caller: &Caller,
        holder: &Holder,
        transaction_type: Option<BalanceTransactionType>,
        request: &PageRequest,
    ) -> Result<Page<BalanceTransaction>, ServiceError> {
        let platform = caller.platform_key();
        let index = match transaction_type {
            None => holder_index(holder),
            Some(wanted) => holder_type_index(holder, wanted),
        };
        self.page(&platform, &index, request)
    }
}
