//! Which store the integration tests' servers run on. Without `TOLLGATE_TEST_STORE`, sled
//! in each test's data directory. With `TOLLGATE_TEST_STORE=postgres://HOST:PORT/`, every
//! data directory gets its own new database on that server, named from this process and
//! the directory, so a restart, or a `tollgate` command given the directory, finds the same
//! one. A test's database is dropped with its temporary directory; databases of test runs
//! that ended without dropping theirs are dropped when the next run starts.
//!
//! The test databases' URLs set `synchronous_commit=off` (in their `options`, which the
//! store's writer honours instead of forcing it on): a commit is acknowledged before its
//! WAL reaches the disk. Nothing committed is lost unless the PostgreSQL server itself
//! crashes, which no test does; what the tests check (every answer after its commit, whole
//! groups, restarts of tollgate) is unchanged, and the suite spends far less time waiting
//! on fsync. Production URLs never carry it unless an operator writes it there.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tollgate::config::Settings;
use tollgate::store::postgres::scratch;
use tollgate::store::{PostgresUrl, StoreUrl};

/// The PostgreSQL server `TOLLGATE_TEST_STORE` names, if it names one.
pub fn test_server() -> Option<&'static PostgresUrl> {
    static SERVER: OnceLock<Option<PostgresUrl>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let text = std::env::var("TOLLGATE_TEST_STORE").ok()?;
            let server: PostgresUrl = text
                .parse()
                .unwrap_or_else(|error| panic!("TOLLGATE_TEST_STORE: {error}"));
            // In the background: a run that was killed may have left hundreds.
            let stale = server.clone();
            std::thread::spawn(move || drop_databases_of_ended_runs(&stale));
            println!("the integration tests' servers run on PostgreSQL at {server}");
            Some(server)
        })
        .as_ref()
}

/// Whether the servers run on PostgreSQL.
pub fn on_postgres() -> bool {
    test_server().is_some()
}

/// Says, on stdout, that a test checks sled's own files and so is skipped on PostgreSQL;
/// true when it is.
pub fn skipped_on_postgres(test: &str) -> bool {
    if on_postgres() {
        println!("{test}: skipped on PostgreSQL (it checks sled's files)");
        return true;
    }
    false
}

fn database_name(data_dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    format!(
        "{}{}_{:016x}",
        scratch::SCRATCH_PREFIX,
        std::process::id(),
        hasher.finish()
    )
}

/// The store for `data_dir`: its database (made the first time), or `None` for sled.
pub fn store_for(data_dir: &Path) -> Option<StoreUrl> {
    static MADE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let server = test_server()?;
    let name = database_name(data_dir);
    let made = MADE.get_or_init(Mutex::default);
    let mut made = made
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = if made.contains(data_dir) {
        server.with_database(&name)
    } else {
        let url = scratch::create_database(server, &name).expect("create the test database");
        made.insert(data_dir.to_path_buf());
        url
    };
    Some(StoreUrl::Postgres(without_synchronous_commit(&url)))
}

/// `url` with `synchronous_commit=off` in its connection options (see the module's doc).
pub fn without_synchronous_commit(url: &PostgresUrl) -> PostgresUrl {
    format!("{}?options=-c%20synchronous_commit%3Doff", url.secret())
        .parse()
        .expect("a test database's URL with options")
}

/// `settings` on the test store of its data directory, unless it names a store already.
pub fn on_test_store(settings: Settings) -> Settings {
    if settings.store.is_some() {
        return settings;
    }
    Settings {
        store: store_for(&settings.data_dir),
        ..settings
    }
}

/// The environment a `tollgate` command over `data_dir` needs to find its store.
pub fn store_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    match store_for(data_dir) {
        Some(StoreUrl::Postgres(url)) => vec![("TOLLGATE_STORE", url.secret().to_owned())],
        _ => Vec::new(),
    }
}

/// [`store_env`] for the directory after `--data` in a command's arguments, if any.
pub fn store_env_of_args(args: &[impl AsRef<str>]) -> Vec<(&'static str, String)> {
    args.iter()
        .position(|arg| arg.as_ref() == "--data")
        .and_then(|index| args.get(index + 1))
        .map(|data| store_env(Path::new(data.as_ref())))
        .unwrap_or_default()
}

/// Drops the database of `data_dir`, if one was made, when dropped itself.
pub struct DatabaseOf(Option<PathBuf>);

impl DatabaseOf {
    pub fn new(data_dir: &Path) -> DatabaseOf {
        DatabaseOf(on_postgres().then(|| data_dir.to_path_buf()))
    }
}

impl Drop for DatabaseOf {
    /// Drops the database in the background, once the servers on it have let go (a test's
    /// server may still be stopping); one the process ends before dropping is dropped by
    /// the next run.
    fn drop(&mut self) {
        if let (Some(data_dir), Some(server)) = (self.0.take(), test_server()) {
            let name = database_name(&data_dir);
            std::thread::spawn(move || {
                if let Err(error) = scratch::drop_database(server, &name) {
                    eprintln!("the test database {name} was not dropped: {error}");
                }
            });
        }
    }
}

/// One database for `purpose` in this process, emptied (every key deleted) on every call:
/// for a test that starts thousands
/// of short-lived stores one after another, each stopped before the next starts, where
/// making a database for each would take most of the run. `None` on sled.
pub fn emptied_database(purpose: &str) -> Option<StoreUrl> {
    let server = test_server()?;
    let name = format!(
        "{}{}_{purpose}",
        scratch::SCRATCH_PREFIX,
        std::process::id()
    );
    let url = scratch::create_database(server, &name).expect("create the test database");
    scratch::empty_database(&url).expect("empty the test database");
    Some(StoreUrl::Postgres(without_synchronous_commit(&url)))
}

/// Drops the test databases of processes on this machine that have ended.
fn drop_databases_of_ended_runs(server: &PostgresUrl) {
    let Ok(names) = scratch::scratch_databases(server) else {
        return;
    };
    for name in names {
        let pid = name
            .strip_prefix(scratch::SCRATCH_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let ended = pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let _ = scratch::drop_database_now(server, &name);
        }
    }
}
