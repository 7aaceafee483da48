//! Benchmarks one `application_fee` + `route` evaluation per charge on the marketplace and rides policies, on the shared engine.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::money::MinorUnits;
use tollgate::policy::{
    ChargeFacts, ChargeFlow, ChargeRequest, PolicyEngine, PolicyRegistry, PreparedCharge,
    SplitDirectory,
};

/// The server's allocator, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct EveryAccount;

impl SplitDirectory for EveryAccount {
    fn check_destination(&self, _account_id: &str) -> Result<(), String> {
        Ok(())
    }
}

fn charge(amount: i64, flow: ChargeFlow, metadata: &[(&str, &str)]) -> ChargeFacts {
    ChargeFacts {
        amount: MinorUnits::new(amount).expect("amount"),
        flow,
        metadata: metadata
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..ChargeFacts::sample()
    }
}

fn policy_hooks(criterion: &mut Criterion) {
    let policy_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let registry = PolicyRegistry::load(policy_dir, Arc::new(PolicyEngine::new()), |_| {})
        .expect("policies load");
    let cases = [
        (
            "marketplace",
            charge(10_000, ChargeFlow::Destination, &[("category", "books")]),
        ),
        (
            "rides",
            charge(
                2_500,
                ChargeFlow::Separate,
                &[("driver", "acct_driver"), ("tip", "500")],
            ),
        ),
    ];
    for (name, facts) in cases {
        // One version per charge, as the server does: the Arc is cloned once, outside the loop.
        let policy = registry.policy(name).expect("loaded");
        // Per charge: convert the facts once, then run both hooks on the same map.
        criterion.bench_function(&format!("{name}: application_fee + route"), |bencher| {
            bencher.iter(|| {
                let charge = PreparedCharge::new(black_box(&facts));
                let fee = policy.application_fee(&charge).expect("fee");
                let splits = policy.route(&charge, &EveryAccount).expect("splits");
                black_box((fee, splits))
            })
        });
        let request = ChargeRequest {
            facts: facts.clone(),
            requested_application_fee: None,
            has_transfer_data: false,
        };
        criterion.bench_function(&format!("{name}: whole decide_charge"), |bencher| {
            bencher.iter(|| {
                black_box(
                    registry
                        .decide_charge(name, black_box(&request), &EveryAccount)
                        .expect("decision"),
                )
            })
        });
    }
}

criterion_group!(benches, policy_hooks);
criterion_main!(benches);
