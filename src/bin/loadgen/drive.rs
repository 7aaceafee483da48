//! Driving a server: N connections for D seconds, each request drawn from the mix, with a
//! key unique across connections and runs, every answer's body checked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ops::{self, Mix, Operation};
use crate::stats::{Measured, OperationStats};

/// The most earlier charges kept for refunds.
const MAX_REFUND_POOL: usize = 200_000;

/// What every connection of a run shares.
pub struct Load {
    pub url: String,
    pub key: String,
    pub mix: Mix,
    pub connections: usize,
    pub duration: Duration,
    pub accounts: Vec<String>,
    pub batch_size: usize,
    /// Unique to this run (process, time and chance): keys never repeat across runs.
    pub nonce: String,
    /// Charges of the run (and of the setup) not refunded yet.
    pub refundable: Mutex<Vec<String>>,
    pub sequence: AtomicU64,
    /// Stop after this many requests over all connections instead of at the deadline (for
    /// instruction counts under callgrind, where time means nothing).
    pub requests: Option<u64>,
}

/// A nonce no other run shares: the process id, the time in nanoseconds and 32 random bits.
pub fn run_nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "lg{:x}{:x}{:08x}",
        std::process::id(),
        nanos,
        rand::random::<u32>()
    )
}

/// A small, fast generator per connection (xorshift64*), seeded apart.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }
}

pub async fn drive(load: Arc<Load>, label: &str) -> Measured {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.connections)
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    // `Duration::MAX` (a request count instead of a time) has no deadline.
    let deadline = started.checked_add(load.duration);
    let mut tasks = Vec::with_capacity(load.connections);
    for connection in 0..load.connections {
        let (client, load) = (client.clone(), load.clone());
        tasks.push(tokio::spawn(async move {
            let mut draws = Draws(0x9E37_79B9_7F4A_7C15 ^ ((connection as u64 + 1) << 17) | 1);
            let mut stats: BTreeMap<Operation, OperationStats> = BTreeMap::new();
            while deadline.is_none_or(|deadline| Instant::now() < deadline) {
                let sequence = load.sequence.fetch_add(1, Ordering::Relaxed);
                if load.requests.is_some_and(|requests| sequence >= requests) {
                    break;
                }
                let (operation, charge) = pick(&load, &mut draws);
                let key = format!("{}-{sequence}", load.nonce);
                // Mixes of top-ups and `{ __typename }` onboard no accounts.
                let destination = load
                    .accounts
                    .get(draws.next() as usize % load.accounts.len().max(1))
                    .map_or("", String::as_str);
                let request = ops::request(
                    operation,
                    &key,
                    destination,
                    charge.as_deref(),
                    load.batch_size,
                );
                let sent = Instant::now();
                let answer = send(&client, &load, &request.body).await;
                let micros = sent.elapsed().as_micros() as u64;
                let checked = answer.and_then(|body| ops::check(&request, &body));
                let entry = stats.entry(operation).or_default();
                entry.items_per_request = request.items as u64;
                match checked {
                    Ok(charges) => {
                        entry.record(micros, None);
                        keep_refundable(&load, charges);
                    }
                    Err(failure) => entry.record(micros, Some(failure)),
                }
            }
            stats
        }));
    }
    let mut merged: BTreeMap<String, OperationStats> = BTreeMap::new();
    for task in tasks {
        if let Ok(stats) = task.await {
            for (operation, stats) in stats {
                merged
                    .entry(operation.name().to_owned())
                    .or_default()
                    .merge(stats);
            }
        }
    }
    Measured::new(label, started.elapsed(), merged)
}

/// The next operation; a refund takes an earlier charge, and becomes a charge when none
/// is left.
fn pick(load: &Load, draws: &mut Draws) -> (Operation, Option<String>) {
    let operation = load.mix.draw(draws.next());
    if operation != Operation::Refund {
        return (operation, None);
    }
    let charge = load
        .refundable
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    match charge {
        Some(charge) => (Operation::Refund, Some(charge)),
        None => (Operation::Charge, None),
    }
}

fn keep_refundable(load: &Load, charges: Vec<String>) {
    if charges.is_empty() || !load.mix.contains(Operation::Refund) {
        return;
    }
    let mut pool = load
        .refundable
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for charge in charges {
        if pool.len() < MAX_REFUND_POOL {
            pool.push(charge);
        }
    }
}

async fn send(client: &reqwest::Client, load: &Load, body: &Value) -> Result<Value, String> {
    let response = client
        .post(&load.url)
        .bearer_auth(&load.key)
        .json(body)
        .send()
        .await
        .map_err(|error| format!("send: {error}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| format!("read: {error}"))?;
    serde_json::from_str(&text).map_err(|_| format!("HTTP {status}: {text}"))
}
