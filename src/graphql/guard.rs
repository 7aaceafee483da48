//! The guard every GraphQL request passes before and while it runs: its cost and size
//! (measured from the parsed document, before validation or any resolver), its platform's
//! rate limits (reads and writes counted apart), and its deadline.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use std::any::TypeId;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError, ServerResult, Value};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Limits;
use crate::graphql::cost::{self, CostError, IntrospectionBounds, OperationCost};
use crate::ids::PlatformId;
use crate::service::Caller;

/// Why the guard refused or stopped a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GuardError {
    #[error("The query would cost {cost}, more than the limit of {limit}: ask for smaller pages (first), fewer fields or fewer aliases")]
    TooCostly { cost: u64, limit: u64 },
    #[error("The query names {fields} fields once its fragments are expanded, more than the limit of {limit}")]
    TooManyFields { fields: u64, limit: u64 },
    #[error("The query is too deeply nested: {0}")]
    TooDeep(CostError),
    #[error("Too many {budget} for this key: retry after {retry_after_seconds} s")]
    RateLimited {
        budget: Budget,
        retry_after_seconds: u64,
    },
    #[error("The request ran past its deadline of {deadline_milliseconds} ms and was stopped")]
    DeadlineExceeded { deadline_milliseconds: u64 },
    #[error("The response would be {bytes} bytes, more than the limit of {limit}: ask for smaller pages or fewer fields")]
    ResponseTooLarge { bytes: u64, limit: u64 },
}

/// The two rate-limit budgets of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Reads,
    Writes,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Budget::Reads => "reads",
            Budget::Writes => "writes",
        })
    }
}

impl GuardError {
    /// The GraphQL error; see `errors::guard_error`.
    pub fn to_server_error(&self) -> ServerError {
        crate::graphql::errors::guard_error(self)
    }
}

type KeyedLimiter = DefaultKeyedRateLimiter<PlatformId>;

fn limiter(per_second: u32, burst: u32) -> Option<KeyedLimiter> {
    let per_second = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(per_second);
    Some(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

struct Shared {
    limits: Limits,
    introspection: OnceLock<IntrospectionBounds>,
    reads: Option<KeyedLimiter>,
    writes: Option<KeyedLimiter>,
    clock: DefaultClock,
}

/// The extension factory, built once per schema; its rate limiters live as long as it.
pub struct Guard {
    shared: Arc<Shared>,
}

impl Guard {
    pub fn new(limits: Limits) -> Guard {
        Guard {
            shared: Arc::new(Shared {
                reads: limiter(limits.reads_per_second, limits.read_burst),
                writes: limiter(limits.writes_per_second, limits.write_burst),
                limits,
                introspection: OnceLock::new(),
                clock: DefaultClock::default(),
            }),
        }
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGuard {
            shared: self.shared.clone(),
            started: Instant::now(),
            operation: Mutex::new(None),
            expired: Mutex::new(false),
        })
    }
}

/// One request's guard: made when the request starts.
struct RequestGuard {
    shared: Arc<Shared>,
    started: Instant,
    /// What the document runs: a mutation is only stopped between root fields, and a
    /// subscription has no deadline (it lives as long as the client wants; each event's
    /// work is bounded by the cost check).
    operation: Mutex<Option<OperationType>>,
    /// Set when a field was refused for the deadline.
    expired: Mutex<bool>,
}

impl RequestGuard {
    /// The operation measured, if the document parsed; an unknown one is treated as a
    /// mutation (stopped only between root fields).
    fn operation(&self) -> Option<OperationType> {
        self.operation.lock().ok().and_then(|operation| *operation)
    }

    fn deadline(&self) -> Duration {
        Duration::from_millis(self.shared.limits.request_deadline_milliseconds)
    }

    fn deadline_error(&self) -> GuardError {
        GuardError::DeadlineExceeded {
            deadline_milliseconds: self.shared.limits.request_deadline_milliseconds,
        }
    }

    fn check(&self, costs: &[OperationCost]) -> Result<(), GuardError> {
        let limits = &self.shared.limits;
        for cost in costs {
            if cost.fields > limits.max_query_fields {
                return Err(GuardError::TooManyFields {
                    fields: cost.fields,
                    limit: limits.max_query_fields,
                });
            }
            if cost.introspection > limits.max_introspection_cost {
                return Err(GuardError::TooCostly {
                    cost: cost.introspection,
                    limit: limits.max_introspection_cost,
                });
            }
            if cost.cost > limits.max_query_cost {
                return Err(GuardError::TooCostly {
                    cost: cost.cost,
                    limit: limits.max_query_cost,
                });
            }
        }
        Ok(())
    }

    /// Takes the request's tokens from its platform's budget: one read, or one write per
    /// mutation field (per input of a batch).
    fn rate_limit(&self, platform: &PlatformId, costs: &[OperationCost]) -> Result<(), GuardError> {
        let mutations = costs
            .iter()
            .filter(|cost| cost.operation == OperationType::Mutation)
            .map(|cost| cost.writes)
            .max();
        let (budget, limiter, tokens) = match mutations {
            Some(fields) => (Budget::Writes, &self.shared.writes, fields),
            None => (Budget::Reads, &self.shared.reads, 1),
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        let tokens =
            NonZeroU32::new(u32::try_from(tokens).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let wait = match limiter.check_key_n(platform, tokens) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(self.shared.clock.now()),
            // More tokens than the whole burst: never possible; wait a full second's worth.
            Err(_) => Duration::from_secs(1),
        };
        Err(GuardError::RateLimited {
            budget,
            retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        })
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestGuard {
    /// Measures the document before anything walks it: async-graphql's own checks (recursion
    /// depth, validation) expand fragments, which a doubling chain turns into exponential
    /// work. A document that does not parse is left for the parser to report.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let registry = &ctx.schema_env.registry;
        let bounds = self
            .shared
            .introspection
            .get_or_init(|| IntrospectionBounds::of(registry));
        let operation_name = request.operation_name.clone();
        let variables = request.variables.clone();
        if let Ok(document) = request.parsed_query() {
            let costs = cost::measure(
                registry,
                bounds,
                document,
                &variables,
                operation_name.as_deref(),
            )
            .map_err(|error| GuardError::TooDeep(error).to_server_error())?;
            let costs: Vec<OperationCost> =
                costs.into_iter().filter(|cost| cost.selected).collect();
            self.check(&costs)
                .map_err(|error| error.to_server_error())?;
            if let Ok(mut operation) = self.operation.lock() {
                *operation = costs.first().map(|cost| cost.operation);
            }
            let caller = request
                .data
                .get(&TypeId::of::<Caller>())
                .and_then(|caller| caller.downcast_ref::<Caller>())
                .or_else(|| ctx.data_opt::<Caller>());
            if let Some(caller) = caller {
                self.rate_limit(&caller.platform.id, &costs)
                    .map_err(|error| error.to_server_error())?;
            }
        }
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let operation = self.operation();
        if operation == Some(OperationType::Subscription) {
            return next.run(ctx, operation_name).await;
        }
        let is_mutation = operation != Some(OperationType::Query);
        let remaining = self.deadline().saturating_sub(self.started.elapsed());
        let response = if is_mutation {
            // A mutation is never dropped halfway: it is stopped between root fields.
            next.run(ctx, operation_name).await
        } else {
            match tokio::time::timeout(remaining, next.run(ctx, operation_name)).await {
                Ok(response) => response,
                Err(_) => {
                    return Response::from_errors(vec![self.deadline_error().to_server_error()])
                }
            }
        };
        let expired = self.expired.lock().map(|flag| *flag).unwrap_or(false);
        if expired && !is_mutation {
            return Response::from_errors(vec![self.deadline_error().to_server_error()]);
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let operation = self.operation();
        if operation == Some(OperationType::Subscription) {
            return next.run(ctx, info).await;
        }
        let is_mutation = operation != Some(OperationType::Query);
        let at_root = info.path_node.parent.is_none();
        if (at_root || !is_mutation) && self.started.elapsed() > self.deadline() {
            if let Ok(mut expired) = self.expired.lock() {
                *expired = true;
            }
            return Err(self.deadline_error().to_server_error());
        }
        next.run(ctx, info).await
    }
}
