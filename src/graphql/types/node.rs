//! The `Node` interface and `node(id:)` resolution by id prefix.

use super::charges::{ApplicationFeeObject, ChargeObject, TransferObject};
use crate::domain::charges::{ApplicationFee, Charge, Transfer};
use async_graphql::Interface;

use super::accounts::{AccountObject, BankAccountObject, DebitCardObject};
use super::balance_transactions::BalanceTransactionObject;
use super::disputes::DisputeObject;
use super::payouts::PayoutObject;
use super::platform::{EventObject, PlatformObject, TopupObject};
use super::refunds::{AccountDebitObject, RefundObject};
use crate::domain::account_debits::AccountDebit;
use crate::domain::account_record::AccountRecord;
use crate::domain::balance_transactions::BalanceTransaction;
use crate::domain::disputes::Dispute;
use crate::domain::events::Event;
use crate::domain::external_account_records::ExternalAccount;
use crate::domain::refunds::Refund;
use crate::domain::topups::Topup;
use crate::ids::prefix_of;
use crate::service::{Caller, ServiceError, Services};

// Made once per `node(id:)` call and handed straight to the executor, so the size of the
// largest variant (an account) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "async_graphql::ID"))]
pub enum Node {
    Platform(PlatformObject),
    Topup(TopupObject),
    BalanceTransaction(BalanceTransactionObject),
    Event(EventObject),
    Account(AccountObject),
    BankAccount(BankAccountObject),
    DebitCard(DebitCardObject),
    Charge(ChargeObject),
    Transfer(TransferObject),
    ApplicationFee(ApplicationFeeObject),
    Payout(PayoutObject),
    Refund(RefundObject),
    Dispute(DisputeObject),
    AccountDebit(AccountDebitObject),
    WebhookEndpoint(crate::graphql::roots::webhooks::WebhookEndpointObject),
    RestrictedKey(crate::graphql::roots::api_keys::RestrictedKeyObject),
}

/// Finds any of the caller's objects by id; another platform's is simply absent.
pub fn resolve(
    services: &Services,
    caller: &Caller,
    id: &str,
) -> Result<Option<Node>, ServiceError> {
    let node = match prefix_of(id) {
        Some("plat") if id == caller.platform.id.as_ref() => {
            Some(Node::Platform(PlatformObject(caller.platform.clone())))
        }
        Some("tu") => services
            .find::<Topup>(caller, id)?
            .map(|found| Node::Topup(TopupObject(found.value))),
        Some("txn") => services
            .find::<BalanceTransaction>(caller, id)?
            .map(|found| Node::BalanceTransaction(BalanceTransactionObject(found.value))),
        Some("evt") => services
            .find::<Event>(caller, id)?
            .map(|found| Node::Event(EventObject(found.value))),
        Some("acct") => services
            .find::<AccountRecord>(caller, id)?
            .map(|found| Node::Account(AccountObject(found.value))),
        Some("ba" | "card") => {
            services
                .external_account(caller, id)?
                .map(|(_, external)| match external {
                    ExternalAccount::BankAccount(bank) => {
                        Node::BankAccount(BankAccountObject(bank))
                    }
                    ExternalAccount::DebitCard(card) => Node::DebitCard(DebitCardObject(card)),
                })
        }
        Some("ch") => services
            .find::<Charge>(caller, id)?
            .map(|found| Node::Charge(ChargeObject(found.value))),
        Some("tr") => services
            .find::<Transfer>(caller, id)?
            .map(|found| Node::Transfer(TransferObject(found.value))),
        Some("fee") => services
            .find::<ApplicationFee>(caller, id)?
            .map(|found| Node::ApplicationFee(ApplicationFeeObject(found.value))),
        Some("po") => services
            .find::<crate::domain::payouts::Payout>(caller, id)?
            .map(|found| Node::Payout(PayoutObject(found.value))),
        Some("re") => services
            .find::<Refund>(caller, id)?
            .map(|found| Node::Refund(RefundObject(found.value))),
        Some("dp") => services
            .find::<Dispute>(caller, id)?
            .map(|found| Node::Dispute(DisputeObject(found.value))),
        // py_ is also a destination charge's payment on an account, which is no object of
        // its own: only account debits resolve.
        Some("py") => services
            .find::<AccountDebit>(caller, id)?
            .map(|found| Node::AccountDebit(AccountDebitObject(found.value))),
        Some("we") => services
            .find::<crate::domain::webhooks::WebhookEndpoint>(caller, id)?
            .map(|found| {
                Node::WebhookEndpoint(crate::graphql::roots::webhooks::WebhookEndpointObject {
                    endpoint: found.value,
                    show_secret: false,
                })
            }),
        Some("rkid") => services
            .find::<crate::domain::api_keys::RestrictedKey>(caller, id)?
            .map(|found| {
                Node::RestrictedKey(
                    crate::graphql::roots::api_keys::RestrictedKeyObject::hidden(found.value),
                )
            }),
        _ => None,
    };
    Ok(node)
}
