//! The README stays true: its generated tables match the code (`UPDATE_README=1` rewrites
//! them), its tour runs block by block against a real server, and it points at nothing
//! outside the repository.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use tollgate::domain::payment_methods::{Behaviour, PaymentMethod};
use tollgate::graphql::errors::error_code_table;

use crate::helpers::{assert_no_errors, policies_dir, spawn_app_with_policies};

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

fn payment_method_table() -> String {
    let mut table = String::from("| payment method | card | what happens |\n|---|---|---|\n");
    for method in PaymentMethod::all() {
        let behaviour = match method.behaviour {
            Behaviour::Succeeds => "succeeds; the funds are pending for the hold".to_owned(),
            Behaviour::Declined { decline_code, .. } => {
                format!("declined: `CARD_DECLINED` with `declineCode: {decline_code}`")
            }
            Behaviour::SucceedsThenDisputed => {
                "succeeds, then the cardholder disputes it".to_owned()
            }
            Behaviour::SucceedsAvailableAtOnce => {
                "succeeds; the funds are available at once".to_owned()
            }
        };
        table.push_str(&format!(
            "| `{}` | {} {} {} | {} |\n",
            method.name, method.card.country, method.card.brand, method.card.funding, behaviour
        ));
    }
    table
}

/// Replaces what is between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
fn with_section(readme: &str, name: &str, content: &str) -> String {
    let start_marker = format!("<!-- {name}:start -->\n");
    let end_marker = format!("<!-- {name}:end -->");
    let start = readme.find(&start_marker).expect("start marker") + start_marker.len();
    let end = readme.find(&end_marker).expect("end marker");
    format!("{}{}{}", &readme[..start], content, &readme[end..])
}

#[test]
fn the_generated_tables_match_the_code() {
    let readme = std::fs::read_to_string(readme_path()).expect("README");
    let generated = with_section(
        &with_section(&readme, "error-codes", &error_code_table()),
        "payment-methods",
        &payment_method_table(),
    );
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(readme_path(), &generated).expect("write README");
        return;
    }
    assert!(
        generated == readme,
        "the README's generated tables are out of date: run UPDATE_README=1 cargo test --test it readme"
    );
}

#[test]
fn the_readme_points_at_nothing_outside_the_repository() {
    let readme = std::fs::read_to_string(readme_path()).expect("README");
    for outside in ["DESIGN.md", "../", "/work/", "STYLE.md"] {
        assert!(!readme.contains(outside), "the README mentions {outside}");
    }
}

/// The tour's blocks in order: each GraphQL block with the JSON variables block after it.
fn tour_blocks(readme: &str) -> Vec<(String, Value)> {
    let start = readme.find("## A tour").expect("the tour");
    let end = start
        + readme[start..]
            .find("\n## Using the API")
            .expect("after the tour");
    let mut blocks: Vec<(String, Value)> = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let language_end = after.find('\n').expect("language line");
        let language = &after[..language_end];
        let body_start = language_end + 1;
        let close = after[body_start..].find("```").expect("closing fence");
        let body = &after[body_start..body_start + close];
        match language {
            "graphql" => blocks.push((body.to_owned(), json!({}))),
            "json" => {
                let last = blocks.last_mut().expect("variables follow a query");
                last.1 = serde_json::from_str(body).expect("the variables are JSON");
            }
            other => panic!("a ```{other} block in the tour"),
        }
        rest = &after[body_start + close + 3..];
    }
    blocks
}

/// Every id in a response, newest last, by prefix (`acct`, `ch`, …).
fn collect_ids(value: &Value, ids: &mut HashMap<String, String>) {
    match value {
        Value::String(text) => {
            if let Some((prefix, _)) = text.split_once('_') {
                if ["acct", "ch", "re", "po"].contains(&prefix) && text.len() > 20 {
                    ids.entry(prefix.to_owned()).or_insert_with(|| text.clone());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_ids(item, ids)),
        Value::Object(fields) => fields.values().for_each(|field| collect_ids(field, ids)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_runs_block_by_block() {
    let readme = std::fs::read_to_string(readme_path()).expect("README");
    let blocks = tour_blocks(&readme);
    assert_eq!(blocks.len(), 10, "the tour's steps");
    let app = spawn_app_with_policies(policies_dir(), "marketplace").await;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut answers = Vec::new();
    for (query, mut variables) in blocks {
        let document = async_graphql::parser::parse_query(&query).expect("the block parses");
        assert_eq!(
            document.operations.iter().count(),
            1,
            "one operation: {query}"
        );
        // The `acct_…` placeholders become the ids the earlier steps returned.
        if let Value::Object(fields) = &mut variables {
            for value in fields.values_mut() {
                let placeholder = value.as_str().unwrap_or_default().to_owned();
                if let Some(prefix) = placeholder.strip_suffix("_…") {
                    *value = json!(ids.get(prefix).unwrap_or_else(|| panic!("no {prefix} yet")));
                }
            }
        }
        let body = app.graphql(&query, variables).await;
        assert_no_errors(&body);
        let mut found = HashMap::new();
        collect_ids(&body["data"], &mut found);
        ids.extend(found);
        answers.push(body["data"].clone());
    }
    assert_eq!(answers[4]["updatePayoutSchedule"]["chargesEnabled"], true);
    assert_eq!(answers[4]["updatePayoutSchedule"]["payoutsEnabled"], true);
    let charge = &answers[5]["createCharge"];
    assert_eq!(charge["applicationFee"]["amount"]["decimal"], "5.30");
    assert_eq!(charge["processingFee"]["decimal"], "3.20");
    assert_eq!(
        answers[6]["createRefund"]["applicationFeeRefund"]["amount"]["decimal"],
        "2.12"
    );
    assert_eq!(answers[8]["createPayout"]["amount"]["decimal"], "50.00");
    app.assert_ledger_balanced().await;
    app.stop().await;
}
