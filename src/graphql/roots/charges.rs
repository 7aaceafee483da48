//! Charges, transfers and application fees: queries, mutations and their inputs.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, ID};

use super::core::{optional_account, optional_idempotency_key, parse_description};
use crate::domain::charges::{ApplicationFee, Charge, Transfer};
use crate::domain::text::{parse_text, MAX_TRANSFER_GROUP_CHARS};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{CurrencyScalar, MetadataScalar, MinorUnitsScalar};
use crate::graphql::types::batches::ChargeResultObject;
use crate::graphql::types::charges::{
    ApplicationFeeObject, ChargeObject, PolicyDecisionObject, TransferObject,
    TransferReversalObject,
};
use crate::ids::{AccountId, ChargeId, TransferId};
use crate::service::captures::CaptureCharge;
use crate::service::charge_batches::MAX_CHARGES_PER_BATCH;
use crate::service::pricing::NewCharge;
use crate::service::transfers::{NewTransfer, NewTransferReversal};
use crate::service::{IdempotencyKey, ServiceError};

#[derive(InputObject)]
pub struct TransferDataInput {
    pub destination: ID,
    /// When set, this amount goes to the destination and the rest stays with the platform (no application fee object).
    pub amount: Option<MinorUnitsScalar>,
}

#[derive(InputObject)]
pub struct CreateChargeInput {
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    /// A test payment method, e.g. pm_card_visa, pm_card_chargeDeclined, pm_card_createDispute.
    pub payment_method: String,
    /// false authorizes only; captureCharge settles it later.
    #[graphql(default_with = "Some(true)")]
    pub capture: Option<bool>,
    /// When omitted, the platform's policy decides the application fee.
    pub application_fee_amount: Option<MinorUnitsScalar>,
    pub on_behalf_of: Option<ID>,
    pub transfer_data: Option<TransferDataInput>,
    pub transfer_group: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<MetadataScalar>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CaptureChargeInput {
    pub charge: ID,
    /// Defaults to the whole authorized amount.
    pub amount: Option<MinorUnitsScalar>,
    pub application_fee_amount: Option<MinorUnitsScalar>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CreateTransferInput {
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    pub destination: ID,
    pub source_transaction: Option<ID>,
    pub transfer_group: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<MetadataScalar>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CreateTransferReversalInput {
    pub transfer: ID,
    pub amount: Option<MinorUnitsScalar>,
    #[graphql(default_with = "Some(false)")]
    pub refund_application_fee: Option<bool>,
    pub idempotency_key: Option<String>,
}

fn parse_id<T>(
    param: &str,
    id: &ID,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Result<T, ServiceError> {
    parse(id).map_err(|error| ServiceError::id(param, error))
}

/// Parses optional metadata with its limits (50 keys, 40-character keys, 500-character values).
fn parse_metadata(
    param: &str,
    metadata: Option<MetadataScalar>,
) -> Result<std::collections::BTreeMap<String, String>, ServiceError> {
    let Some(metadata) = metadata else {
        return Ok(Default::default());
    };
    let pairs = metadata.to_pairs(param)?;
    crate::domain::metadata::Metadata::parse(pairs)
        .map(|metadata| metadata.as_map().clone())
        .map_err(|error| ServiceError::invalid(param, format!("Invalid {param}: {error}")))
}

fn parse_transfer_group(
    param: &str,
    group: Option<String>,
) -> Result<Option<String>, ServiceError> {
    parse_text(group, MAX_TRANSFER_GROUP_CHARS)
        .map_err(|error| ServiceError::invalid(param, format!("Invalid {param}: it {error}")))
}

fn parse_charge(
    input: CreateChargeInput,
) -> Result<(NewCharge, Option<IdempotencyKey>), ServiceError> {
    let CreateChargeInput {
        amount,
        currency,
        payment_method,
        capture,
        application_fee_amount,
        on_behalf_of,
        transfer_data,
        transfer_group,
        description,
        metadata,
        idempotency_key,
    } = input;
    let (destination, transfer_amount) = match transfer_data {
        Some(TransferDataInput {
            destination,
            amount,
        }) => (
            Some(parse_id(
                "input.transferData.destination",
                &destination,
                AccountId::parse,
            )?),
            amount
                .map(|amount| amount.to_amount("input.transferData.amount"))
                .transpose()?,
        ),
        None => (None, None),
    };
    let charge = NewCharge {
        amount: amount.to_amount("input.amount")?,
        currency: currency.to_currency("input.currency")?,
        payment_method,
        capture: capture.unwrap_or(true),
        application_fee: application_fee_amount
            .map(|fee| fee.to_fee("input.applicationFeeAmount"))
            .transpose()?,
        on_behalf_of: on_behalf_of
            .map(|id| parse_id("input.onBehalfOf", &id, AccountId::parse))
            .transpose()?,
        destination,
        transfer_amount,
        transfer_group: parse_transfer_group("input.transferGroup", transfer_group)?,
        description: parse_description("input.description", description)?,
        metadata: parse_metadata("input.metadata", metadata)?,
    };
    Ok((
        charge,
        optional_idempotency_key(idempotency_key.as_deref())?,
    ))
}

#[derive(Default)]
pub struct ChargesQuery;

#[Object]
impl ChargesQuery {
    async fn charge(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ChargeObject>> {
        parse_id("id", &id, ChargeId::parse).gql()?;
        let found = services(ctx)
            .find_required::<Charge>(caller(ctx)?, &id, "id", "charge")
            .gql()?;
        Ok(Some(ChargeObject(found.value)))
    }

    async fn charges(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        account: Option<ID>,
        transfer_group: Option<String>,
    ) -> async_graphql::Result<Connection<String, ChargeObject>> {
        let request = page_request(first, after)?;
        let account = optional_account("account", account.as_ref()).gql()?;
        let transfer_group = parse_transfer_group("transferGroup", transfer_group).gql()?;
        let page = services(ctx)
            .charges(caller(ctx)?, account, transfer_group, &request)
            .gql()?;
        Ok(connection(page, ChargeObject))
    }

    async fn transfer(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<TransferObject>> {
        parse_id("id", &id, TransferId::parse).gql()?;
        let found = services(ctx)
            .find_required::<Transfer>(caller(ctx)?, &id, "id", "transfer")
            .gql()?;
        Ok(Some(TransferObject(found.value)))
    }

    async fn transfers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        destination: Option<ID>,
        transfer_group: Option<String>,
    ) -> async_graphql::Result<Connection<String, TransferObject>> {
        let request = page_request(first, after)?;
        let destination = optional_account("destination", destination.as_ref()).gql()?;
        let transfer_group = parse_transfer_group("transferGroup", transfer_group).gql()?;
        let page = services(ctx)
            .transfers(caller(ctx)?, destination, transfer_group, &request)
            .gql()?;
        Ok(connection(page, TransferObject))
    }

    async fn application_fee(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<ApplicationFeeObject>> {
        parse_id("id", &id, crate::ids::ApplicationFeeId::parse).gql()?;
        let found = services(ctx)
            .find_required::<ApplicationFee>(caller(ctx)?, &id, "id", "application fee")
            .gql()?;
        Ok(Some(ApplicationFeeObject(found.value)))
    }

    /// What the platform's policy would decide for this charge; moves no money.
    async fn preview_charge(
        &self,
        ctx: &Context<'_>,
        input: CreateChargeInput,
    ) -> async_graphql::Result<PolicyDecisionObject> {
        let (charge, _) = parse_charge(input).gql()?;
        let pricing = services(ctx)
            .preview_charge(caller(ctx)?, &charge)
            .await
            .gql()?;
        Ok(PolicyDecisionObject {
            pricing,
            currency: charge.currency,
        })
    }
}

#[derive(Default)]
pub struct ChargesMutation;

#[Object]
impl ChargesMutation {
    async fn create_charge(
        &self,
        ctx: &Context<'_>,
        input: CreateChargeInput,
    ) -> async_graphql::Result<ChargeObject> {
        let (charge, key) = parse_charge(input).gql()?;
        services(ctx)
            .create_charge(caller(ctx)?, charge, key)
            .await
            .map(ChargeObject)
            .gql()
    }

    /// At most 100 charges, each with its own idempotency key and its own result.
    async fn create_charges(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateChargeInput>,
    ) -> async_graphql::Result<Vec<ChargeResultObject>> {
        if inputs.len() > MAX_CHARGES_PER_BATCH {
            return Err(ServiceError::invalid(
                "inputs",
                format!(
                    "A batch holds at most {MAX_CHARGES_PER_BATCH} charges; this one has {}",
                    inputs.len()
                ),
            ))
            .gql();
        }
        let parsed = inputs.into_iter().map(parse_charge).collect();
        let outcomes = services(ctx)
            .create_charges(caller(ctx)?, parsed)
            .await
            .gql()?;
        Ok(outcomes.into_iter().map(ChargeResultObject::from).collect())
    }

    async fn capture_charge(
        &self,
        ctx: &Context<'_>,
        input: CaptureChargeInput,
    ) -> async_graphql::Result<ChargeObject> {
        let CaptureChargeInput {
            charge,
            amount,
            application_fee_amount,
            idempotency_key,
        } = input;
        let capture = CaptureCharge {
            charge: parse_id("input.charge", &charge, ChargeId::parse).gql()?,
            amount: amount
                .map(|amount| amount.to_amount("input.amount"))
                .transpose()
                .gql()?,
            application_fee: application_fee_amount
                .map(|fee| fee.to_fee("input.applicationFeeAmount"))
                .transpose()
                .gql()?,
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        services(ctx)
            .capture_charge(caller(ctx)?, capture, key)
            .await
            .map(ChargeObject)
            .gql()
    }

    async fn create_transfer(
        &self,
        ctx: &Context<'_>,
        input: CreateTransferInput,
    ) -> async_graphql::Result<TransferObject> {
        let CreateTransferInput {
            amount,
            currency,
            destination,
            source_transaction,
            transfer_group,
            description,
            metadata,
            idempotency_key,
        } = input;
        let parsed = (|| {
            Ok::<_, ServiceError>(NewTransfer {
                amount: amount.to_amount("input.amount")?,
                currency: currency.to_currency("input.currency")?,
                destination: parse_id("input.destination", &destination, AccountId::parse)?,
                source_transaction: source_transaction
                    .map(|id| parse_id("input.sourceTransaction", &id, ChargeId::parse))
                    .transpose()?,
                transfer_group: parse_transfer_group("input.transferGroup", transfer_group)?,
                description: parse_description("input.description", description)?,
                metadata: parse_metadata("input.metadata", metadata)?,
            })
        })()
        .gql()?;
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        services(ctx)
            .create_transfer(caller(ctx)?, parsed, key)
            .await
            .map(TransferObject)
            .gql()
    }

    async fn create_transfer_reversal(
        &self,
        ctx: &Context<'_>,
        input: CreateTransferReversalInput,
    ) -> async_graphql::Result<TransferReversalObject> {
        let CreateTransferReversalInput {
            transfer,
            amount,
            refund_application_fee,
            idempotency_key,
        } = input;
        let reversal = NewTransferReversal {
            transfer: parse_id("input.transfer", &transfer, TransferId::parse).gql()?,
            amount: amount
                .map(|amount| amount.to_amount("input.amount"))
                .transpose()
                .gql()?,
            refund_application_fee: refund_application_fee.unwrap_or(false),
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        let services = services(ctx);
        let caller = caller(ctx)?;
        let stored = services
            .create_transfer_reversal(caller, reversal, key)
            .await
            .gql()?;
        let transfer = services.transfer(caller, stored.transfer.as_ref()).gql()?;
        Ok(TransferReversalObject {
            reversal: stored.reversal,
            transfer,
        })
    }
}
