//! Pricing a charge: the facts the policies see, the split directory they are checked
//! against, and the decision (also served as `previewCharge`, which moves no money).

use serde::Serialize;

use super::charge_facts::recorded_facts;
use super::{Caller, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::accounts::AccountType;
use crate::domain::charges::{charged_application_fee, ChargeFlowKind, PricedSplit, Pricing};
use crate::domain::payment_methods::{Behaviour, PaymentMethod};
use crate::ids::AccountId;
use crate::money::{Currency, MinorUnits};
use crate::policy::{
    AccountFacts, AccountType as PolicyAccountType, CardFacts, ChargeFacts, ChargeFlow,
    ChargeRequest, FeePayer, PlatformFacts, PolicyError, PreparedCharge, SplitDirectory,
};
use crate::store::Store;

/// A parsed charge request, as `createCharge` and `previewCharge` take it.
#[derive(Debug, Clone, Serialize)]
pub struct NewCharge {
    pub amount: MinorUnits,
    pub currency: Currency,
    pub payment_method: String,
    pub capture: bool,
    pub application_fee: Option<MinorUnits>,
    pub on_behalf_of: Option<AccountId>,
    pub destination: Option<AccountId>,
    pub transfer_amount: Option<MinorUnits>,
    pub transfer_group: Option<String>,
    pub description: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A charge's pricing, and the dispute fee when the card disputes it.
pub struct PricedCharge {
    pub pricing: Pricing,
    pub dispute_fee: Option<MinorUnits>,
}

/// The accounts a charge involves, read once.
pub struct ChargeParties {
    pub flow: ChargeFlowKind,
    /// The direct charge's account, or the destination.
    pub account: Option<AccountRecord>,
    pub payment_method: PaymentMethod,
}

impl From<PolicyError> for ServiceError {
    fn from(error: PolicyError) -> Self {
        ServiceError::Policy {
            message: error.to_string(),
            policy: error.policy().to_owned(),
            hook: error.hook().unwrap_or_default().to_owned(),
            line: error.line().and_then(|line| u32::try_from(line).ok()),
            column: error.column().and_then(|column| u32::try_from(column).ok()),
        }
    }
}

pub fn policy_account_type(account_type: AccountType) -> PolicyAccountType {
    match account_type {
        AccountType::Standard => PolicyAccountType::Standard,
        AccountType::Express => PolicyAccountType::Express,
        AccountType::Custom => PolicyAccountType::Custom,
    }
}

pub fn policy_flow(flow: ChargeFlowKind) -> ChargeFlow {
    match flow {
        ChargeFlowKind::Direct => ChargeFlow::Direct,
        ChargeFlowKind::Destination => ChargeFlow::Destination,
        ChargeFlowKind::Separate => ChargeFlow::Separate,
    }
}

pub fn account_facts(account: &AccountRecord) -> AccountFacts {
    AccountFacts {
        id: account.id().to_string(),
        account_type: policy_account_type(account.account_type()),
        country: account.country().code().to_owned(),
        default_currency: account.default_currency(),
        metadata: account.metadata().as_map().clone(),
    }
}

/// Checks `route` destinations: this platform's accounts with TRANSFERS active. It runs on
/// the policy threads, so it owns a handle to the store rather than borrowing the request.
pub(super) struct PlatformDirectory {
    pub(super) store: Store,
    pub(super) platform: String,
}

impl SplitDirectory for PlatformDirectory {
    fn check_destination(&self, account_id: &str) -> Result<(), String> {
        let id = AccountId::parse(account_id).map_err(|error| error.to_string())?;
        match self
            .store
            .get_object::<AccountRecord>(&self.platform, id.as_ref())
        {
            Ok(Some(found)) if found.value.transfers_active() => Ok(()),
            Ok(Some(_)) => Err(format!(
                "{account_id} does not have the TRANSFERS capability active"
            )),
            Ok(None) => Err(format!("{account_id} is not an account of this platform")),
            Err(error) => Err(format!("{account_id} could not be read: {error}")),
        }
    }
}

impl Services {
    /// Decides the flow and reads the accounts a charge involves, refusing what cannot be
    /// charged: an account without CARD_PAYMENTS, a destination without TRANSFERS.
    pub fn charge_parties(
        &self,
        caller: &Caller,
        input: &NewCharge,
    ) -> Result<ChargeParties, ServiceError> {
        let payment_method = PaymentMethod::parse(&input.payment_method)
            .map_err(|error| ServiceError::invalid("input.paymentMethod", error.to_string()))?;
        crate::domain::charges::check_amounts(
            input.amount,
            input.application_fee,
            input.transfer_amount,
        )
        .map_err(|error| {
            let param = match error {
                crate::domain::charges::ChargeRuleError::TransferAboveAmount { .. } => {
                    "input.transferData.amount"
                }
                crate::domain::charges::ChargeRuleError::DirectWithTransferData => {
                    "input.transferData"
                }
                _ => "input.applicationFeeAmount",
            };
            ServiceError::invalid(param, error.to_string())
        })?;
        if let Some(on_behalf_of) = &input.on_behalf_of {
            self.account_named(caller, on_behalf_of, "input.onBehalfOf")?;
        }
        if let Some(direct) = &caller.connect_account {
            if input.destination.is_some() {
                return Err(ServiceError::invalid(
                    "input.transferData",
                    crate::domain::charges::ChargeRuleError::DirectWithTransferData.to_string(),
                ));
            }
            let account = self.account_named(caller, direct, "Connect-Account")?.value;
            if !account.card_payments_active() {
                return Err(ServiceError::AccountRestricted {
                    message: format!(
                        "{direct} cannot take charges: its CARD_PAYMENTS capability is not active"
                    ),
                    account: direct.to_string(),
                    param: Some("Connect-Account".to_owned()),
                });
            }
            return Ok(ChargeParties {
                flow: ChargeFlowKind::Direct,
                account: Some(account),
                payment_method,
            });
        }
        if let Some(destination) = &input.destination {
            let account = self
                .account_named(caller, destination, "input.transferData.destination")?
                .value;
            if !account.transfers_active() {
                return Err(ServiceError::AccountRestricted {
                    message: format!("{destination} cannot receive transfers: its TRANSFERS capability is not active"),
                    account: destination.to_string(),
                    param: Some("input.transferData.destination".to_owned()),
                });
            }
            return Ok(ChargeParties {
                flow: ChargeFlowKind::Destination,
                account: Some(account),
                payment_method,
            });
        }
        if input.application_fee.is_some() {
            // Stripe's rule: a fee is taken from a connected account, so a charge on the
            // platform alone has nobody to take it from; dropping it would lose it silently.
            return Err(ServiceError::invalid(
                "input.applicationFeeAmount",
                "applicationFeeAmount needs a connected account: give transferData.destination (a destination charge) or the Connect-Account header (a direct charge)",
            ));
        }
        Ok(ChargeParties {
            flow: ChargeFlowKind::Separate,
            account: None,
            payment_method,
        })
    }

    /// Stripe's rules on `onBehalfOf` for a new charge: the account the charge settles for
    /// must be able to take card payments, and a destination (or direct) charge can only
    /// be made on behalf of its destination (or its own account).
    pub fn check_on_behalf_of(
        &self,
        caller: &Caller,
        input: &NewCharge,
        parties: &ChargeParties,
    ) -> Result<(), ServiceError> {
        let Some(on_behalf_of) = &input.on_behalf_of else {
            return Ok(());
        };
        let required = match parties.flow {
            ChargeFlowKind::Destination => input
                .destination
                .as_ref()
                .map(|id| (id, "transferData.destination")),
            ChargeFlowKind::Direct => caller
                .connect_account
                .as_ref()
                .map(|id| (id, "the Connect-Account")),
            ChargeFlowKind::Separate => None,
        };
        if let Some((required, named)) = required {
            if required != on_behalf_of {
                return Err(ServiceError::invalid(
                    "input.onBehalfOf",
                    format!("onBehalfOf must be {named} ({required}), not {on_behalf_of}"),
                ));
            }
        }
        let account = self
            .account_named(caller, on_behalf_of, "input.onBehalfOf")?
            .value;
        if !account.card_payments_active() {
            return Err(ServiceError::AccountRestricted {
                message: format!(
                    "A charge cannot be made on behalf of {on_behalf_of}: its CARD_PAYMENTS capability is not active"
                ),
                account: on_behalf_of.to_string(),
                param: Some("input.onBehalfOf".to_owned()),
            });
        }
        Ok(())
    }

    pub fn charge_facts(
        &self,
        caller: &Caller,
        input: &NewCharge,
        parties: &ChargeParties,
        amount: MinorUnits,
    ) -> ChargeFacts {
        let card = &parties.payment_method.card;
        ChargeFacts {
            amount,
            currency: input.currency,
            flow: policy_flow(parties.flow),
            payment_method: parties.payment_method.name.to_owned(),
            card: CardFacts {
                brand: card.brand.to_owned(),
                country: card.country.to_owned(),
                funding: card.funding.to_owned(),
            },
            account: parties.account.as_ref().map(account_facts),
            on_behalf_of: input.on_behalf_of.as_ref().map(ToString::to_string),
            metadata: input.metadata.clone(),
            description: input.description.clone(),
            transfer_group: input.transfer_group.clone(),
            platform: PlatformFacts {
                id: caller.platform.id.to_string(),
                name: caller.platform.name.clone(),
                country: caller.platform.country.clone(),
            },
            created_unix_seconds: self.clock.now(&caller.platform.id).timestamp(),
        }
    }

    /// Prices a charge of `amount` with the platform's policy and the gateway's, on the
    /// policy threads within the platform's share; with the gateway's dispute fee too when
    /// the card disputes every charge.
    pub async fn price_charge(
        &self,
        caller: &Caller,
        input: &NewCharge,
        parties: &ChargeParties,
        amount: MinorUnits,
        requested_fee: Option<MinorUnits>,
    ) -> Result<PricedCharge, ServiceError> {
        let facts = self.charge_facts(caller, input, parties, amount);
        let recorded = recorded_facts(&facts);
        let request = ChargeRequest {
            facts,
            requested_application_fee: requested_fee,
            has_transfer_data: input.destination.is_some(),
        };
        let directory = PlatformDirectory {
            store: self.store.clone(),
            platform: caller.platform_key(),
        };
        let policy_name = caller.platform.policy.clone();
        let disputed = parties.payment_method.behaviour == Behaviour::SucceedsThenDisputed;
        let started = std::time::Instant::now();
        let decided = self
            .policies
            .run(&caller.platform_key(), move |policies| {
                let decision = policies.decide_charge(&policy_name, &request, &directory)?;
                let dispute_fee = if disputed {
                    let facts = PreparedCharge::new(&request.facts);
                    Some(policies.gateway()?.dispute_fee(&facts)?)
                } else {
                    None
                };
                Ok((decision, dispute_fee))
            })
            .await;
        metrics::histogram!(
            "tollgate_policy_evaluation_seconds",
            "platform" => caller.platform.id.to_string()
        )
        .record(started.elapsed());
        let (decision, dispute_fee) = decided?;
        let mut splits = Vec::with_capacity(decision.splits.len());
        for split in decision.splits {
            let destination = AccountId::parse(&split.destination)
                .map_err(|error| ServiceError::internal("split destination", error))?;
            splits.push(PricedSplit {
                destination,
                amount: split.amount,
            });
        }
        let platform_pays_processing_fee = match (parties.flow, &parties.account) {
            (ChargeFlowKind::Direct, Some(account)) => {
                let payer = decision.processing_fee_payer.unwrap_or_else(|| {
                    FeePayer::default_for(policy_account_type(account.account_type()))
                });
                payer == FeePayer::Platform
            }
            _ => false,
        };
        let application_fee = charged_application_fee(
            parties.flow,
            input.transfer_amount.is_some(),
            decision.application_fee,
        );
        let pricing = Pricing {
            policy: decision.policy_name,
            version: decision.policy_version,
            gateway_version: decision.gateway_version,
            processing_fee: decision.processing_fee,
            application_fee,
            application_fee_from_request: decision.application_fee_from_request,
            splits,
            hold_days: decision.hold_days,
            platform_pays_processing_fee,
            facts: Some(recorded),
        };
        Ok(PricedCharge {
            pricing,
            dispute_fee,
        })
    }

    /// What the platform's policy would decide for this charge; moves no money.
    pub async fn preview_charge(
        &self,
        caller: &Caller,
        input: &NewCharge,
    ) -> Result<Pricing, ServiceError> {
        let parties = self.charge_parties(caller, input)?;
        let priced = self
            .price_charge(caller, input, &parties, input.amount, input.application_fee)
            .await?;
        Ok(priced.pricing)
    }
}
