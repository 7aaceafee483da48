//! Account debits: the platform taking money from an Express or Custom account's available
//! balance, recorded as a payment (`py_`) on the platform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::accounts::AccountType;
use crate::domain::permissions::{check_may_debit_account, PermissionDenied};
use crate::ids::{AccountId, BalanceTransactionId, PaymentId};
use crate::money::{Currency, MinorUnits};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountDebit {
    pub id: PaymentId,
    pub account: AccountId,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub description: Option<String>,
    /// The platform's ACCOUNT_DEBIT balance transaction.
    pub balance_transaction: Option<BalanceTransactionId>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DebitRuleError {
    #[error(transparent)]
    NotPermitted(#[from] PermissionDenied),
    #[error("an account is debited in its default currency {default}, not {requested}")]
    NotDefaultCurrency {
        default: Currency,
        requested: Currency,
    },
}

/// Whether the platform may debit an account of this type in this currency.
pub fn check_debit(
    account_type: AccountType,
    default_currency: Currency,
    requested: Currency,
) -> Result<(), DebitRuleError> {
    check_may_debit_account(account_type)?;
    if requested != default_currency {
        return Err(DebitRuleError::NotDefaultCurrency {
            default: default_currency,
            requested,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_express_and_custom_in_their_default_currency() {
        let usd = Currency::parse("usd").expect("usd");
        let eur = Currency::parse("eur").expect("eur");
        assert_eq!(check_debit(AccountType::Express, usd, usd), Ok(()));
        assert_eq!(check_debit(AccountType::Custom, usd, usd), Ok(()));
        assert_eq!(
            check_debit(AccountType::Standard, usd, usd),
            Err(DebitRuleError::NotPermitted(
                PermissionDenied::DebitOfStandardAccount
            ))
        );
        assert_eq!(
            check_debit(AccountType::Express, usd, eur),
            Err(DebitRuleError::NotDefaultCurrency {
                default: usd,
                requested: eur
            })
        );
    }
}
