//! What one destination charge leaves in the store: keys and bytes per keyspace, read from
//! the engine itself after the server stopped. Printed (`--nocapture`; `FOOTPRINT_KEYS=1`
//! lists every new key) for the performance notes, and bounded so that growth is noticed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use tollgate::store::Key;

use crate::charges_support::enabled_account;
use crate::helpers::{assert_no_errors, policies_dir, spawn_app_with_policies, start_with};

/// How many charges the footprint is averaged over.
const CHARGES: usize = 20;

/// Every key and its value's length.
fn snapshot(data_dir: &Path) -> BTreeMap<Vec<u8>, usize> {
    let db = sled::open(data_dir).expect("sled");
    db.iter()
        .map(|item| {
            let (key, value) = item.expect("item");
            (key.to_vec(), value.len())
        })
        .collect()
}

#[tokio::test]
async fn a_destination_charge_writes_a_bounded_number_of_keys_and_bytes() {
    // It counts the keys and bytes in sled's files.
    if crate::helpers::skipped_on_postgres(
        "a_destination_charge_writes_a_bounded_number_of_keys_and_bytes",
    ) {
        return;
    }
    let app = spawn_app_with_policies(policies_dir(), "marketplace").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let charge = |index: usize| {
        json!({"input": {"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
                         "transferData": {"destination": seller}, "metadata": {"category": "books"},
                         "idempotencyKey": format!("footprint-{index}")}})
    };
    let query = "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }";
    // One charge first, so that what every later charge only updates exists.
    assert_no_errors(&app.graphql(query, charge(0)).await);
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;
    let before = snapshot(&data_dir);

    let app = start_with(data_dir.clone(), Some(platform), policies_dir(), None).await;
    for index in 1..=CHARGES {
        assert_no_errors(&app.graphql(query, charge(index)).await);
    }
    let _ = app.stop().await;
    let after = snapshot(&data_dir);
    drop(temp);

    let mut per_keyspace: BTreeMap<char, (usize, usize)> = BTreeMap::new();
    let (mut keys, mut bytes) = (0usize, 0usize);
    for (key, length) in &after {
        let added = match before.get(key) {
            None => key.len() + length,
            Some(old) if old != length => length.saturating_sub(*old),
            Some(_) => continue,
        };
        let is_new = !before.contains_key(key);
        if is_new && std::env::var_os("FOOTPRINT_KEYS").is_some() {
            println!("  new {} ({length} bytes)", Key::describe(key));
        }
        let slot = per_keyspace.entry(key[0] as char).or_default();
        if is_new {
            slot.0 += 1;
            keys += 1;
        }
        slot.1 += added;
        bytes += added;
    }
    println!(
        "per destination charge (over {CHARGES}): {} new keys, {} bytes",
        keys / CHARGES,
        bytes / CHARGES
    );
    for (keyspace, (new_keys, new_bytes)) in &per_keyspace {
        println!(
            "  {keyspace}: {:.1} keys, {} bytes",
            *new_keys as f64 / CHARGES as f64,
            new_bytes / CHARGES
        );
    }
    assert_eq!(keys / CHARGES, 36);
    assert!(
        bytes / CHARGES <= 5_200,
        "{} bytes per charge",
        bytes / CHARGES
    );
}
