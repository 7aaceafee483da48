//! Latencies per operation: throughput, p50/p99/p99.9, errors, as text or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

/// What one operation did during a timed run.
#[derive(Default, Clone)]
pub struct OperationStats {
    pub latencies_micros: Vec<u64>,
    pub errors: u64,
    /// The first few failures, to show what went wrong.
    pub samples: Vec<String>,
    /// Items done per request (a batch's charges), for items/s.
    pub items_per_request: u64,
}

/// The most failing bodies kept per operation.
const MAX_FAILURE_SAMPLES: usize = 3;

impl OperationStats {
    pub fn record(&mut self, micros: u64, failure: Option<String>) {
        self.latencies_micros.push(micros);
        if let Some(failure) = failure {
            self.errors += 1;
            if self.samples.len() < MAX_FAILURE_SAMPLES {
                self.samples.push(failure);
            }
        }
    }

    pub fn merge(&mut self, other: OperationStats) {
        self.latencies_micros.extend(other.latencies_micros);
        self.errors += other.errors;
        for sample in other.samples {
            if self.samples.len() < MAX_FAILURE_SAMPLES {
                self.samples.push(sample);
            }
        }
        self.items_per_request = self.items_per_request.max(other.items_per_request);
    }
}

/// One timed run: its operations' stats over the same elapsed time.
pub struct Measured {
    pub label: String,
    pub elapsed: Duration,
    pub operations: BTreeMap<String, OperationStats>,
}

impl Measured {
    pub fn new(
        label: impl Into<String>,
        elapsed: Duration,
        mut operations: BTreeMap<String, OperationStats>,
    ) -> Measured {
        for stats in operations.values_mut() {
            stats.latencies_micros.sort_unstable();
        }
        Measured {
            label: label.into(),
            elapsed,
            operations,
        }
    }

    pub fn requests(&self) -> u64 {
        self.operations
            .values()
            .map(|stats| stats.latencies_micros.len() as u64)
            .sum()
    }

    pub fn errors(&self) -> u64 {
        self.operations.values().map(|stats| stats.errors).sum()
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn operation_rate(&self, stats: &OperationStats) -> f64 {
        stats.latencies_micros.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn print(&self) {
        println!(
            "{}: {:.0} req/s over {:.1} s, {} errors",
            self.label,
            self.rate(),
            self.elapsed.as_secs_f64(),
            self.errors()
        );
        for (name, stats) in &self.operations {
            let items = if stats.items_per_request > 1 {
                format!(
                    "   ({:.0} items/s)",
                    self.operation_rate(stats) * stats.items_per_request as f64
                )
            } else {
                String::new()
            };
            println!(
                "  {:<10} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   p99.9 {:>7.2} ms   errors {}{}",
                name,
                self.operation_rate(stats),
                percentile_millis(&stats.latencies_micros, 0.50),
                percentile_millis(&stats.latencies_micros, 0.99),
                percentile_millis(&stats.latencies_micros, 0.999),
                stats.errors,
                items
            );
            for sample in &stats.samples {
                println!("    failed: {sample}");
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let operations: serde_json::Map<String, Value> = self
            .operations
            .iter()
            .map(|(name, stats)| {
                (
                    name.clone(),
                    json!({
                        "requests": stats.latencies_micros.len(),
                        "requests_per_second": self.operation_rate(stats),
                        "items_per_second": self.operation_rate(stats) * stats.items_per_request.max(1) as f64,
                        "p50_ms": percentile_millis(&stats.latencies_micros, 0.50),
                        "p99_ms": percentile_millis(&stats.latencies_micros, 0.99),
                        "p999_ms": percentile_millis(&stats.latencies_micros, 0.999),
                        "errors": stats.errors,
                        "failures": stats.samples,
                    }),
                )
            })
            .collect();
        json!({
            "label": self.label,
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.requests(),
            "requests_per_second": self.rate(),
            "errors": self.errors(),
            "operations": operations,
        })
    }
}

/// The value at `percentile` (0..=1) of sorted latencies, in milliseconds.
pub fn percentile_millis(sorted_micros: &[u64], percentile: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_micros.len() - 1) as f64 * percentile).round() as usize;
    sorted_micros[rank.min(sorted_micros.len() - 1)] as f64 / 1000.0
}
