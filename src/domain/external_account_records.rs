//! External accounts as a connected account stores them: bank accounts and debit cards with their
//! ids, payout status and whether each is its currency's default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::bank_accounts::{NewBankAccount, PayoutFailure};
use crate::domain::countries::Country;
use crate::domain::debit_cards::{CardBrand, NewDebitCard};
use crate::domain::external_accounts::{
    ExternalAccountError, ExternalAccountStatus, ExternalAccountSummary,
};
use crate::domain::instant_payouts::InstantPayoutDestination;
use crate::ids::{BankAccountId, CardId};
use crate::money::Currency;

/// A bank account on file (`ba_…`). Holds the last four digits and a salted hash, never the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccount {
    id: BankAccountId,
    bank: NewBankAccount,
    status: ExternalAccountStatus,
    default_for_currency: bool,
    /// Given with updateExternalAccount; bank accounts added before have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_holder_name: Option<String>,
    created: DateTime<Utc>,
}

impl BankAccount {
    pub fn id(&self) -> &BankAccountId {
        &self.id
    }
    pub fn country(&self) -> Country {
        self.bank.country()
    }
    pub fn currency(&self) -> Currency {
        self.bank.currency()
    }
    pub fn bank_name(&self) -> Option<&str> {
        self.bank.bank_name()
    }
    pub fn last4(&self) -> &str {
        self.bank.last4()
    }
    pub fn routing_number(&self) -> Option<&str> {
        self.bank.routing_number()
    }
    pub fn account_number_hash(&self) -> &str {
        self.bank.account_number_hash()
    }
    /// Whether payouts to this account fail (the failing test numbers), and how.
    pub fn payout_failure(&self) -> Option<PayoutFailure> {
        self.bank.payout_failure()
    }
    pub fn status(&self) -> ExternalAccountStatus {
        self.status
    }
    pub fn default_for_currency(&self) -> bool {
        self.default_for_currency
    }
    pub fn account_holder_name(&self) -> Option<&str> {
        self.account_holder_name.as_deref()
    }
    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }
}

/// A debit card on file (`card_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitCard {
    id: CardId,
    card: NewDebitCard,
    status: ExternalAccountStatus,
    default_for_currency: bool,
    created: DateTime<Utc>,
}

impl DebitCard {
    pub fn id(&self) -> &CardId {
        &self.id
    }
    pub fn brand(&self) -> CardBrand {
        self.card.brand()
    }
    pub fn last4(&self) -> &str {
        self.card.last4()
    }
    pub fn exp_month(&self) -> u8 {
        self.card.exp_month()
    }
    pub fn exp_year(&self) -> i32 {
        self.card.exp_year()
    }
    pub fn currency(&self) -> Currency {
        self.card.currency()
    }
    pub fn instant_payout_eligible(&self) -> bool {
        self.card.instant_payout_eligible()
    }
    pub fn status(&self) -> ExternalAccountStatus {
        self.status
    }
    pub fn default_for_currency(&self) -> bool {
        self.default_for_currency
    }
    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }
}

/// Either kind of payout destination. Serialized with an `object` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum ExternalAccount {
    BankAccount(BankAccount),
    DebitCard(DebitCard),
}

impl ExternalAccount {
    pub fn bank_account(id: BankAccountId, bank: NewBankAccount, now: DateTime<Utc>) -> Self {
        ExternalAccount::BankAccount(BankAccount {
            id,
            bank,
            status: ExternalAccountStatus::New,
            default_for_currency: false,
            account_holder_name: None,
            created: now,
        })
    }

    pub fn debit_card(id: CardId, card: NewDebitCard, now: DateTime<Utc>) -> Self {
        ExternalAccount::DebitCard(DebitCard {
            id,
            card,
            status: ExternalAccountStatus::New,
            default_for_currency: false,
            created: now,
        })
    }

    /// `ba_…` or `card_…`.
    pub fn id(&self) -> &str {
        match self {
            ExternalAccount::BankAccount(bank) => bank.id.as_ref(),
            ExternalAccount::DebitCard(card) => card.id.as_ref(),
        }
    }

    pub fn currency(&self) -> Currency {
        match self {
            ExternalAccount::BankAccount(bank) => bank.currency(),
            ExternalAccount::DebitCard(card) => card.currency(),
        }
    }

    pub fn status(&self) -> ExternalAccountStatus {
        match self {
            ExternalAccount::BankAccount(bank) => bank.status,
            ExternalAccount::DebitCard(card) => card.status,
        }
    }

    pub fn default_for_currency(&self) -> bool {
        match self {
            ExternalAccount::BankAccount(bank) => bank.default_for_currency,
            ExternalAccount::DebitCard(card) => card.default_for_currency,
        }
    }

    /// What the instant-payout rules need to know about this destination.
    pub fn instant_payout_destination(&self) -> InstantPayoutDestination {
        match self {
            ExternalAccount::BankAccount(_) => InstantPayoutDestination::BankAccount,
            ExternalAccount::DebitCard(card) => InstantPayoutDestination::DebitCard {
                instant_payout_eligible: card.instant_payout_eligible(),
            },
        }
    }

    pub fn summary(&self) -> ExternalAccountSummary<String> {
        ExternalAccountSummary {
            id: self.id().to_owned(),
            currency: self.currency(),
            default_for_currency: self.default_for_currency(),
            status: self.status(),
        }
    }

    pub(crate) fn set_default_for_currency(&mut self, default_for_currency: bool) {
        match self {
            ExternalAccount::BankAccount(bank) => bank.default_for_currency = default_for_currency,
            ExternalAccount::DebitCard(card) => card.default_for_currency = default_for_currency,
        }
    }

    /// Names a bank account's holder (a name parsed by `parse_account_holder_name`); a
    /// debit card has none.
    pub(crate) fn set_account_holder_name(
        &mut self,
        name: String,
    ) -> Result<(), ExternalAccountError> {
        match self {
            ExternalAccount::BankAccount(bank) => {
                bank.account_holder_name = Some(name);
                Ok(())
            }
            ExternalAccount::DebitCard(_) => Err(ExternalAccountError::HolderNameOnCard),
        }
    }

    pub(crate) fn set_status(&mut self, status: ExternalAccountStatus) {
        match self {
            ExternalAccount::BankAccount(bank) => bank.status = status,
            ExternalAccount::DebitCard(card) => card.status = status,
        }
    }

    /// The fields a client may see, for event data: no hash, no payout-failure flag.
    pub fn public_view(&self) -> ExternalAccountView<'_> {
        match self {
            ExternalAccount::BankAccount(bank) => ExternalAccountView {
                id: bank.id.as_ref(),
                object: "bank_account",
                currency: bank.currency(),
                last4: bank.last4(),
                country: Some(bank.country()),
                bank_name: bank.bank_name(),
                routing_number: bank.routing_number(),
                account_holder_name: bank.account_holder_name(),
                brand: None,
                status: bank.status,
                default_for_currency: bank.default_for_currency,
            },
            ExternalAccount::DebitCard(card) => ExternalAccountView {
                id: card.id.as_ref(),
                object: "card",
                currency: card.currency(),
                last4: card.last4(),
                country: None,
                bank_name: None,
                routing_number: None,
                account_holder_name: None,
                brand: Some(card.brand()),
                status: card.status,
                default_for_currency: card.default_for_currency,
            },
        }
    }
}

/// An external account as event data shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalAccountView<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub currency: Currency,
    pub last4: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_holder_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<CardBrand>,
    pub status: ExternalAccountStatus,
    pub default_for_currency: bool,
}
