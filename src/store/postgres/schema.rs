//! The database schema, as numbered migrations compiled into the binary and applied at
//! startup, each once, in order, recorded in `tollgate_migrations`. Servers starting
//! together take an advisory lock first, so each migration runs exactly once.

use postgres::Client;

use super::super::StoreError;
use super::failed;

/// One step of the schema.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "one ordered table of keys and values",
    sql: "CREATE TABLE tollgate_kv (k bytea PRIMARY KEY, v bytea NOT NULL)",
}];

/// The advisory lock migrations run under ("tollgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x746f_6c6c_6761_7465;

/// Applies the migrations the database has not seen yet; returns how many. A database
/// migrated by a newer build is refused rather than guessed at.
pub fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let mut transaction = client.transaction().map_err(|error| failed(&error))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .and_then(|_| {
            transaction.batch_execute(
                "CREATE TABLE IF NOT EXISTS tollgate_migrations (\
                 version integer PRIMARY KEY, \
                 description text NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now())",
            )
        })
        .map_err(|error| failed(&error))?;
    let current: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM tollgate_migrations",
            &[],
        )
        .map_err(|error| failed(&error))?
        .get(0);
    let latest = MIGRATIONS.last().map_or(0, |migration| migration.version);
    if current > latest {
        return Err(StoreError::Integrity(format!(
            "the database's schema is at version {current}, newer than this build's {latest}: \
             run a newer tollgate"
        )));
    }
    let mut applied = 0;
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| migration.version > current)
    {
        transaction
            .batch_execute(migration.sql)
            .and_then(|()| {
                transaction.execute(
                    "INSERT INTO tollgate_migrations (version, description) VALUES ($1, $2)",
                    &[&migration.version, &migration.description],
                )
            })
            .map_err(|error| failed(&error))?;
        tracing::info!(
            version = migration.version,
            description = migration.description,
            "database migrated"
        );
        applied += 1;
    }
    transaction.commit().map_err(|error| failed(&error))?;
    Ok(applied)
}
