//! The store's own tests, run against sled and, when a server answers, PostgreSQL (each
//! test on a new database, dropped after it): revision conflicts, the hash chain against
//! tampering made through the engine itself, running totals, groups, sled's flush and
//! high-water record, and two writers sharing one database.

mod chain;
mod shared;
mod sled_only;
mod writes;

use std::sync::{Arc, OnceLock};

use chrono::Utc;

use super::engine::Engine;
use super::postgres::scratch::{self, ScratchDatabase};
use super::postgres::PostgresEngine;
use super::sled_engine::SledEngine;
use super::*;
use crate::ids::{IdGenerator, PlatformId};
use crate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, LineSpec};
use crate::ledger::{Entry, Holder};
use crate::money::{Currency, MinorUnits};

/// The PostgreSQL server the tests use: `TOLLGATE_TEST_STORE`, or the local one.
const DEFAULT_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/";

/// The test server, when one answers; says once, on stdout, when none does.
fn postgres_server() -> Option<PostgresUrl> {
    static SERVER: OnceLock<Option<PostgresUrl>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let text = std::env::var("TOLLGATE_TEST_STORE")
                .ok()
                .filter(|text| text.starts_with("postgres"))
                .unwrap_or_else(|| DEFAULT_TEST_SERVER.to_owned());
            let server: PostgresUrl = text.parse().ok()?;
            if scratch::reachable(&server) {
                Some(server)
            } else {
                println!(
                    "PostgreSQL is not reachable at {server}: the store's tests ran on sled only"
                );
                None
            }
        })
        .clone()
}

/// Where one test's store lives.
pub(super) enum Backend {
    Sled(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

impl Backend {
    fn sled() -> Backend {
        Backend::Sled(tempfile::tempdir().expect("temp"))
    }

    /// A new database, when a PostgreSQL server answers.
    fn postgres() -> Option<Backend> {
        let server = postgres_server()?;
        Some(Backend::Postgres(
            ScratchDatabase::create(&server).expect("scratch database"),
        ))
    }

    /// sled, and PostgreSQL when it answers.
    fn all() -> Vec<Backend> {
        std::iter::once(Backend::sled())
            .chain(Backend::postgres())
            .collect()
    }

    fn location(&self) -> StoreLocation {
        match self {
            Backend::Sled(dir) => StoreLocation::Sled(dir.path().to_path_buf()),
            Backend::Postgres(database) => StoreLocation::Postgres(database.url().clone()),
        }
    }

    fn open(&self) -> Result<(Store, WriterThread), StoreError> {
        Store::open_at(&self.location(), StoreOptions::default())
    }

    /// The engine alone, as someone editing the store with its own tools would reach it.
    fn engine(&self) -> Arc<dyn Engine> {
        match self {
            Backend::Sled(dir) => {
                Arc::new(SledEngine::open(dir.path(), 1024 * 1024).expect("sled"))
            }
            Backend::Postgres(database) => {
                Arc::new(PostgresEngine::open(database.url()).expect("postgres"))
            }
        }
    }

    /// Changes the stored keys behind the store's back.
    fn tamper(&self, change: impl FnOnce(&dyn Engine)) {
        let engine = self.engine();
        change(engine.as_ref());
        engine.flush().expect("flush");
    }

    /// The message a store refused to open with.
    fn refusal(&self) -> String {
        match self.open() {
            Err(StoreError::Integrity(message)) => message,
            Err(other) => panic!("expected an integrity refusal, got {other:?}"),
            Ok(_) => panic!("the tampered store was accepted"),
        }
    }
}

fn usd() -> Currency {
    Currency::parse("usd").expect("usd")
}

/// A top-up (or, with a negative amount, a payout) between the platform and the bank.
fn topup_entry(ids: &IdGenerator, platform: &PlatformId, amount_minor: i64) -> Entry {
    let amount = MinorUnits::new(amount_minor).expect("amount");
    let mut builder = EntryBuilder::new(ids, platform, EntryKind::Topup, "tu_test", Utc::now());
    builder
        .line(LineSpec {
            holder: Holder::Platform(platform.clone()),
            transaction_type: BalanceTransactionType::Topup,
            source_id: "tu_test".into(),
            currency: usd(),
            amount,
            fee_details: vec![],
            available_on: None,
            description: None,
        })
        .expect("line");
    builder.system(
        Holder::Bank,
        usd(),
        MinorUnits::new(-amount_minor).expect("amount"),
    );
    builder.build().expect("balanced")
}

/// A store with one top-up entry of each amount; returns the entries' keys.
async fn store_with_topups(backend: &Backend, platform: &PlatformId, amounts: &[i64]) -> Vec<Key> {
    let ids = IdGenerator::new();
    let (store, writer) = backend.open().expect("open");
    let mut keys = Vec::new();
    for &amount in amounts {
        let entry = topup_entry(&ids, platform, amount);
        keys.push(Key::entry(platform.as_ref(), entry.id.as_ref()));
        let mut commit = Commit::new(Some(platform.clone()));
        commit.entries.push(entry);
        store.commit(commit).await.expect("commit");
    }
    store.close();
    writer.join();
    keys
}
