//! Where a store lives, as `--store` / `TOLLGATE_STORE` name it: `postgres://…` (or
//! `postgresql://…`) for PostgreSQL, `sled:PATH` for sled in PATH; without the flag, sled in
//! the data directory. A PostgreSQL URL is shown and logged only with its password hidden.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What `--store` says.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sled(PathBuf),
    Postgres(PostgresUrl),
}

/// Where the store is, once the data directory is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    Sled(PathBuf),
    Postgres(PostgresUrl),
}

impl StoreLocation {
    /// The store `--store` names, or sled in `data_dir` without it.
    pub fn resolve(store: Option<&StoreUrl>, data_dir: &Path) -> StoreLocation {
        match store {
            None => StoreLocation::Sled(data_dir.to_path_buf()),
            Some(StoreUrl::Sled(path)) => StoreLocation::Sled(path.clone()),
            Some(StoreUrl::Postgres(url)) => StoreLocation::Postgres(url.clone()),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sled(path) => write!(formatter, "sled in {}", path.display()),
            StoreLocation::Postgres(url) => write!(formatter, "PostgreSQL at {url}"),
        }
    }
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<StoreUrl, String> {
        if let Some(path) = text.strip_prefix("sled:") {
            if path.is_empty() {
                return Err("sled: needs a path, e.g. sled:./data".into());
            }
            return Ok(StoreUrl::Sled(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return text.parse().map(StoreUrl::Postgres);
        }
        Err("a store is postgres://USER@HOST:PORT/DATABASE or sled:PATH".into())
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sled(path) => write!(formatter, "sled:{}", path.display()),
            StoreUrl::Postgres(url) => write!(formatter, "{url}"),
        }
    }
}

/// A PostgreSQL connection URL. `Display` and `Debug` hide its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    full: String,
    shown: String,
}

impl PostgresUrl {
    /// The URL with its password, for connecting only.
    pub fn secret(&self) -> &str {
        &self.full
    }

    /// The database the URL names, if any.
    pub fn database(&self) -> Option<String> {
        url::Url::parse(&self.full).ok().and_then(|parsed| {
            let name = parsed.path().trim_start_matches('/');
            (!name.is_empty()).then(|| name.to_owned())
        })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> PostgresUrl {
        let mut parsed = match url::Url::parse(&self.full) {
            Ok(parsed) => parsed,
            Err(_) => return self.clone(),
        };
        parsed.set_path(&format!("/{database}"));
        PostgresUrl::from_parsed(&parsed)
    }

    fn from_parsed(parsed: &url::Url) -> PostgresUrl {
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            // Only fails for URLs that cannot hold a password, which this one does.
            let _ = shown.set_password(Some("***"));
        }
        PostgresUrl {
            full: parsed.as_str().to_owned(),
            shown: shown.as_str().to_owned(),
        }
    }
}

impl FromStr for PostgresUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<PostgresUrl, String> {
        // The parser's message never quotes the URL, so no password reaches it.
        let parsed =
            url::Url::parse(text).map_err(|error| format!("not a PostgreSQL URL: {error}"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") || parsed.host_str().is_none() {
            return Err("a PostgreSQL URL is postgres://USER@HOST:PORT/DATABASE".into());
        }
        let url = PostgresUrl::from_parsed(&parsed);
        url.secret()
            .parse::<postgres::Config>()
            .map_err(|error| format!("{url} is not a PostgreSQL URL: {error}"))?;
        Ok(url)
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_an_engine_and_never_show_a_password() {
        let url: StoreUrl = "postgres://tollgate:s3cret@db.internal:5433/ledger"
            .parse()
            .expect("url");
        let StoreUrl::Postgres(postgres) = &url else {
            panic!("not postgres: {url:?}");
        };
        assert_eq!(
            postgres.to_string(),
            "postgres://tollgate:***@db.internal:5433/ledger"
        );
        assert_eq!(format!("{url:?}"), postgres.to_string());
        assert_eq!(
            postgres.secret(),
            "postgres://tollgate:s3cret@db.internal:5433/ledger"
        );
        assert_eq!(postgres.database().as_deref(), Some("ledger"));
        assert_eq!(
            postgres.with_database("other").to_string(),
            "postgres://tollgate:***@db.internal:5433/other"
        );
        let location = StoreLocation::resolve(Some(&url), Path::new("./data"));
        assert_eq!(
            location.to_string(),
            "PostgreSQL at postgres://tollgate:***@db.internal:5433/ledger"
        );
        assert_eq!(
            "sled:/var/lib/tollgate".parse::<StoreUrl>(),
            Ok(StoreUrl::Sled(PathBuf::from("/var/lib/tollgate")))
        );
        assert_eq!(
            StoreLocation::resolve(None, Path::new("./data")),
            StoreLocation::Sled(PathBuf::from("./data"))
        );
        for bad in ["mysql://x@y/z", "sled:", "./data", "postgres://"] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
    }
}
