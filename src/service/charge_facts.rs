//! Charge facts between the policy host and the stored charge: the record made when a
//! charge is priced, the facts a replay gives back to the hooks, and the facts rebuilt
//! from an older charge's stored fields.

use super::pricing::{account_facts, policy_account_type, policy_flow};
use crate::domain::account_record::AccountRecord;
use crate::domain::accounts::AccountType;
use crate::domain::charge_facts::{
    RecordedAccount, RecordedCard, RecordedChargeFacts, RecordedPlatform, CHARGE_FACTS_VERSION,
};
use crate::domain::charges::{Charge, ChargeFlowKind};
use crate::domain::payment_methods::PaymentMethod;
use crate::domain::platforms::Platform;
use crate::policy::{
    AccountFacts, AccountType as PolicyAccountType, CardFacts, ChargeFacts, ChargeFlow,
    PlatformFacts,
};

fn domain_account_type(account_type: PolicyAccountType) -> AccountType {
    match account_type {
        PolicyAccountType::Standard => AccountType::Standard,
        PolicyAccountType::Express => AccountType::Express,
        PolicyAccountType::Custom => AccountType::Custom,
    }
}

fn domain_flow(flow: ChargeFlow) -> ChargeFlowKind {
    match flow {
        ChargeFlow::Direct => ChargeFlowKind::Direct,
        ChargeFlow::Destination => ChargeFlowKind::Destination,
        ChargeFlow::Separate => ChargeFlowKind::Separate,
    }
}

/// The record of the facts a charge's hooks are given, field for field.
pub fn recorded_facts(facts: &ChargeFacts) -> RecordedChargeFacts {
    let ChargeFacts {
        amount,
        currency,
        flow,
        payment_method,
        card,
        account,
        on_behalf_of,
        metadata,
        description,
        transfer_group,
        platform,
        created_unix_seconds,
    } = facts;
    let CardFacts {
        brand,
        country: card_country,
        funding,
    } = card;
    let PlatformFacts {
        id: platform_id,
        name: platform_name,
        country: platform_country,
    } = platform;
    RecordedChargeFacts {
        version: CHARGE_FACTS_VERSION,
        amount: *amount,
        currency: *currency,
        flow: domain_flow(*flow),
        payment_method: payment_method.clone(),
        card: RecordedCard {
            brand: brand.clone(),
            country: card_country.clone(),
            funding: funding.clone(),
        },
        account: account.as_ref().map(|account| {
            let AccountFacts {
                id,
                account_type,
                country,
                default_currency,
                metadata,
            } = account;
            RecordedAccount {
                id: id.clone(),
                account_type: domain_account_type(*account_type),
                country: country.clone(),
                default_currency: *default_currency,
                metadata: metadata.clone(),
            }
        }),
        on_behalf_of: on_behalf_of.clone(),
        metadata: metadata.clone(),
        description: description.clone(),
        transfer_group: transfer_group.clone(),
        platform: RecordedPlatform {
            id: platform_id.clone(),
            name: platform_name.clone(),
            country: platform_country.clone(),
        },
        created_unix_seconds: *created_unix_seconds,
    }
}

/// The facts a replay gives the hooks: exactly those recorded.
pub fn facts_from_record(recorded: &RecordedChargeFacts) -> ChargeFacts {
    let RecordedChargeFacts {
        version: _,
        amount,
        currency,
        flow,
        payment_method,
        card,
        account,
        on_behalf_of,
        metadata,
        description,
        transfer_group,
        platform,
        created_unix_seconds,
    } = recorded;
    ChargeFacts {
        amount: *amount,
        currency: *currency,
        flow: policy_flow(*flow),
        payment_method: payment_method.clone(),
        card: CardFacts {
            brand: card.brand.clone(),
            country: card.country.clone(),
            funding: card.funding.clone(),
        },
        account: account.as_ref().map(|account| AccountFacts {
            id: account.id.clone(),
            account_type: policy_account_type(account.account_type),
            country: account.country.clone(),
            default_currency: account.default_currency,
            metadata: account.metadata.clone(),
        }),
        on_behalf_of: on_behalf_of.clone(),
        metadata: metadata.clone(),
        description: description.clone(),
        transfer_group: transfer_group.clone(),
        platform: PlatformFacts {
            id: platform.id.clone(),
            name: platform.name.clone(),
            country: platform.country.clone(),
        },
        created_unix_seconds: *created_unix_seconds,
    }
}

/// The facts of a charge priced before facts were recorded, rebuilt from what the charge
/// stores. The account and platform are as they are now (their state then is not kept),
/// which is why a replay marks these charges as rebuilt.
pub fn rebuilt_facts(
    charge: &Charge,
    account: Option<&AccountRecord>,
    platform: &Platform,
) -> ChargeFacts {
    // Payment methods are checked before a charge is stored; a name this build no longer
    // knows is passed on as is, with an unknown card.
    let card = PaymentMethod::parse(&charge.payment_method).map_or_else(
        |_| CardFacts {
            brand: "unknown".to_owned(),
            country: "unknown".to_owned(),
            funding: "unknown".to_owned(),
        },
        |method| CardFacts {
            brand: method.card.brand.to_owned(),
            country: method.card.country.to_owned(),
            funding: method.card.funding.to_owned(),
        },
    );
    // A capture prices the captured amount; an authorization its whole amount.
    let amount = if charge.captured {
        charge.amount_captured
    } else {
        charge.amount
    };
    ChargeFacts {
        amount,
        currency: charge.currency,
        flow: policy_flow(charge.flow),
        payment_method: charge.payment_method.clone(),
        card,
        account: account.map(account_facts),
        on_behalf_of: charge.on_behalf_of.as_ref().map(ToString::to_string),
        metadata: charge.metadata.clone(),
        description: charge.description.clone(),
        transfer_group: charge.transfer_group.clone(),
        platform: PlatformFacts {
            id: platform.id.to_string(),
            name: platform.name.clone(),
            country: platform.country.clone(),
        },
        created_unix_seconds: charge.created.timestamp(),
    }
}
