//! Account debits: the platform takes money from an Express or Custom account's available
//! balance, in the account's default currency; the debit is a payment (`py_`) on the platform.

use serde::Serialize;

use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::account_debits::{check_debit, AccountDebit, DebitRuleError};
use crate::ids::{AccountId, PaymentId};
use crate::ledger::{
    BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder, LedgerAccount, LineSpec,
};
use crate::money::{Currency, MinorUnits};
use crate::store::Condition;

/// A parsed `createAccountDebit` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewAccountDebit {
    pub account: AccountId,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub description: Option<String>,
}

impl Services {
    pub fn account_debit(&self, caller: &Caller, id: &str) -> Result<AccountDebit, ServiceError> {
        self.find::<AccountDebit>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "account debit", id))
    }

    pub async fn create_account_debit(
        &self,
        caller: &Caller,
        input: NewAccountDebit,
        key: Option<IdempotencyKey>,
    ) -> Result<AccountDebit, ServiceError> {
        if caller.connect_account.is_some() {
            return Err(ServiceError::invalid(
                "Connect-Account",
                "Account debits are made by the platform; send the request without Connect-Account",
            ));
        }
        let id = idempotency::run(
            self,
            caller,
            "createAccountDebit",
            key.as_ref(),
            &input,
            || self.prepare_account_debit(caller, &input),
        )
        .await?;
        self.account_debit(caller, &id)
    }

    fn prepare_account_debit(
        &self,
        caller: &Caller,
        input: &NewAccountDebit,
    ) -> Result<Prepared, ServiceError> {
        let account = self
            .account_named(caller, &input.account, "input.account")?
            .value;
        check_debit(
            account.account_type(),
            account.default_currency(),
            input.currency,
        )
        .map_err(|error| match error {
            DebitRuleError::NotPermitted(reason) => {
                ServiceError::forbidden(Some("input.account"), capitalized(&reason.to_string()))
            }
            other @ DebitRuleError::NotDefaultCurrency { .. } => {
                ServiceError::invalid("input.currency", capitalized(&other.to_string()))
            }
        })?;
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        let debited = Holder::Account(input.account.clone());
        draft.condition(
            Condition::BalanceAtLeast {
                account: LedgerAccount::new(debited.clone(), input.currency, Bucket::Available),
                minimum_minor: input.amount.get(),
            },
            ServiceError::insufficient_funds(format!(
                "{}'s available {} balance does not cover the debit of {}",
                input.account, input.currency, input.amount
            )),
        );
        let id: PaymentId = self.ids.next();
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::AccountDebit,
            id.as_ref(),
            now,
        );
        let line = |holder: Holder, amount: MinorUnits| LineSpec {
            holder,
            transaction_type: BalanceTransactionType::AccountDebit,
            source_id: id.to_string(),
            currency: input.currency,
            amount,
            fee_details: Vec::new(),
            available_on: None,
            description: input.description.clone(),
        };
        let ledger_error = |error| ServiceError::internal("account debit entry", error);
        entry
            .line(line(debited, -input.amount))
            .map_err(ledger_error)?;
        let platform_line = entry
            .line(line(
                Holder::Platform(caller.platform.id.clone()),
                input.amount,
            ))
            .map_err(ledger_error)?;
        draft.entry(entry.build().map_err(ledger_error)?)?;
        let debit = AccountDebit {
            id: id.clone(),
            account: input.account.clone(),
            currency: input.currency,
            amount: input.amount,
            description: input.description.clone(),
            balance_transaction: Some(platform_line),
            created: now,
        };
        draft.insert(
            id.as_ref(),
            &debit,
            &[
                "account_debits".to_owned(),
                format!("account_debits_acct:{}", input.account),
            ],
        )?;
        draft.event(
            &self.ids,
            "account_debit.created",
            Some(&input.account),
            &debit,
        )?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }
}

/// A rule's reason as the sentence of an error message.
fn capitalized(reason: &str) -> String {
    let mut characters = reason.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}
