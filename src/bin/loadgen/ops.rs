//! The operations a load mix is made of: the request each sends, and the check of each
//! response's body (an answer without errors is not enough: it must be the expected one).

use std::str::FromStr;

use serde_json::{json, Value};

/// The largest number of operation kinds in one mix, and the weights' total.
const MAX_MIX_WEIGHT: u32 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// `{ __typename }` only.
    Typename,
    /// `createTopup` with a unique idempotency key.
    Topup,
    /// A destination charge, priced by the platform's policy.
    Charge,
    /// `createCharges` with `--batch-size` destination charges.
    Batch,
    /// A partial refund of an earlier charge of the run, reversing its transfer and fee.
    Refund,
    /// A transfer from the platform's balance to a connected account.
    Transfer,
    /// A connected account's balance.
    Balance,
    /// The first page of a connected account's balance transactions.
    List,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Typename => "typename",
            Operation::Topup => "topup",
            Operation::Charge => "charge",
            Operation::Batch => "batch",
            Operation::Refund => "refund",
            Operation::Transfer => "transfer",
            Operation::Balance => "balance",
            Operation::List => "list",
        }
    }

    fn parse(name: &str) -> Result<Vec<Operation>, String> {
        Ok(match name {
            "typename" => vec![Operation::Typename],
            "topup" => vec![Operation::Topup],
            "charge" => vec![Operation::Charge],
            "batch" => vec![Operation::Batch],
            "refund" => vec![Operation::Refund],
            "transfer" => vec![Operation::Transfer],
            "balance" => vec![Operation::Balance],
            "list" => vec![Operation::List],
            // Reads: a balance and a page of balance transactions, half each.
            "read" => vec![Operation::Balance, Operation::List],
            other => return Err(format!("unknown operation '{other}'")),
        })
    }
}

/// Weighted operations, e.g. `charge=70,refund=10,transfer=10,read=10`.
#[derive(Clone, Debug)]
pub struct Mix {
    /// Each operation with its cumulative weight, for drawing one.
    cumulative: Vec<(Operation, u32)>,
    total: u32,
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(text: &str) -> Result<Mix, String> {
        let mut cumulative = Vec::new();
        let mut total = 0u32;
        for part in text.split(',').filter(|part| !part.trim().is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("the weight of '{name}' is not a number"))?;
            let operations = Operation::parse(name.trim())?;
            let share = weight * 2 / operations.len() as u32;
            for operation in operations {
                total = total.saturating_add(share);
                cumulative.push((operation, total));
            }
        }
        if total == 0 || total > MAX_MIX_WEIGHT * 2 {
            return Err(format!("the weights must add up to 1..={MAX_MIX_WEIGHT}"));
        }
        Ok(Mix { cumulative, total })
    }
}

impl Mix {
    pub fn only(operation: Operation) -> Mix {
        Mix {
            cumulative: vec![(operation, 1)],
            total: 1,
        }
    }

    pub fn draw(&self, random: u32) -> Operation {
        let point = random % self.total;
        self.cumulative
            .iter()
            .find(|(_, upto)| point < *upto)
            .map_or(Operation::Typename, |(operation, _)| *operation)
    }

    pub fn contains(&self, wanted: Operation) -> bool {
        self.cumulative
            .iter()
            .any(|(operation, _)| *operation == wanted)
    }

    pub fn operations(&self) -> Vec<Operation> {
        self.cumulative
            .iter()
            .map(|(operation, _)| *operation)
            .collect()
    }
}

pub const TYPENAME: &str = "{ __typename }";
pub const TOPUP: &str = "mutation($key: String!) { createTopup(input: {amount: 1000, currency: \"usd\", idempotencyKey: $key}) { id status } }";
pub const CHARGE: &str = "mutation($key: String!, $destination: ID!) { createCharge(input: {amount: 10000, currency: \"usd\", paymentMethod: \"pm_card_visa\", transferData: {destination: $destination}, metadata: {category: \"books\"}, idempotencyKey: $key}) { id status amount { amount } } }";
pub const BATCH: &str = "mutation($inputs: [CreateChargeInput!]!) { createCharges(inputs: $inputs) { charge { id status } error { code message param } } }";
pub const REFUND: &str = "mutation($key: String!, $charge: ID!) { createRefund(input: {charge: $charge, amount: 1000, reverseTransfer: true, refundApplicationFee: true, idempotencyKey: $key}) { id status amount { amount } } }";
pub const TRANSFER: &str = "mutation($key: String!, $destination: ID!) { createTransfer(input: {amount: 100, currency: \"usd\", destination: $destination, idempotencyKey: $key}) { id amount { amount } } }";
pub const BALANCE: &str = "query($account: ID!) { balance(account: $account) { available { amount currency } pending { amount currency } } }";
pub const LIST: &str = "query($account: ID!) { balanceTransactions(first: 10, account: $account) { nodes { id amount { amount } } pageInfo { hasNextPage } } }";

/// One destination charge of 100.00 as a `CreateChargeInput`.
pub fn charge_input(key: &str, destination: &str) -> Value {
    json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
           "transferData": {"destination": destination}, "metadata": {"category": "books"},
           "idempotencyKey": key})
}

/// What one request sends, and what it needs to know to check the answer.
pub struct Request {
    pub body: Value,
    pub operation: Operation,
    /// How many items it carries (a batch's inputs).
    pub items: usize,
}

/// The request for `operation`; `key` is unique across threads and runs.
pub fn request(
    operation: Operation,
    key: &str,
    destination: &str,
    charge: Option<&str>,
    batch_size: usize,
) -> Request {
    let body = match operation {
        Operation::Typename => json!({"query": TYPENAME}),
        Operation::Topup => json!({"query": TOPUP, "variables": {"key": key}}),
        Operation::Charge => {
            json!({"query": CHARGE, "variables": {"key": key, "destination": destination}})
        }
        Operation::Batch => {
            let inputs: Vec<Value> = (0..batch_size)
                .map(|index| charge_input(&format!("{key}-{index}"), destination))
                .collect();
            json!({"query": BATCH, "variables": {"inputs": inputs}})
        }
        Operation::Refund => {
            json!({"query": REFUND, "variables": {"key": key, "charge": charge.unwrap_or_default()}})
        }
        Operation::Transfer => {
            json!({"query": TRANSFER, "variables": {"key": key, "destination": destination}})
        }
        Operation::Balance => json!({"query": BALANCE, "variables": {"account": destination}}),
        Operation::List => json!({"query": LIST, "variables": {"account": destination}}),
    };
    Request {
        body,
        operation,
        items: if operation == Operation::Batch {
            batch_size
        } else {
            1
        },
    }
}

/// Checks a response body; returns the ids of the charges it created (for refunds later),
/// or why it is wrong.
pub fn check(request: &Request, body: &Value) -> Result<Vec<String>, String> {
    if let Some(errors) = body.get("errors") {
        return Err(format!("errors: {errors}"));
    }
    let data = &body["data"];
    let wrong = || Err(format!("unexpected answer: {body}"));
    let id_with = |value: &Value, prefix: &str| {
        value
            .as_str()
            .filter(|id| id.starts_with(prefix))
            .map(str::to_owned)
    };
    match request.operation {
        Operation::Typename => {
            if data["__typename"] != "Query" {
                return wrong();
            }
            Ok(Vec::new())
        }
        Operation::Topup => match id_with(&data["createTopup"]["id"], "tu_") {
            Some(_) => Ok(Vec::new()),
            None => wrong(),
        },
        Operation::Charge => {
            let charge = &data["createCharge"];
            match id_with(&charge["id"], "ch_") {
                Some(id)
                    if charge["status"] == "SUCCEEDED" && charge["amount"]["amount"] == 10000 =>
                {
                    Ok(vec![id])
                }
                _ => wrong(),
            }
        }
        Operation::Batch => {
            let Some(results) = data["createCharges"].as_array() else {
                return wrong();
            };
            if results.len() != request.items {
                return wrong();
            }
            let mut ids = Vec::with_capacity(results.len());
            for result in results {
                match id_with(&result["charge"]["id"], "ch_") {
                    Some(id)
                        if result["error"].is_null()
                            && result["charge"]["status"] == "SUCCEEDED" =>
                    {
                        ids.push(id)
                    }
                    _ => return Err(format!("unexpected result: {result}")),
                }
            }
            Ok(ids)
        }
        Operation::Refund => {
            let refund = &data["createRefund"];
            match id_with(&refund["id"], "re_") {
                Some(_) if refund["amount"]["amount"] == 1000 => Ok(Vec::new()),
                _ => wrong(),
            }
        }
        Operation::Transfer => {
            let transfer = &data["createTransfer"];
            match id_with(&transfer["id"], "tr_") {
                Some(_) if transfer["amount"]["amount"] == 100 => Ok(Vec::new()),
                _ => wrong(),
            }
        }
        Operation::Balance => {
            if data["balance"]["available"].is_array() && data["balance"]["pending"].is_array() {
                Ok(Vec::new())
            } else {
                wrong()
            }
        }
        Operation::List => {
            let nodes = &data["balanceTransactions"]["nodes"];
            match nodes.as_array() {
                Some(nodes) if nodes.len() <= 10 => Ok(Vec::new()),
                _ => wrong(),
            }
        }
    }
}
