//! Disputes: queries, evidence and the card network's decision (a test helper).

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, ID};

use super::refunds::parse_id;
use crate::domain::disputes::{Dispute, MAX_EVIDENCE_CHARS};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::types::disputes::{DisputeObject, DisputeOutcomeEnum, DisputeStatusEnum};
use crate::ids::DisputeId;
use crate::service::disputes::{DisputeDecision, DisputeEvidence};
use crate::service::ServiceError;

#[derive(InputObject)]
pub struct SubmitDisputeEvidenceInput {
    pub dispute: ID,
    pub evidence: String,
}

#[derive(InputObject)]
pub struct CloseDisputeInput {
    pub dispute: ID,
    /// Test helper: the card network's decision.
    pub outcome: DisputeOutcomeEnum,
}

#[derive(Default)]
pub struct DisputesQuery;

#[Object]
impl DisputesQuery {
    async fn dispute(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<DisputeObject>> {
        parse_id("id", &id, DisputeId::parse).gql()?;
        let found = services(ctx)
            .find_required::<Dispute>(caller(ctx)?, &id, "id", "dispute")
            .gql()?;
        Ok(Some(DisputeObject(found.value)))
    }

    async fn disputes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<DisputeStatusEnum>,
    ) -> async_graphql::Result<Connection<String, DisputeObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .disputes(caller(ctx)?, status.map(Into::into), &request)
            .gql()?;
        Ok(connection(page, DisputeObject))
    }
}

#[derive(Default)]
pub struct DisputesMutation;

#[Object]
impl DisputesMutation {
    async fn submit_dispute_evidence(
        &self,
        ctx: &Context<'_>,
        input: SubmitDisputeEvidenceInput,
    ) -> async_graphql::Result<DisputeObject> {
        let SubmitDisputeEvidenceInput { dispute, evidence } = input;
        if evidence.chars().count() > MAX_EVIDENCE_CHARS {
            return Err(ServiceError::invalid(
                "input.evidence",
                format!("Evidence must be at most {MAX_EVIDENCE_CHARS} characters"),
            ))
            .gql();
        }
        let evidence = DisputeEvidence {
            dispute: parse_id("input.dispute", &dispute, DisputeId::parse).gql()?,
            evidence,
        };
        services(ctx)
            .submit_dispute_evidence(caller(ctx)?, evidence)
            .await
            .map(DisputeObject)
            .gql()
    }

    async fn close_dispute(
        &self,
        ctx: &Context<'_>,
        input: CloseDisputeInput,
    ) -> async_graphql::Result<DisputeObject> {
        let CloseDisputeInput { dispute, outcome } = input;
        let decision = DisputeDecision {
            dispute: parse_id("input.dispute", &dispute, DisputeId::parse).gql()?,
            outcome: outcome.into(),
        };
        services(ctx)
            .close_dispute(caller(ctx)?, decision)
            .await
            .map(DisputeObject)
            .gql()
    }
}
