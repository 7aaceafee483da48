//! Negative balances: which connected accounts are below zero, and the reserve a platform
//! holds against the ones it is liable for (Express and Custom; Standard accounts carry
//! their own).
//!
//! Refunds, reversals and disputes may take an account's available balance below zero.
//! Later credits net against it in the ledger by themselves; what this file adds is the
//! view: reads of the stored balances, one key lookup per account and currency.

use std::collections::BTreeMap;

use super::accounts::type_index;
use super::{ServiceError, Services};
use crate::domain::accounts::AccountType;
use crate::domain::permissions::{negative_balance_liability, NegativeBalanceLiability};
use crate::ids::{AccountId, PlatformId};
use crate::ledger::{Bucket, Holder};
use crate::money::{Currency, MinorUnits, Money};
use crate::store::MAX_SCAN_ITEMS;

/// One connected account's negative available balance in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegativeBalance {
    pub account: AccountId,
    pub account_type: AccountType,
    /// Below zero.
    pub available: Money,
    /// Whether the platform covers it (Express and Custom accounts).
    pub platform_liable: bool,
}

impl Services {
    /// The account's available balances that are below zero, per currency.
    pub fn negative_available(&self, account: &AccountId) -> Result<Vec<Money>, ServiceError> {
        let mut negative = Vec::new();
        for (ledger_account, amount) in self.store.balances_of(&Holder::Account(account.clone()))? {
            if ledger_account.bucket != Bucket::Available || amount >= 0 {
                continue;
            }
            let amount = MinorUnits::new(amount)
                .map_err(|error| ServiceError::internal("negative balance", error))?;
            negative.push(Money::new(amount, ledger_account.currency));
        }
        Ok(negative)
    }

    /// The platform's connected accounts whose available balance is below zero, newest
    /// account first; of every type, with whether the platform is liable.
    pub fn negative_accounts(
        &self,
        platform: &PlatformId,
    ) -> Result<Vec<NegativeBalance>, ServiceError> {
        let mut found = Vec::new();
        for account_type in [
            AccountType::Standard,
            AccountType::Express,
            AccountType::Custom,
        ] {
            found.extend(self.negative_accounts_of_type(platform, account_type)?);
        }
        found.sort_by(|left, right| right.account.cmp(&left.account));
        Ok(found)
    }

    /// What the platform covers of its accounts' negative balances: the sum of its Express
    /// and Custom accounts' negative available balances, per currency, as positive amounts.
    pub fn platform_reserve(&self, platform: &PlatformId) -> Result<Vec<Money>, ServiceError> {
        let mut totals: BTreeMap<Currency, MinorUnits> = BTreeMap::new();
        for account_type in [AccountType::Express, AccountType::Custom] {
            for negative in self.negative_accounts_of_type(platform, account_type)? {
                let total = totals.entry(negative.available.currency).or_default();
                *total = total
                    .checked_sub(negative.available.amount)
                    .map_err(|error| ServiceError::internal("reserve", error))?;
            }
        }
        Ok(totals
            .into_iter()
            .map(|(currency, amount)| Money::new(amount, currency))
            .collect())
    }

    /// The platform's reserve in one currency (zero when it holds none).
    pub fn platform_reserve_in(
        &self,
        platform: &PlatformId,
        currency: Currency,
    ) -> Result<MinorUnits, ServiceError> {
        Ok(self
            .platform_reserve(platform)?
            .into_iter()
            .find(|money| money.currency == currency)
            .map_or(MinorUnits::ZERO, |money| money.amount))
    }

    /// What the platform may pay out or transfer without a source transaction in one
    /// currency: at least `amount` must stay above the reserve it holds against its Express
    /// and Custom accounts' negative balances. Returns the available balance the platform
    /// needs (`amount + reserve`) and the reserve.
    pub fn platform_minimum_available(
        &self,
        platform: &PlatformId,
        currency: Currency,
        amount: MinorUnits,
    ) -> Result<(MinorUnits, MinorUnits), ServiceError> {
        let reserve = self.platform_reserve_in(platform, currency)?;
        let minimum = amount
            .checked_add(reserve)
            .map_err(|error| ServiceError::internal("reserve", error))?;
        Ok((minimum, reserve))
    }

    fn negative_accounts_of_type(
        &self,
        platform: &PlatformId,
        account_type: AccountType,
    ) -> Result<Vec<NegativeBalance>, ServiceError> {
        let platform_key = platform.to_string();
        let index = type_index(account_type);
        let platform_liable =
            negative_balance_liability(account_type) == NegativeBalanceLiability::Platform;
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        // Every account of the type is read, a page at a time: a reserve that stopped short
        // would let the platform pay out money it owes.
        loop {
            let ids =
                self.store
                    .scan_index(&platform_key, &index, cursor.as_deref(), MAX_SCAN_ITEMS)?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for id in ids {
                let account = AccountId::parse(&id)
                    .map_err(|error| ServiceError::internal("account index", error))?;
                for available in self.negative_available(&account)? {
                    found.push(NegativeBalance {
                        account: account.clone(),
                        account_type,
                        available,
                        platform_liable,
                    });
                }
            }
            cursor = Some(last);
        }
        Ok(found)
    }
}
