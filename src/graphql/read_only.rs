//! The one rule for read-only callers (restricted keys, and any credential that sets
//! `Caller::read_only`): a document that runs a mutation is refused as FORBIDDEN before it
//! is validated or any resolver runs, whatever the mutation; queries and subscriptions run.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Request, ServerError, ServerResult};

use crate::graphql::errors::to_graphql;
use crate::service::{Caller, ServiceError};

/// The extension factory; it holds nothing.
pub struct ReadOnlyRule;

impl ExtensionFactory for ReadOnlyRule {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReadOnlyRule)
    }
}

/// The refusal every mutation by a read-only caller gets.
fn refusal() -> ServerError {
    to_graphql(ServiceError::forbidden(
        Some("Authorization"),
        "This key is read-only: it may run queries and subscriptions but no mutation; use the platform's secret key to make changes",
    ))
    .into_server_error(Default::default())
}

/// Whether the operation the request runs is a mutation. When the operation cannot be told
/// apart (several and no name), any mutation among them counts. A document that does not
/// parse runs nothing and is left for the parser to report.
fn runs_mutation(request: &mut Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let is_mutation = |ty: OperationType| ty == OperationType::Mutation;
    match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => is_mutation(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(candidate, _)| candidate.as_str() == name)
            .is_some_and(|(_, operation)| is_mutation(operation.node.ty)),
        (DocumentOperations::Multiple(operations), None) => operations
            .values()
            .any(|operation| is_mutation(operation.node.ty)),
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ReadOnlyRule {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // The caller is in the request's data over HTTP, in the session's over a websocket.
        let read_only = request
            .data
            .get(&TypeId::of::<Caller>())
            .and_then(|caller| caller.downcast_ref::<Caller>())
            .or_else(|| ctx.data_opt::<Caller>())
            .is_some_and(|caller| caller.read_only);
        if read_only && runs_mutation(&mut request) {
            return Err(refusal());
        }
        next.run(ctx, request).await
    }
}
