//! What a query costs, decided from its parsed document and the schema before any resolver
//! runs: page sizes multiply, expensive fields carry their real cost, and fragments are
//! measured once each, so a chain of fragments that doubles at every level is measured in
//! time linear in its text.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaField, MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Value, Variables};

use crate::config::{
    BACKTEST_COST, BATCHED_CHARGE_COST, CHARGE_CHILDREN_BOUND, DEFAULT_LIST_BOUND,
    DEFAULT_PAGE_SIZE, INTROSPECTION_COST, LEDGER_CHECK_COST, MAX_SELECTION_NESTING, MUTATION_COST,
    PLATFORM_BALANCE_COST, PREVIEW_CHARGE_COST,
};
use crate::domain::external_accounts::MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT;
use crate::domain::webhooks::MAX_ENABLED_EVENTS;
use crate::service::charge_batches::MAX_CHARGES_PER_BATCH;

/// Why a document could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("the query nests selections and fragments more than {limit} deep")]
    TooDeep { limit: usize },
}

/// What one operation of a document costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationCost {
    pub operation: OperationType,
    /// Whether this operation is the one the request names (or the request names none).
    pub selected: bool,
    /// The estimated work: see `crate::config::MAX_QUERY_COST`.
    pub cost: u64,
    /// The fields named once fragments are expanded (not multiplied by page sizes).
    pub fields: u64,
    /// The fields at the root of the operation (for a mutation: how many mutations run).
    pub root_fields: u64,
    /// The writes a mutation makes: one per root field, one per input of a batch.
    pub writes: u64,
    /// The estimated size of what `__schema` and `__type` select, counted apart: each list
    /// there is taken at the largest size it has in this schema, which overestimates a
    /// real introspection query many times over.
    pub introspection: u64,
}

/// How big each introspection list can be in this schema; introspection lists carry no
/// paging, so their real bounds come from the registry.
#[derive(Debug, Clone, Default)]
pub struct IntrospectionBounds {
    types: u64,
    fields: u64,
    arguments: u64,
    enum_values: u64,
    possible_types: u64,
    directives: u64,
}

impl IntrospectionBounds {
    pub fn of(registry: &Registry) -> IntrospectionBounds {
        let mut bounds = IntrospectionBounds {
            types: registry.types.len() as u64,
            directives: registry.directives.len() as u64,
            ..IntrospectionBounds::default()
        };
        for meta in registry.types.values() {
            let (fields, enum_values, possible_types) = match meta {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => {
                    let arguments = fields.values().map(|field| field.args.len()).max();
                    bounds.arguments = bounds.arguments.max(arguments.unwrap_or(0) as u64);
                    let possible = match meta {
                        MetaType::Interface { possible_types, .. } => possible_types.len(),
                        _ => 0,
                    };
                    (fields.len(), 0, possible)
                }
                MetaType::InputObject { input_fields, .. } => (input_fields.len(), 0, 0),
                MetaType::Enum { enum_values, .. } => (0, enum_values.len(), 0),
                MetaType::Union { possible_types, .. } => (0, 0, possible_types.len()),
                MetaType::Scalar { .. } => (0, 0, 0),
            };
            bounds.fields = bounds.fields.max(fields as u64);
            bounds.enum_values = bounds.enum_values.max(enum_values as u64);
            bounds.possible_types = bounds.possible_types.max(possible_types as u64);
        }
        for directive in registry.directives.values() {
            bounds.arguments = bounds.arguments.max(directive.args.len() as u64);
        }
        bounds
    }

    fn bound(&self, type_name: &str, field: &str) -> Option<u64> {
        let bound = match (type_name, field) {
            ("__Schema", "types") => self.types,
            ("__Schema", "directives") => self.directives,
            ("__Type", "fields" | "inputFields") => self.fields,
            ("__Type", "enumValues") => self.enum_values,
            ("__Type", "interfaces" | "possibleTypes") => self.possible_types.max(self.types),
            ("__Field" | "__Directive", "args") => self.arguments,
            // Directive locations: the GraphQL spec names 19.
            ("__Directive", "locations") => 19,
            _ => return None,
        };
        Some(bound)
    }
}

/// The extra cost of fields whose work is more than reading one record.
fn field_cost(type_name: &str, field: &str) -> u64 {
    match (type_name, field) {
        ("Query", "ledgerCheck") => LEDGER_CHECK_COST,
        ("Query", "previewCharge") => PREVIEW_CHARGE_COST,
        // Without an account argument this is the platform's balance, with its reserve scan;
        // the cost is charged whichever it is, since the argument may be a variable.
        ("Query", "balance") | ("Platform", "balance" | "negativeAccounts") => {
            PLATFORM_BALANCE_COST
        }
        ("Mutation", "backtestPolicy") => BACKTEST_COST,
        ("Mutation", _) => MUTATION_COST,
        _ => 1,
    }
}

/// The bound of a list field of this schema that has no paging.
fn list_bound(type_name: &str, field: &str) -> u64 {
    match (type_name, field) {
        // Two capabilities; a handful of external accounts and requirements.
        ("Account", "capabilities") => 2,
        ("Balance", _) => 8,
        ("BalanceTransaction", "feeDetails") => 4,
        ("Requirements", _) => 32,
        ("Policy", "hooks") => 16,
        ("Account", "externalAccounts") => MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT as u64,
        ("WebhookEndpoint", "enabledEvents") => MAX_ENABLED_EVENTS as u64,
        // What hangs off one charge (its transfers, refunds, reversals, fee refunds, dispute
        // transactions, policy splits) has no hard bound, but is a handful in practice;
        // counting each as a full page would refuse an ordinary page of charges.
        ("Charge", "transfers" | "refunds")
        | ("Transfer", "reversals")
        | ("Refund", "transferReversals")
        | ("ApplicationFee", "refunds")
        | ("Dispute", "balanceTransactions")
        | ("PolicyDecision", "splits") => CHARGE_CHILDREN_BOUND,
        _ => DEFAULT_LIST_BOUND,
    }
}

fn is_list(type_text: &str) -> bool {
    type_text.trim_end_matches('!').starts_with('[')
}

/// Measures every operation of `document`. Sums saturate: a cost too large to count is
/// simply too large.
pub fn measure(
    registry: &Registry,
    introspection: &IntrospectionBounds,
    document: &ExecutableDocument,
    variables: &Variables,
    operation_name: Option<&str>,
) -> Result<Vec<OperationCost>, CostError> {
    let mut walker = Walker {
        registry,
        introspection,
        document,
        variables,
        fragments: HashMap::new(),
    };
    let mut costs = Vec::new();
    for (name, operation) in document.operations.iter() {
        let selected =
            operation_name.is_none_or(|wanted| name.is_some_and(|name| name.as_str() == wanted));
        let operation = &operation.node;
        let root = match operation.ty {
            OperationType::Query => registry.query_type.as_str(),
            OperationType::Mutation => registry.mutation_type.as_deref().unwrap_or("Mutation"),
            OperationType::Subscription => registry
                .subscription_type
                .as_deref()
                .unwrap_or("Subscription"),
        };
        let measured = walker.selection_set(&operation.selection_set.node, root, 0)?;
        costs.push(OperationCost {
            operation: operation.ty,
            selected,
            cost: measured.cost,
            fields: measured.fields,
            root_fields: measured.root_fields,
            writes: measured.writes,
            introspection: measured.introspection,
        });
    }
    Ok(costs)
}

#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    cost: u64,
    fields: u64,
    /// Fields directly in this selection set, through fragments.
    root_fields: u64,
    /// Writes of the fields directly in this selection set (at the root of a mutation).
    writes: u64,
    introspection: u64,
}

impl Measured {
    fn add(&mut self, other: Measured) {
        self.cost = self.cost.saturating_add(other.cost);
        self.fields = self.fields.saturating_add(other.fields);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
        self.writes = self.writes.saturating_add(other.writes);
        self.introspection = self.introspection.saturating_add(other.introspection);
    }
}

enum FragmentState {
    /// Being measured: a spread of it now is a cycle, which validation refuses later.
    Measuring,
    Measured(Measured),
}

struct Walker<'a> {
    registry: &'a Registry,
    introspection: &'a IntrospectionBounds,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    fragments: HashMap<Name, FragmentState>,
}

impl<'a> Walker<'a> {
    fn selection_set(
        &mut self,
        set: &SelectionSet,
        type_name: &str,
        nesting: usize,
    ) -> Result<Measured, CostError> {
        if nesting > MAX_SELECTION_NESTING {
            return Err(CostError::TooDeep {
                limit: MAX_SELECTION_NESTING,
            });
        }
        let mut total = Measured::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    total.fields = total.fields.saturating_add(1);
                    total.root_fields = total.root_fields.saturating_add(1);
                    total.writes = total.writes.saturating_add(match (type_name, name) {
                        ("Mutation", "createCharges") => self.batch_inputs(field),
                        _ => 1,
                    });
                    if name == "__typename" {
                        continue;
                    }
                    let meta = self.field(type_name, name);
                    let child_type = meta
                        .map(|meta| MetaTypeName::concrete_typename(&meta.ty).to_owned())
                        .unwrap_or_default();
                    let children =
                        self.selection_set(&field.selection_set.node, &child_type, nesting + 1)?;
                    let multiplier =
                        meta.map_or(1, |meta| self.multiplier(type_name, name, meta, field));
                    total.fields = total.fields.saturating_add(children.fields);
                    if matches!(name, "__schema" | "__type") {
                        let inside = children.cost.saturating_add(children.introspection);
                        total.cost = total.cost.saturating_add(INTROSPECTION_COST);
                        total.introspection = total
                            .introspection
                            .saturating_add(multiplier.saturating_mul(inside));
                        continue;
                    }
                    total.cost = total
                        .cost
                        .saturating_add(self.field_cost(type_name, name, field))
                        .saturating_add(multiplier.saturating_mul(children.cost));
                    total.introspection = total
                        .introspection
                        .saturating_add(multiplier.saturating_mul(children.introspection));
                }
                Selection::FragmentSpread(spread) => {
                    let measured = self.fragment(&spread.node.fragment_name.node, nesting + 1)?;
                    total.add(measured);
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let condition = inline
                        .type_condition
                        .as_ref()
                        .map(|condition| condition.node.on.node.as_str())
                        .unwrap_or(type_name)
                        .to_owned();
                    let measured =
                        self.selection_set(&inline.selection_set.node, &condition, nesting + 1)?;
                    total.add(measured);
                }
            }
        }
        Ok(total)
    }

    /// A fragment's measure, computed the first time it is spread and reused after.
    fn fragment(&mut self, name: &Name, nesting: usize) -> Result<Measured, CostError> {
        match self.fragments.get(name) {
            Some(FragmentState::Measured(measured)) => return Ok(*measured),
            Some(FragmentState::Measuring) => return Ok(Measured::default()),
            None => {}
        }
        // An unknown fragment is refused by validation; it costs nothing here.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(Measured::default());
        };
        self.fragments
            .insert(name.clone(), FragmentState::Measuring);
        let condition = fragment.node.type_condition.node.on.node.to_string();
        let measured =
            self.selection_set(&fragment.node.selection_set.node, &condition, nesting)?;
        self.fragments
            .insert(name.clone(), FragmentState::Measured(measured));
        Ok(measured)
    }

    fn field(&self, type_name: &str, field: &str) -> Option<&'a MetaField> {
        self.registry
            .concrete_type_by_name(type_name)
            .and_then(|meta| meta.field_by_name(field))
    }

    /// A field's own cost: a batch costs its mutation plus each of its inputs.
    fn field_cost(&self, type_name: &str, name: &str, field: &Field) -> u64 {
        match (type_name, name) {
            ("Mutation", "createCharges") => MUTATION_COST
                .saturating_add(BATCHED_CHARGE_COST.saturating_mul(self.batch_inputs(field))),
            _ => field_cost(type_name, name),
        }
    }

    /// How many inputs a batch carries, given inline or as a variable; the batch limit when
    /// it cannot be told (the resolver refuses more than that).
    fn batch_inputs(&self, field: &Field) -> u64 {
        let Some(value) = field.get_argument("inputs") else {
            return MAX_CHARGES_PER_BATCH as u64;
        };
        let value = value
            .node
            .clone()
            .into_const_with(|variable| self.variables.get(&variable).cloned().ok_or(()));
        match value {
            Ok(Value::List(items)) => items.len() as u64,
            // A single input object stands for a list of one.
            Ok(Value::Object(_)) => 1,
            _ => MAX_CHARGES_PER_BATCH as u64,
        }
    }

    /// How many times a field's selection is resolved: its page size for a connection, its
    /// bound for another list (a batch's: its inputs), once otherwise.
    fn multiplier(&self, type_name: &str, name: &str, meta: &MetaField, field: &Field) -> u64 {
        if (type_name, name) == ("Mutation", "createCharges") {
            return self.batch_inputs(field);
        }
        if meta.args.contains_key("first") {
            return self.first(field).unwrap_or(DEFAULT_PAGE_SIZE as u64);
        }
        if !is_list(&meta.ty) {
            return 1;
        }
        // A connection's page size was counted at the connection itself.
        if type_name.ends_with("Connection") {
            return 1;
        }
        self.introspection
            .bound(type_name, name)
            .unwrap_or_else(|| list_bound(type_name, name))
    }

    /// The `first` argument, given inline or as a variable; a negative one counts as 0
    /// (and is refused by the resolver).
    fn first(&self, field: &Field) -> Option<u64> {
        let value = field.get_argument("first")?.node.clone();
        let value = value
            .into_const_with(|variable| self.variables.get(&variable).cloned().ok_or(()))
            .ok()?;
        match value {
            Value::Number(number) => Some(number.as_u64().unwrap_or(0)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    /// The figures a query is refused with when the limits let nothing through.
    fn refusal(query: &str, variables: serde_json::Value) -> serde_json::Value {
        let limits = Limits {
            max_query_cost: 0,
            ..Limits::default()
        };
        let schema = crate::graphql::build_schema_with(None, limits);
        let request = async_graphql::Request::new(query).variables(Variables::from_json(variables));
        let response = futures::executor::block_on(schema.execute(request));
        let error = response.errors.first().expect("refused").clone();
        serde_json::to_value(&error).expect("json")
    }

    fn cost_of(query: &str, variables: serde_json::Value) -> u64 {
        let error = refusal(query, variables);
        assert_eq!(error["extensions"]["code"], "QUERY_TOO_COSTLY", "{error}");
        assert!(error.get("locations").is_none(), "{error}");
        error["extensions"]["cost"].as_u64().expect("cost")
    }

    #[test]
    fn pages_multiply_what_they_select() {
        // charges 1 + 20 x (nodes 1 + id 1 + amount 1 + amount.amount 1)
        assert_eq!(
            cost_of(
                "{ charges(first: 20) { nodes { id amount { amount } } } }",
                serde_json::json!({})
            ),
            1 + 20 * 4
        );
        assert_eq!(
            cost_of("{ charges { nodes { id } } }", serde_json::json!({})),
            1 + 10 * 2
        );
        assert_eq!(
            cost_of(
                "query($n: Int) { charges(first: $n) { nodes { id } } }",
                serde_json::json!({"n": 100000})
            ),
            1 + 100_000 * 2
        );
        // A list without paging costs its bound: transfers under each of 10 charges.
        assert_eq!(
            cost_of(
                "{ charges { nodes { transfers { id } } } }",
                serde_json::json!({})
            ),
            1 + 10 * (1 + 1 + CHARGE_CHILDREN_BOUND)
        );
        assert_eq!(
            cost_of(
                "{ platform { negativeAccounts { amount { amount } } } }",
                serde_json::json!({})
            ),
            1 + PLATFORM_BALANCE_COST + DEFAULT_LIST_BOUND * 2
        );
    }

    #[test]
    fn expensive_fields_and_mutations_carry_their_cost() {
        assert_eq!(
            cost_of(
                "{ a: ledgerCheck { balanced } b: ledgerCheck { balanced } }",
                serde_json::json!({})
            ),
            2 * (LEDGER_CHECK_COST + 1)
        );
        assert_eq!(
            cost_of(
                "mutation { a: createTopup(input: {amount: 1, currency: \"usd\"}) { id } }",
                serde_json::json!({})
            ),
            MUTATION_COST + 1
        );
        assert_eq!(
            cost_of(
                "{ platform { balance { available { amount } } } }",
                serde_json::json!({})
            ),
            1 + PLATFORM_BALANCE_COST + 1 + 8
        );
    }

    #[test]
    fn a_batch_costs_its_mutation_plus_each_input_and_what_each_selects() {
        let query = "mutation($inputs: [CreateChargeInput!]!) { createCharges(inputs: $inputs) { charge { id } error { code } } }";
        let input =
            serde_json::json!({"amount": 100, "currency": "usd", "paymentMethod": "pm_card_visa"});
        // The mutation, then per input its cost and its selection (charge 1 + id 1 +
        // error 1 + code 1).
        assert_eq!(
            cost_of(query, serde_json::json!({"inputs": vec![input.clone(); 3]})),
            MUTATION_COST + 3 * BATCHED_CHARGE_COST + 3 * 4
        );
        assert_eq!(
            cost_of(query, serde_json::json!({"inputs": vec![input; 100]})),
            MUTATION_COST + 100 * BATCHED_CHARGE_COST + 100 * 4
        );
        assert_eq!(
            cost_of(
                "mutation { createCharges(inputs: [{amount: 1, currency: \"usd\", paymentMethod: \"pm_card_visa\"}]) { error { code } } }",
                serde_json::json!({})
            ),
            MUTATION_COST + BATCHED_CHARGE_COST + 2
        );
    }

    #[test]
    fn a_doubling_fragment_chain_is_counted_without_expanding_it() {
        let mut query = String::from("fragment F0 on Query { __typename }\n");
        for level in 1..=60 {
            let previous = level - 1;
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{previous} ...F{previous} }}\n"
            ));
        }
        query.push_str("{ ...F60 }");
        let started = std::time::Instant::now();
        let error = refusal(&query, serde_json::json!({}));
        assert_eq!(error["extensions"]["code"], "QUERY_TOO_COSTLY", "{error}");
        assert_eq!(error["extensions"]["fields"], 1u64 << 60);
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn cycles_and_deep_chains_do_not_recurse_forever() {
        let cycle = "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }";
        // The cycle measures as nothing; the parser's recursion limit then refuses it.
        let error = refusal(cycle, serde_json::json!({}));
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| message.contains("recursion")),
            "{error}"
        );
        let mut deep = String::from("{ ...D0 }\n");
        for level in 0..200 {
            deep.push_str(&format!(
                "fragment D{level} on Query {{ ...D{} }}\n",
                level + 1
            ));
        }
        deep.push_str("fragment D200 on Query { __typename }");
        let error = refusal(&deep, serde_json::json!({}));
        assert_eq!(error["extensions"]["code"], "INVALID_REQUEST", "{error}");
        assert_eq!(error["extensions"]["limit"], MAX_SELECTION_NESTING);
    }
}

#[cfg(test)]
mod introspection_tests {
    use crate::config::Limits;

    /// The introspection query GraphiQL sends to draw its documentation.
    pub const GRAPHIQL_INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

    #[tokio::test]
    async fn graphiql_introspection_fits_and_nested_introspection_does_not() {
        let limits = Limits::default();
        let schema = crate::graphql::build_schema_with(None, limits.clone());
        let response = schema
            .execute(async_graphql::Request::new(GRAPHIQL_INTROSPECTION))
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let nested =
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
        let response = schema.execute(async_graphql::Request::new(nested)).await;
        let error = serde_json::to_value(&response.errors[0]).expect("json");
        assert_eq!(error["extensions"]["code"], "QUERY_TOO_COSTLY", "{error}");
        assert_eq!(error["extensions"]["limit"], limits.max_introspection_cost);
    }
}
