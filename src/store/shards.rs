//! Several stores as shards of one deployment: `--store A,B,…` names them, the first holds
//! the platform directory (which shard each platform lives on), and every platform's keys,
//! entries and chain live on its shard alone. One store is the unsharded case: no directory
//! is read.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::engine::for_each_with_prefix;
use super::keys::{Key, Keyspace};
use super::location::{StoreLocation, StoreUrl};
use super::{Commit, Store, StoreError, StoreOptions, Write, WriterThread};

/// The directory's meta keys, `shard_of:<platform>` → the shard's number (0 is the first).
pub const SHARD_DIRECTORY_PREFIX: &str = "shard_of:";
/// The index (of the server's own, platform-less indexes) that lists a store's platforms.
pub const PLATFORMS_INDEX: &str = "platforms";

/// What `--store` says when it may list several stores, separated by commas.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreList(pub Vec<StoreUrl>);

impl FromStr for StoreList {
    type Err = String;

    fn from_str(text: &str) -> Result<StoreList, String> {
        let stores = text
            .split(',')
            .map(|part| part.trim().parse::<StoreUrl>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoreList(stores))
    }
}

impl fmt::Debug for StoreList {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(&self.0).finish()
    }
}

impl StoreList {
    /// Where each shard is, in order; sled in `data_dir` without `--store`.
    pub fn locations(list: Option<&StoreList>, data_dir: &Path) -> Vec<StoreLocation> {
        match list {
            None => vec![StoreLocation::resolve(None, data_dir)],
            Some(list) => list
                .0
                .iter()
                .map(|url| StoreLocation::resolve(Some(url), data_dir))
                .collect(),
        }
    }
}

/// The open shards, each with its own writer and chain.
pub struct Shards {
    stores: Vec<Store>,
    writers: Vec<WriterThread>,
}

impl Shards {
    /// Opens every shard (proving each one's chain) in order.
    pub fn open(locations: &[StoreLocation], options: &StoreOptions) -> Result<Shards, StoreError> {
        if locations.is_empty() {
            return Err(StoreError::Io("no store named".into()));
        }
        let mut shards = Shards {
            stores: Vec::with_capacity(locations.len()),
            writers: Vec::with_capacity(locations.len()),
        };
        for location in locations {
            match Store::open_at(location, options.clone()) {
                Ok((store, writer)) => {
                    shards.stores.push(store);
                    shards.writers.push(writer);
                }
                Err(error) => {
                    shards.close();
                    return Err(error);
                }
            }
        }
        Ok(shards)
    }

    pub fn len(&self) -> usize {
        self.stores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// Every shard, in order.
    pub fn stores(&self) -> &[Store] {
        &self.stores
    }

    /// Shard `number` (0 is the first).
    pub fn shard(&self, number: usize) -> Result<&Store, StoreError> {
        self.stores.get(number).ok_or_else(|| {
            StoreError::Io(format!(
                "there is no shard {number}: {} stores are named (0 to {})",
                self.stores.len(),
                self.stores.len().saturating_sub(1)
            ))
        })
    }

    /// The shard a platform lives on. With one store that is it, without a read; with
    /// several, the directory says, and a platform it does not name (created before the
    /// store was sharded) is on the first.
    pub fn shard_of(&self, platform: &str) -> Result<usize, StoreError> {
        if self.stores.len() == 1 {
            return Ok(0);
        }
        let directory = self.shard(0)?;
        let Some(bytes) = directory.get_raw(&directory_key(platform))? else {
            return Ok(0);
        };
        let number = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse::<usize>().ok())
            .ok_or_else(|| {
                StoreError::Codec(format!(
                    "the shard directory's record of {platform} is garbled"
                ))
            })?;
        self.shard(number)?;
        Ok(number)
    }

    /// The store a platform's requests go to.
    pub fn for_platform(&self, platform: &str) -> Result<&Store, StoreError> {
        self.shard(self.shard_of(platform)?)
    }

    /// How many platforms each shard holds (from each shard's own list of platforms).
    pub fn platform_counts(&self) -> Result<Vec<u64>, StoreError> {
        let prefix = Key::index_prefix("", PLATFORMS_INDEX);
        self.stores
            .iter()
            .map(|store| {
                let mut count: u64 = 0;
                for_each_with_prefix(store.engine.as_ref(), prefix.as_bytes(), |_, _| {
                    count += 1;
                    Ok(true)
                })?;
                Ok(count)
            })
            .collect()
    }

    /// The shard a new platform goes to: the one holding the fewest platforms, the first of
    /// those on a tie.
    pub fn shard_for_new_platform(&self) -> Result<usize, StoreError> {
        if self.stores.len() == 1 {
            return Ok(0);
        }
        let counts = self.platform_counts()?;
        Ok(counts
            .iter()
            .enumerate()
            .min_by_key(|(number, count)| (**count, *number))
            .map_or(0, |(number, _)| number))
    }

    /// Records in the directory that `platform` lives on shard `number`.
    pub async fn assign(&self, platform: &str, number: usize) -> Result<(), StoreError> {
        self.shard(number)?;
        if self.stores.len() == 1 {
            return Ok(());
        }
        let mut commit = Commit::new(None);
        commit.writes.push(Write::Raw {
            key: directory_key(platform),
            value: number.to_string().into_bytes(),
        });
        self.shard(0)?.commit(commit).await.map(|_| ())
    }

    /// Every platform the directory names, with its shard.
    pub fn directory(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut platforms = Vec::new();
        let prefix = Key::new(Keyspace::Meta, SHARD_DIRECTORY_PREFIX);
        for_each_with_prefix(
            self.shard(0)?.engine.as_ref(),
            prefix.as_bytes(),
            |key, value| {
                let key = Key::from_bytes(key);
                let platform = key.rest().trim_start_matches(SHARD_DIRECTORY_PREFIX);
                let number = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse::<usize>().ok())
                    .ok_or_else(|| {
                        StoreError::Codec(format!(
                            "the shard directory's record of {platform} is garbled"
                        ))
                    })?;
                platforms.push((platform.to_owned(), number));
                Ok(true)
            },
        )?;
        Ok(platforms)
    }

    /// Stops every writer, each after flushing what it applied.
    pub fn close(self) {
        for store in self.stores {
            store.close();
        }
        for writer in self.writers {
            writer.join();
        }
    }
}

fn directory_key(platform: &str) -> Key {
    Key::new(
        Keyspace::Meta,
        &format!("{SHARD_DIRECTORY_PREFIX}{platform}"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_store_list_names_each_shard_in_order() {
        let list: StoreList = "sled:/a, postgres://tollgate@db:5432/b"
            .parse()
            .expect("list");
        let locations = StoreList::locations(Some(&list), Path::new("./data"));
        assert_eq!(locations.len(), 2);
        assert_eq!(locations[0], StoreLocation::Sled(PathBuf::from("/a")));
        assert_eq!(
            locations[1].to_string(),
            "PostgreSQL at postgres://tollgate@db:5432/b"
        );
        assert_eq!(
            StoreList::locations(None, Path::new("./data")),
            vec![StoreLocation::Sled(PathBuf::from("./data"))]
        );
        assert!("sled:/a,".parse::<StoreList>().is_err());
        assert!("sled:/a,mysql://x".parse::<StoreList>().is_err());
    }
}
