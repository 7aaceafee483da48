//! The fund flows of a charge and of a transfer, as ledger lines: who gains and who pays,
//! exactly as the design's worked examples say.
//!
//! Destination charge of 10000 with an application fee of 123 and a processing fee of 320:
//! platform CHARGE +10000 (fee 320), platform TRANSFER −10000, platform APPLICATION_FEE +123,
//! destination PAYMENT +10000 (fee 123), card network −10000, gateway +320.
//! Nets: destination +9877, platform −197, gateway +320.

use chrono::{DateTime, Utc};

use super::{
    BalanceTransactionType, EntryBuilder, FeeDetail, FeeType, Holder, LedgerError, LineSpec,
};
use crate::ids::{AccountId, BalanceTransactionId, PlatformId};
use crate::money::{Currency, MinorUnits};

/// An application fee taken from a connected account.
#[derive(Clone, Debug)]
pub struct FeeLeg {
    pub fee_id: String,
    pub amount: MinorUnits,
}

/// A transfer from the platform to a connected account, and its payment there.
#[derive(Clone, Debug)]
pub struct TransferLeg {
    pub destination: AccountId,
    pub transfer_id: String,
    pub payment_id: String,
    pub amount: MinorUnits,
}

#[derive(Clone, Debug)]
pub enum ChargeFlow {
    /// On a connected account; the application fee goes to the platform.
    Direct {
        account: AccountId,
        application_fee: Option<FeeLeg>,
        platform_pays_processing_fee: bool,
    },
    /// On the platform; one transfer to the destination, which pays the application fee.
    Destination {
        transfer: TransferLeg,
        application_fee: Option<FeeLeg>,
    },
    /// On the platform; routed transfers drawn on the charge, if any.
    Separate { transfers: Vec<TransferLeg> },
}

#[derive(Clone, Debug)]
pub struct ChargeMovement {
    pub platform: PlatformId,
    pub charge_id: String,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub processing_fee: MinorUnits,
    /// When the funds become available; `None` means at once.
    pub available_on: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub flow: ChargeFlow,
}

/// The balance transactions a charge created, for the objects that point at them.
#[derive(Clone, Debug, Default)]
pub struct ChargeLines {
    /// The charge's own balance transaction (on the platform, or the account for direct).
    pub charge: Option<BalanceTransactionId>,
    /// The platform's application fee balance transaction.
    pub application_fee: Option<BalanceTransactionId>,
    /// Per transfer id: the platform's TRANSFER and the destination's PAYMENT.
    pub transfers: Vec<(String, BalanceTransactionId, BalanceTransactionId)>,
}

fn fee(fee_type: FeeType, amount: MinorUnits) -> Option<FeeDetail> {
    (!amount.is_zero()).then_some(FeeDetail {
        fee_type,
        amount,
        description: None,
    })
}

fn line(
    movement: &ChargeMovement,
    holder: Holder,
    transaction_type: BalanceTransactionType,
    source_id: &str,
    amount: MinorUnits,
    fees: Vec<Option<FeeDetail>>,
) -> LineSpec {
    LineSpec {
        holder,
        transaction_type,
        source_id: source_id.to_owned(),
        currency: movement.currency,
        amount,
        fee_details: fees.into_iter().flatten().collect(),
        available_on: movement.available_on,
        description: movement.description.clone(),
    }
}

/// Adds a charge's lines (and the card network's and gateway's sides) to an entry.
pub fn charge_lines(
    entry: &mut EntryBuilder<'_>,
    movement: &ChargeMovement,
) -> Result<ChargeLines, LedgerError> {
    let platform = Holder::Platform(movement.platform.clone());
    let charge_id = movement.charge_id.as_str();
    let mut lines = ChargeLines::default();
    match &movement.flow {
        ChargeFlow::Direct {
            account,
            application_fee,
            platform_pays_processing_fee,
        } => {
            let fee_amount = application_fee
                .as_ref()
                .map_or(MinorUnits::ZERO, |leg| leg.amount);
            let account_processing_fee = if *platform_pays_processing_fee {
                MinorUnits::ZERO
            } else {
                movement.processing_fee
            };
            lines.charge = Some(entry.line(line(
                movement,
                Holder::Account(account.clone()),
                BalanceTransactionType::Charge,
                charge_id,
                movement.amount,
                vec![
                    fee(FeeType::ProcessingFee, account_processing_fee),
                    fee(FeeType::ApplicationFee, fee_amount),
                ],
            ))?);
            let platform_processing_fee = movement
                .processing_fee
                .checked_sub(account_processing_fee)?;
            if !fee_amount.is_zero() || !platform_processing_fee.is_zero() {
                let source = application_fee
                    .as_ref()
                    .map_or(charge_id, |leg| leg.fee_id.as_str());
                lines.application_fee = Some(entry.line(line(
                    movement,
                    platform.clone(),
                    BalanceTransactionType::ApplicationFee,
                    source,
                    fee_amount,
                    vec![fee(FeeType::ProcessingFee, platform_processing_fee)],
                ))?);
            }
        }
        ChargeFlow::Destination {
            transfer,
            application_fee,
        } => {
            lines.charge = Some(platform_charge_line(entry, movement, &platform)?);
            let fee_amount = application_fee
                .as_ref()
                .map_or(MinorUnits::ZERO, |leg| leg.amount);
            let (outgoing, incoming) =
                transfer_lines(entry, movement, &platform, transfer, fee_amount)?;
            lines
                .transfers
                .push((transfer.transfer_id.clone(), outgoing, incoming));
            if let Some(leg) = application_fee.as_ref().filter(|leg| !leg.amount.is_zero()) {
                lines.application_fee = Some(entry.line(line(
                    movement,
                    platform.clone(),
                    BalanceTransactionType::ApplicationFee,
                    &leg.fee_id,
                    leg.amount,
                    vec![],
                ))?);
            }
        }
        ChargeFlow::Separate { transfers } => {
            lines.charge = Some(platform_charge_line(entry, movement, &platform)?);
            for transfer in transfers {
                let (outgoing, incoming) =
                    transfer_lines(entry, movement, &platform, transfer, MinorUnits::ZERO)?;
                lines
                    .transfers
                    .push((transfer.transfer_id.clone(), outgoing, incoming));
            }
        }
    }
    entry.system(Holder::CardNetwork, movement.currency, -movement.amount);
    entry.system(Holder::Gateway, movement.currency, movement.processing_fee);
    Ok(lines)
}

fn platform_charge_line(
    entry: &mut EntryBuilder<'_>,
    movement: &ChargeMovement,
    platform: &Holder,
) -> Result<BalanceTransactionId, LedgerError> {
    entry.line(line(
        movement,
        platform.clone(),
        BalanceTransactionType::Charge,
        &movement.charge_id,
        movement.amount,
        vec![fee(FeeType::ProcessingFee, movement.processing_fee)],
    ))
}

/// The platform's TRANSFER and the destination's PAYMENT (which pays `application_fee`).
fn transfer_lines(
    entry: &mut EntryBuilder<'_>,
    movement: &ChargeMovement,
    platform: &Holder,
    transfer: &TransferLeg,
    application_fee: MinorUnits,
) -> Result<(BalanceTransactionId, BalanceTransactionId), LedgerError> {
    let outgoing = entry.line(line(
        movement,
        platform.clone(),
        BalanceTransactionType::Transfer,
        &transfer.transfer_id,
        -transfer.amount,
        vec![],
    ))?;
    let incoming = entry.line(line(
        movement,
        Holder::Account(transfer.destination.clone()),
        BalanceTransactionType::Payment,
        &transfer.payment_id,
        transfer.amount,
        vec![fee(FeeType::ApplicationFee, application_fee)],
    ))?;
    Ok((outgoing, incoming))
}

/// A transfer on its own: platform → connected account, pending with its source charge or
/// available at once.
pub fn standalone_transfer_lines(
    entry: &mut EntryBuilder<'_>,
    platform: &PlatformId,
    currency: Currency,
    transfer: &TransferLeg,
    available_on: Option<DateTime<Utc>>,
    description: Option<String>,
) -> Result<(BalanceTransactionId, BalanceTransactionId), LedgerError> {
    let movement = ChargeMovement {
        platform: platform.clone(),
        charge_id: String::new(),
        currency,
        amount: transfer.amount,
        processing_fee: MinorUnits::ZERO,
        available_on,
        description,
        flow: ChargeFlow::Separate { transfers: vec![] },
    };
    transfer_lines(
        entry,
        &movement,
        &Holder::Platform(platform.clone()),
        transfer,
        MinorUnits::ZERO,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;
    use crate::ledger::{Entry, EntryKind};
    use std::collections::BTreeMap;

    fn minor(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("minor")
    }

    fn nets(entry: &Entry) -> BTreeMap<String, i64> {
        let mut nets = BTreeMap::new();
        for posting in entry.postings() {
            let holder = match &posting.account.holder {
                Holder::Platform(_) => "platform".to_owned(),
                Holder::Account(id) => id.to_string(),
                other => other.to_string(),
            };
            *nets.entry(holder).or_default() += posting.amount.get();
        }
        nets
    }

    fn movement(
        ids: &IdGenerator,
        platform: &PlatformId,
        amount: i64,
        processing_fee: i64,
        flow: ChargeFlow,
    ) -> ChargeMovement {
        let charge: crate::ids::ChargeId = ids.next();
        ChargeMovement {
            platform: platform.clone(),
            charge_id: charge.to_string(),
            currency: Currency::parse("usd").expect("usd"),
            amount: minor(amount),
            processing_fee: minor(processing_fee),
            available_on: Some(Utc::now() + chrono::Duration::days(2)),
            description: None,
            flow,
        }
    }

    fn build(ids: &IdGenerator, platform: &PlatformId, movement: &ChargeMovement) -> Entry {
        let mut entry = EntryBuilder::new(
            ids,
            platform,
            EntryKind::Charge,
            &movement.charge_id,
            Utc::now(),
        );
        charge_lines(&mut entry, movement).expect("lines");
        entry.build().expect("balanced")
    }

    #[test]
    fn destination_charge_with_application_fee() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let account: AccountId = ids.next();
        let flow = ChargeFlow::Destination {
            transfer: TransferLeg {
                destination: account.clone(),
                transfer_id: "tr_x".into(),
                payment_id: "py_x".into(),
                amount: minor(10000),
            },
            application_fee: Some(FeeLeg {
                fee_id: "fee_x".into(),
                amount: minor(123),
            }),
        };
        let entry = build(
            &ids,
            &platform,
            &movement(&ids, &platform, 10000, 320, flow),
        );
        let nets = nets(&entry);
        assert_eq!(nets[&account.to_string()], 9877);
        assert_eq!(nets["platform"], -197);
        assert_eq!(nets["gateway"], 320);
        assert_eq!(nets["card_network"], -10000);
    }

    #[test]
    fn destination_charge_with_transfer_amount_has_the_same_nets() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let account: AccountId = ids.next();
        let flow = ChargeFlow::Destination {
            transfer: TransferLeg {
                destination: account.clone(),
                transfer_id: "tr_x".into(),
                payment_id: "py_x".into(),
                amount: minor(9877),
            },
            application_fee: None,
        };
        let entry = build(
            &ids,
            &platform,
            &movement(&ids, &platform, 10000, 320, flow),
        );
        let nets = nets(&entry);
        assert_eq!(nets[&account.to_string()], 9877);
        assert_eq!(nets["platform"], -197);
    }

    #[test]
    fn direct_charge_fee_payers() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let account: AccountId = ids.next();
        for (platform_pays, account_net, platform_net) in [(false, 741, 200), (true, 800, 141)] {
            let flow = ChargeFlow::Direct {
                account: account.clone(),
                application_fee: Some(FeeLeg {
                    fee_id: "fee_x".into(),
                    amount: minor(200),
                }),
                platform_pays_processing_fee: platform_pays,
            };
            let entry = build(&ids, &platform, &movement(&ids, &platform, 1000, 59, flow));
            let nets = nets(&entry);
            assert_eq!(nets[&account.to_string()], account_net);
            assert_eq!(nets["platform"], platform_net);
        }
    }

    #[test]
    fn separate_charge_with_two_routed_transfers() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let (a, b): (AccountId, AccountId) = (ids.next(), ids.next());
        let leg = |destination: &AccountId, amount: i64, n: u8| TransferLeg {
            destination: destination.clone(),
            transfer_id: format!("tr_{n}"),
            payment_id: format!("py_{n}"),
            amount: minor(amount),
        };
        let flow = ChargeFlow::Separate {
            transfers: vec![leg(&a, 7000, 1), leg(&b, 2000, 2)],
        };
        let entry = build(
            &ids,
            &platform,
            &movement(&ids, &platform, 10000, 320, flow),
        );
        let nets = nets(&entry);
        assert_eq!(nets["platform"], 680);
        assert_eq!(nets[&a.to_string()], 7000);
        assert_eq!(nets[&b.to_string()], 2000);
    }
}
