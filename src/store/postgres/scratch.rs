//! Databases made for one test or benchmark run and dropped after it: created through the
//! server's `postgres` maintenance database, named `tollgate_t_…`.
//!
//! The work runs on a thread of its own, so these can be used from async tests (the
//! synchronous client must not run on a tokio thread).

use postgres::error::SqlState;
use postgres::NoTls;

use super::super::location::PostgresUrl;
use super::super::StoreError;
use super::{connection_config, failed, TABLE};

/// Every scratch database's name starts with this.
pub const SCRATCH_PREFIX: &str = "tollgate_t_";

/// Runs `work` with a connection to the server's maintenance database, on its own thread.
fn on_maintenance_database<R: Send + 'static>(
    server: &PostgresUrl,
    work: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
) -> Result<R, StoreError> {
    let config = connection_config(&server.with_database("postgres"))?;
    std::thread::spawn(move || {
        let mut client = config.connect(NoTls).map_err(|error| failed(&error))?;
        work(&mut client).map_err(|error| failed(&error))
    })
    .join()
    .map_err(|_| StoreError::Io("the database thread panicked".into()))?
}

/// Whether a PostgreSQL server answers at `server` (any database path is ignored).
pub fn reachable(server: &PostgresUrl) -> bool {
    on_maintenance_database(server, |client| client.simple_query("SELECT 1").map(|_| ())).is_ok()
}

/// Creates database `name` on `server` unless it exists. `name` must be a plain
/// identifier (letters, digits, underscores).
pub fn create_database(server: &PostgresUrl, name: &str) -> Result<PostgresUrl, StoreError> {
    check_name(name)?;
    let owned = name.to_owned();
    on_maintenance_database(server, move |client| {
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&owned])?
            .is_some();
        if !exists {
            client.batch_execute(&format!("CREATE DATABASE {owned}"))?;
        }
        Ok(())
    })?;
    Ok(server.with_database(name))
}

/// How long dropping a database waits for the connections still on it to close (a
/// store's reader threads let go a moment after it is closed).
const DROP_ATTEMPTS: u32 = 600;
const DROP_RETRY_MILLISECONDS: u64 = 50;

/// Drops database `name` once nothing uses it any more; past the wait, whatever still
/// does is disconnected.
pub fn drop_database(server: &PostgresUrl, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let owned = name.to_owned();
    on_maintenance_database(server, move |client| {
        for _ in 0..DROP_ATTEMPTS {
            match client.batch_execute(&format!("DROP DATABASE IF EXISTS {owned}")) {
                Err(error) if error.code() == Some(&SqlState::OBJECT_IN_USE) => {
                    std::thread::sleep(std::time::Duration::from_millis(DROP_RETRY_MILLISECONDS));
                }
                done => return done,
            }
        }
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {owned} WITH (FORCE)"))
    })
}

/// Drops database `name` at once, disconnecting whatever uses it (the databases of test
/// runs that ended).
pub fn drop_database_now(server: &PostgresUrl, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let owned = name.to_owned();
    on_maintenance_database(server, move |client| {
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {owned} WITH (FORCE)"))
    })
}

/// Deletes every key of the store in the database `url` names (if it has one yet), so the
/// next server to open it starts from an empty store.
pub fn empty_database(url: &PostgresUrl) -> Result<(), StoreError> {
    let config = connection_config(url)?;
    std::thread::spawn(move || {
        let mut client = config.connect(NoTls).map_err(|error| failed(&error))?;
        client
            .batch_execute(&format!(
                "DO $$ BEGIN IF to_regclass('{TABLE}') IS NOT NULL THEN DELETE FROM {TABLE}; \
                 END IF; END $$"
            ))
            .map_err(|error| failed(&error))
    })
    .join()
    .map_err(|_| StoreError::Io("the database thread panicked".into()))?
}

/// The scratch databases on `server`, by name.
pub fn scratch_databases(server: &PostgresUrl) -> Result<Vec<String>, StoreError> {
    on_maintenance_database(server, |client| {
        let rows = client.query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
            &[&SCRATCH_PREFIX],
        )?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    })
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if plain {
        Ok(())
    } else {
        Err(StoreError::Io(format!(
            "{name:?} is not a plain database name"
        )))
    }
}

/// A new, empty database, dropped when this is.
pub struct ScratchDatabase {
    server: PostgresUrl,
    name: String,
    url: PostgresUrl,
}

impl ScratchDatabase {
    /// Creates `tollgate_t_<random>` on `server`.
    pub fn create(server: &PostgresUrl) -> Result<ScratchDatabase, StoreError> {
        let name = format!("{SCRATCH_PREFIX}{:016x}", rand::random::<u64>());
        let url = create_database(server, &name)?;
        Ok(ScratchDatabase {
            server: server.clone(),
            name,
            url,
        })
    }

    /// The new database's URL.
    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(error) = drop_database(&self.server, &self.name) {
            tracing::warn!(%error, database = %self.name, "a scratch database was not dropped");
        }
    }
}
