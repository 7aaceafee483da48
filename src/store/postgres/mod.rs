//! The PostgreSQL engine: the store's keys and values in one table of `(k bytea primary key,
//! v bytea)`, which orders keys bytewise as sled does, so every scan reads the same.
//!
//! The `postgres` crate's client is synchronous: each call runs a small runtime of its own
//! and blocks on it, which panics on a thread that already runs tokio (the store's readers
//! are called from tokio's worker threads). So no tokio thread ever touches a connection:
//! reads go over a channel to a few dedicated reader threads that each own a connection, and
//! the writer thread owns one of its own (`writer.rs`). A caller waits for its answer as it
//! would wait for sled reading a page from disk.

mod schema;
pub mod scratch;
mod writer;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use super::engine::{Direction, Engine, GroupWriter, Overlay, Pairs, Scan};
use super::location::PostgresUrl;
use super::StoreError;

/// Threads (each with its own connection) that serve the store's reads.
pub const READER_CONNECTIONS: usize = 4;
/// How long connecting to the database may take.
pub const CONNECT_TIMEOUT_SECONDS: u64 = 10;
/// The table of keys and values.
pub const TABLE: &str = "tollgate_kv";

type Job = Box<dyn FnOnce(&mut Reader) + Send>;

/// The store on PostgreSQL: the reader threads' queue and how to connect.
pub struct PostgresEngine {
    url: PostgresUrl,
    config: postgres::Config,
    jobs: mpsc::Sender<Job>,
}

/// The connection settings of `url`, with the application's name and a connect timeout.
pub fn connection_config(url: &PostgresUrl) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
        .secret()
        .parse()
        .map_err(|error| StoreError::Io(format!("{url} is not a PostgreSQL URL: {error}")))?;
    if config.get_application_name().is_none() {
        config.application_name("tollgate");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECONDS));
    }
    Ok(config)
}

/// A database error, as the store reports it.
pub(crate) fn failed(error: &postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(db) => StoreError::Io(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => {
            let cause = std::error::Error::source(error)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            StoreError::Io(format!("PostgreSQL: {error}{cause}"))
        }
    }
}

impl PostgresEngine {
    /// Brings the schema up to date, then starts the reader threads.
    pub fn open(url: &PostgresUrl) -> Result<PostgresEngine, StoreError> {
        let config = connection_config(url)?;
        let migration_config = config.clone();
        // Its own thread: the caller may be a tokio thread.
        std::thread::spawn(move || {
            let mut client = migration_config
                .connect(NoTls)
                .map_err(|error| failed(&error))?;
            schema::migrate(&mut client)
        })
        .join()
        .map_err(|_| StoreError::Io("the migration thread panicked".into()))?
        .map_err(|error| StoreError::Io(format!("could not open the store at {url}: {error}")))?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let inbox = Arc::new(Mutex::new(inbox));
        for index in 0..READER_CONNECTIONS {
            let inbox = Arc::clone(&inbox);
            let mut reader = Reader {
                config: config.clone(),
                connection: None,
            };
            std::thread::Builder::new()
                .name(format!("tollgate-pg-reader-{index}"))
                .spawn(move || reader.serve(&inbox))
                .map_err(|error| StoreError::Io(error.to_string()))?;
        }
        Ok(PostgresEngine {
            url: url.clone(),
            config,
            jobs,
        })
    }

    /// Runs `work` on a reader thread and waits for its answer.
    fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Reader) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |reader| {
                let _ = reply.send(work(reader));
            }))
            .map_err(|_| StoreError::Io("the PostgreSQL readers have stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Io("a PostgreSQL reader stopped".into()))?
    }

    /// Whether the table holds nothing yet (a restore goes only into an empty store).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.call(|reader| {
            let (client, _) = reader.connected()?;
            let row = client
                .query_opt(&format!("SELECT 1 FROM {TABLE} LIMIT 1"), &[])
                .map_err(|error| reader.failed(&error))?;
            Ok(row.is_none())
        })
    }
}

impl PostgresEngine {
    /// Deletes every key (a restore that failed half-way).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.call(|reader| {
            let (client, _) = reader.connected()?;
            let cleared = client.execute(&format!("DELETE FROM {TABLE}"), &[]);
            cleared.map(|_| ()).map_err(|error| reader.failed(&error))
        })
    }
}

/// The reads every connection prepares once.
struct Statements {
    get: Statement,
    get_many: Statement,
    forward: Statement,
    forward_open: Statement,
    reverse: Statement,
    reverse_open: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            get: client.prepare(&format!("SELECT v FROM {TABLE} WHERE k = $1"))?,
            get_many: client.prepare(&format!("SELECT k, v FROM {TABLE} WHERE k = ANY($1)"))?,
            forward: client.prepare(&format!(
                "SELECT k, v FROM {TABLE} WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3"
            ))?,
            forward_open: client.prepare(&format!(
                "SELECT k, v FROM {TABLE} WHERE k >= $1 ORDER BY k LIMIT $2"
            ))?,
            reverse: client.prepare(&format!(
                "SELECT k, v FROM {TABLE} WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3"
            ))?,
            reverse_open: client.prepare(&format!(
                "SELECT k, v FROM {TABLE} WHERE k >= $1 ORDER BY k DESC LIMIT $2"
            ))?,
        })
    }
}

/// One reader thread's connection, made on first use and again after it is lost.
struct Reader {
    config: postgres::Config,
    connection: Option<(Client, Statements)>,
}

impl Reader {
    fn serve(&mut self, inbox: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            let job = {
                let Ok(inbox) = inbox.lock() else { return };
                match inbox.recv() {
                    Ok(job) => job,
                    // The engine is gone: every sender was dropped.
                    Err(_) => return,
                }
            };
            job(self);
        }
    }

    fn connected(&mut self) -> Result<(&mut Client, &Statements), StoreError> {
        let connection = match self.connection.take() {
            Some(connection) if !connection.0.is_closed() => connection,
            _ => {
                let mut client = self.config.connect(NoTls).map_err(|error| failed(&error))?;
                let statements =
                    Statements::prepare(&mut client).map_err(|error| failed(&error))?;
                (client, statements)
            }
        };
        let (client, statements) = self.connection.insert(connection);
        Ok((client, statements))
    }

    /// Reports `error`, dropping a connection it closed so the next read reconnects.
    fn failed(&mut self, error: &postgres::Error) -> StoreError {
        if error.is_closed() {
            self.connection = None;
        }
        failed(error)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (client, statements) = self.connected()?;
        let row = client.query_opt(&statements.get, &[&key]);
        let row = row.map_err(|error| self.failed(&error))?;
        Ok(row.map(|row| row.get::<_, Vec<u8>>(0)))
    }

    fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (client, statements) = self.connected()?;
        let rows = client.query(&statements.get_many, &[&keys]);
        let rows = rows.map_err(|error| self.failed(&error))?;
        let mut found: HashMap<Vec<u8>, Vec<u8>> = rows
            .into_iter()
            .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1)))
            .collect();
        Ok(keys.iter().map(|key| found.remove(key)).collect())
    }

    fn scan(&mut self, scan: &Scan) -> Result<Pairs, StoreError> {
        let limit = i64::try_from(scan.limit).unwrap_or(i64::MAX);
        let (client, statements) = self.connected()?;
        let rows = match (&scan.end, scan.direction) {
            (Some(end), Direction::Forward) => {
                client.query(&statements.forward, &[&scan.start, end, &limit])
            }
            (None, Direction::Forward) => {
                client.query(&statements.forward_open, &[&scan.start, &limit])
            }
            (Some(end), Direction::Reverse) => {
                client.query(&statements.reverse, &[&scan.start, end, &limit])
            }
            (None, Direction::Reverse) => {
                client.query(&statements.reverse_open, &[&scan.start, &limit])
            }
        };
        let rows = rows.map_err(|error| self.failed(&error))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1)))
            .collect())
    }

    /// Applies `writes` in one transaction.
    fn apply(&mut self, writes: Overlay) -> Result<(), StoreError> {
        let (client, _) = self.connected()?;
        let applied = (|| {
            let mut transaction = client.transaction()?;
            writer::write_overlay(&mut transaction, writes)?;
            transaction.commit()
        })();
        applied.map_err(|error| self.failed(&error))
    }
}

impl Engine for PostgresEngine {
    fn describe(&self) -> String {
        format!("PostgreSQL at {}", self.url)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.call(move |reader| reader.get(&key))
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys = keys.to_vec();
        self.call(move |reader| reader.get_many(&keys))
    }

    fn scan(&self, scan: Scan) -> Result<Pairs, StoreError> {
        self.call(move |reader| reader.scan(&scan))
    }

    fn apply(&self, writes: Overlay) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.call(move |reader| reader.apply(writes))
    }

    /// A commit that returned is durable (`synchronous_commit` is on for the writer).
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn group_writer(&self) -> Result<Box<dyn GroupWriter>, StoreError> {
        Ok(Box::new(writer::PostgresGroupWriter::new(
            self.config.clone(),
        )))
    }
}
