//! The hostile-request table: every attack is answered with its code quickly, while another
//! platform running ordinary charges keeps its latency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, spawn_app, TestApp};

/// One hostile request: a GraphQL document, or a raw body, and the codes that answer it.
struct Attack {
    name: &'static str,
    body: Vec<u8>,
    codes: &'static [&'static str],
}

fn graphql_body(query: &str, variables: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("body")
}

/// `levels` fragments, each spreading the one before twice: 2^levels `__typename`s once
/// expanded, in about 60 bytes a level.
fn fragment_doubling(levels: usize) -> String {
    let mut query = String::from("fragment F0 on Query { __typename }\n");
    for level in 1..=levels {
        let previous = level - 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{previous} a{level}: __typename ...F{previous} }}\n"
        ));
    }
    query.push_str(&format!("{{ ...F{levels} }}"));
    query
}

fn aliases(count: usize, field: &str) -> String {
    let mut query = String::from("{");
    for alias in 0..count {
        query.push_str(&format!(" a{alias}: {field}"));
    }
    query.push('}');
    query
}

fn mutation_aliases(count: usize) -> String {
    let mut query = String::from("mutation {");
    for alias in 0..count {
        query.push_str(&format!(
            " a{alias}: createTopup(input: {{amount: 100, currency: \"usd\", idempotencyKey: \"flood-{alias}\"}}) {{ id }}"
        ));
    }
    query.push('}');
    query
}

/// A chain of fragments, each nesting the next one level deeper.
fn deep_fragments(levels: usize) -> String {
    let mut query = String::from("{ ...D0 }\n");
    for level in 0..levels {
        let next = level + 1;
        query.push_str(&format!(
            "fragment D{level} on Query {{ platform {{ policy {{ name }} }} ...D{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment D{levels} on Query {{ __typename }}\n"));
    query
}

fn attacks() -> Vec<Attack> {
    let nested_pages = "{ accounts(first: 100) { nodes { charges(first: 100) { nodes { transfers { destination { charges(first: 100) { nodes { id amount { amount } } } } } } } } } }";
    let introspection =
        "__schema { types { fields { type { fields { type { fields { name } } } } } } }";
    vec![
        Attack {
            name: "fragment doubling, 22 levels",
            body: graphql_body(&fragment_doubling(22), json!({})),
            codes: &["QUERY_TOO_COSTLY"],
        },
        Attack {
            name: "nested pages 100x100x(transfers)x100",
            body: graphql_body(nested_pages, json!({})),
            codes: &["QUERY_TOO_COSTLY"],
        },
        Attack {
            name: "400 ledgerCheck aliases",
            body: graphql_body(&aliases(400, "ledgerCheck { balanced }"), json!({})),
            codes: &["QUERY_TOO_COSTLY"],
        },
        Attack {
            name: "1000 aliases of createTopup",
            body: graphql_body(&mutation_aliases(1000), json!({})),
            codes: &["QUERY_TOO_COSTLY"],
        },
        Attack {
            name: "10 MB body",
            body: {
                let padding = "x".repeat(10 * 1024 * 1024);
                graphql_body(&format!("{{ __typename }} # {padding}"), json!({}))
            },
            codes: &["INVALID_REQUEST"],
        },
        Attack {
            name: "first: 100000",
            body: graphql_body(
                "query($n: Int) { charges(first: $n) { nodes { id } } }",
                json!({"n": 100_000}),
            ),
            codes: &["QUERY_TOO_COSTLY", "INVALID_REQUEST"],
        },
        Attack {
            name: "deep fragments, 300 levels",
            body: graphql_body(&deep_fragments(300), json!({})),
            codes: &["QUERY_TOO_COSTLY", "INVALID_REQUEST"],
        },
        Attack {
            name: "introspection flood, 50 aliases of nested __schema",
            body: graphql_body(&aliases(50, introspection), json!({})),
            codes: &["QUERY_TOO_COSTLY"],
        },
    ]
}

const CHARGE: &str = "mutation($key: String) { createCharge(input: {amount: 1000, currency: \"usd\", paymentMethod: \"pm_card_visa\", idempotencyKey: $key}) { id } }";

/// Runs `count` ordinary charges one after another and returns their latencies, sorted.
async fn charge_latencies(app: &TestApp, key: &str, label: &str, count: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let started = Instant::now();
        let body = app
            .graphql_as(
                key,
                None,
                CHARGE,
                json!({"key": format!("{label}-{index}")}),
            )
            .await;
        latencies.push(started.elapsed());
        assert_no_errors(&body);
    }
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let index = (sorted.len() * percent / 100).min(sorted.len() - 1);
    sorted[index]
}

/// What one attack got back: HTTP status, the first error's code, and how long it took.
async fn send_attack(app: &TestApp, key: &str, attack: &Attack) -> (u16, String, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let started = Instant::now();
    let response = client
        .post(app.url())
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(attack.body.clone())
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => return (0, format!("transport error: {error}"), started.elapsed()),
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let elapsed = started.elapsed();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| {
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("no code ({} bytes)", text.len()));
    (status, code, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_quickly_and_do_not_slow_other_platforms() {
    let app = spawn_app().await;
    let (_, attacker_key) = app.second_platform().await;
    let victim_key = app.secret_key.clone();
    // Warm up, then measure the victim alone.
    charge_latencies(&app, &victim_key, "warm", 20).await;
    let unloaded = charge_latencies(&app, &victim_key, "unloaded", 200).await;

    let attacks = attacks();
    let victim_done = AtomicBool::new(false);
    let victim = async {
        let latencies = charge_latencies(&app, &victim_key, "loaded", 200).await;
        victim_done.store(true, Ordering::SeqCst);
        latencies
    };
    // The first round is the table; the attacker then keeps going until the victim is done.
    let attacker = async {
        let mut results = Vec::new();
        for attack in &attacks {
            results.push(send_attack(&app, &attacker_key, attack).await);
        }
        let mut rounds = 1;
        while !victim_done.load(Ordering::SeqCst) {
            for attack in &attacks {
                send_attack(&app, &attacker_key, attack).await;
            }
            rounds += 1;
        }
        (results, rounds)
    };
    let (loaded, (results, rounds)) = tokio::join!(victim, attacker);
    println!("attack rounds while the victim charged: {rounds}");

    println!(
        "{:<52} {:>6} {:>20} {:>10}",
        "attack", "status", "code", "ms"
    );
    for (attack, (status, code, elapsed)) in attacks.iter().zip(&results) {
        println!(
            "{:<52} {:>6} {:>20} {:>10.1}",
            attack.name,
            status,
            code,
            elapsed.as_secs_f64() * 1000.0
        );
    }
    let unloaded_p99 = percentile(&unloaded, 99);
    let loaded_p99 = percentile(&loaded, 99);
    println!(
        "victim charges: unloaded p50 {:?} p99 {:?}; under attack p50 {:?} p99 {:?}",
        percentile(&unloaded, 50),
        unloaded_p99,
        percentile(&loaded, 50),
        loaded_p99
    );
    for (attack, (status, code, elapsed)) in attacks.iter().zip(&results) {
        assert!(
            attack.codes.contains(&code.as_str()),
            "{}: got {status} {code}, expected one of {:?}",
            attack.name,
            attack.codes
        );
        // Loose: the target is well under 100 ms; the shared machine is noisy.
        assert!(
            *elapsed < Duration::from_secs(2),
            "{} took {elapsed:?}",
            attack.name
        );
    }
    // Loose: three times the unloaded p99, with slack for a noisy shared machine.
    assert!(
        loaded_p99 <= unloaded_p99 * 3 + Duration::from_millis(250),
        "victim p99 {loaded_p99:?} under attack vs {unloaded_p99:?} alone"
    );
}
