//! The policy registry: every policy compiled and tested once at startup, looked up by name, and swapped atomically on reload only when it compiles and its tests pass.
//!
//! A policy that does not load — it does not compile, fails its tests, or its file is
//! missing — is unavailable, and only the platforms priced by it are: their requests that
//! need it fail with that load error. There is never a fallback to another policy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, Utc};

use super::decision::{decide_charge, ChargeRequest, PolicyDecision};
use super::error::{PolicyError, PolicySite, RegistryError};
use super::loaded::{Hook, LoadedPolicy};
use super::pool::{PolicyPool, PoolSize};
use super::results::SplitDirectory;
use super::sandbox::PolicyEngine;
use super::source::{classify_file, policy_version, read_source, PolicyFile};
use super::testing::{
    first_failure, misspelled_hooks, policy_names, run_policy_tests, test_file_path,
};
use crate::config::{MAX_QUEUED_POLICY_CALLS, POLICY_CALLS_PER_PLATFORM, POLICY_POOL_THREADS};

/// The policy for platforms created without one.
pub const DEFAULT_POLICY_NAME: &str = "default";
/// The processor's own pricing.
pub const GATEWAY_POLICY_NAME: &str = "gateway";
/// The most policies one folder may hold.
pub const MAX_POLICIES: usize = 1_000;
/// The most policy sources kept in memory for `source_by_version`; past it, versions no
/// longer in force are forgotten (the caller stores every version durably).
pub const MAX_VERSIONS_IN_MEMORY: usize = 10_000;

/// A change the caller records (as `policy.updated` / `policy.load_failed` events, and the
/// source keyed by its version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChange {
    Updated {
        name: String,
        version: String,
        source: Arc<str>,
    },
    LoadFailed {
        name: String,
        error: PolicyError,
    },
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Updated {
        name: String,
        version: String,
    },
    /// The file holds the version already in force (its `last_error` is cleared).
    Unchanged {
        name: String,
        version: String,
    },
    /// Not a policy file, or the file is gone (the last good version stays).
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatus {
    pub name: String,
    /// `None` only for a new file that has never loaded.
    pub version: Option<String>,
    pub hooks: Vec<Hook>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub last_error: Option<PolicyError>,
    pub source: Option<Arc<str>>,
}

type ChangeListener = Box<dyn Fn(PolicyChange) + Send + Sync>;

pub struct PolicyRegistry {
    policy_dir: PathBuf,
    engine: Arc<PolicyEngine>,
    /// Where hooks run for requests: off the async runtime, a share per platform.
    pool: PolicyPool,
    state: RwLock<RegistryState>,
    /// Reloads run one at a time, so "compare with the version in force, then swap" is atomic.
    reload_lock: Mutex<()>,
    listener: ChangeListener,
}

struct RegistryState {
    slots: HashMap<String, Slot>,
    versions: HashMap<String, Arc<str>>,
}

#[derive(Default)]
struct Slot {
    current: Option<Arc<LoadedPolicy>>,
    last_error: Option<PolicyError>,
}

impl PolicyRegistry {
    /// Compiles and tests every `*.rhai` (not `*.test.rhai`) in `policy_dir`. A policy that
    /// does not compile or fails its tests is kept as unavailable with its error (and a
    /// `LoadFailed` change), so only the platforms it prices are affected; only an unreadable
    /// or oversized folder stops the load. `listener` hears an `Updated` for every policy
    /// loaded now and every later change.
    pub fn load(
        policy_dir: impl Into<PathBuf>,
        engine: Arc<PolicyEngine>,
        listener: impl Fn(PolicyChange) + Send + Sync + 'static,
    ) -> Result<Arc<PolicyRegistry>, RegistryError> {
        let policy_dir = policy_dir.into();
        std::fs::read_dir(&policy_dir).map_err(|error| RegistryError::FolderUnreadable {
            path: policy_dir.clone(),
            message: error.to_string(),
        })?;
        let names = policy_names(&policy_dir);
        if names.len() > MAX_POLICIES {
            return Err(RegistryError::TooManyPolicies {
                path: policy_dir,
                count: names.len(),
                max_policies: MAX_POLICIES,
            });
        }
        let mut slots = HashMap::with_capacity(names.len());
        let mut versions = HashMap::new();
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let loaded = read_source(&policy_dir.join(format!("{name}.rhai")))
                .and_then(|source| LoadedPolicy::compile(Arc::clone(&engine), &name, source))
                .map(Arc::new)
                .and_then(|candidate| {
                    check_tests(&policy_dir, &candidate)?;
                    Ok(candidate)
                });
            let slot = match loaded {
                Ok(policy) => {
                    for warning in misspelled_hooks(policy.functions()) {
                        tracing::warn!(target: "tollgate::policy", policy = %name, "{warning}");
                    }
                    versions.insert(policy.version().to_string(), Arc::clone(policy.source()));
                    changes.push(updated(&policy));
                    Slot {
                        current: Some(policy),
                        last_error: None,
                    }
                }
                Err(error) => {
                    tracing::error!(target: "tollgate::policy", policy = %name, %error, "policy did not load; the platforms it prices are disabled");
                    changes.push(PolicyChange::LoadFailed {
                        name: name.clone(),
                        error: error.clone(),
                    });
                    Slot {
                        current: None,
                        last_error: Some(error),
                    }
                }
            };
            slots.insert(name, slot);
        }
        let pool = PolicyPool::start(PoolSize {
            threads: POLICY_POOL_THREADS,
            calls_per_platform: POLICY_CALLS_PER_PLATFORM,
            queued_calls: MAX_QUEUED_POLICY_CALLS,
        })
        .map_err(|error| RegistryError::Pool {
            message: error.to_string(),
        })?;
        let registry = PolicyRegistry {
            policy_dir,
            engine,
            pool,
            state: RwLock::new(RegistryState { slots, versions }),
            reload_lock: Mutex::new(()),
            listener: Box::new(listener),
        };
        changes
            .into_iter()
            .for_each(|change| (registry.listener)(change));
        Ok(Arc::new(registry))
    }

    pub fn policy_dir(&self) -> &Path {
        &self.policy_dir
    }

    pub fn engine(&self) -> &Arc<PolicyEngine> {
        &self.engine
    }

    /// The version in force of policy `name`; when it has none (it never loaded, or its
    /// file is missing), the error that says why.
    pub fn policy(&self, name: &str) -> Result<Arc<LoadedPolicy>, PolicyError> {
        let state = self.read();
        match state.slots.get(name) {
            Some(Slot {
                current: Some(policy),
                ..
            }) => Ok(Arc::clone(policy)),
            Some(Slot {
                last_error: Some(error),
                ..
            }) => Err(unavailable(name, &error.to_string())),
            _ => Err(unavailable(
                name,
                &format!("there is no {name}.rhai in {}", self.policy_dir.display()),
            )),
        }
    }

    /// Runs policy work for `platform` on the pool, within the platform's share, without
    /// holding the async runtime.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        platform: &str,
        work: impl FnOnce(&PolicyRegistry) -> Result<T, PolicyError> + Send + 'static,
    ) -> Result<T, PolicyError> {
        let registry = Arc::clone(self);
        self.pool
            .run(platform, move || work(&registry))
            .await
            .map_err(|closed| PolicyError::Unavailable {
                site: PolicySite::file("all policies"),
                message: closed.to_string(),
            })?
    }

    pub fn pool_size(&self) -> PoolSize {
        self.pool.size()
    }

    /// Whether a policy of that name is in force (for validating a platform's policy name).
    pub fn contains(&self, name: &str) -> bool {
        self.read()
            .slots
            .get(name)
            .is_some_and(|slot| slot.current.is_some())
    }

    /// The processor's own pricing, which every charge needs.
    pub fn gateway(&self) -> Result<Arc<LoadedPolicy>, PolicyError> {
        self.policy(GATEWAY_POLICY_NAME)
    }

    /// Prices a charge with the gateway and `policy_name` versions in force right now.
    pub fn decide_charge(
        &self,
        policy_name: &str,
        request: &ChargeRequest,
        directory: &dyn SplitDirectory,
    ) -> Result<PolicyDecision, PolicyError> {
        let policy = self.policy(policy_name)?;
        let gateway = self.gateway()?;
        decide_charge(&gateway, &policy, request, directory)
    }

    /// The version in force of exactly the policy `name`, without falling back to `default`.
    pub fn named(&self, name: &str) -> Option<Arc<LoadedPolicy>> {
        self.read()
            .slots
            .get(name)
            .and_then(|slot| slot.current.clone())
    }

    /// Compiles a candidate policy in the same sandbox as every policy, without installing
    /// it: a backtest prices recorded charges with it and nothing else sees it.
    pub fn compile_candidate(
        &self,
        name: &str,
        source: impl Into<Arc<str>>,
    ) -> Result<LoadedPolicy, PolicyError> {
        LoadedPolicy::compile(Arc::clone(&self.engine), name, source)
    }

    /// Prices a charge with the gateway version in force and `candidate`, which need not be
    /// in force: how a backtest asks what a candidate would have decided.
    pub fn decide_charge_with(
        &self,
        candidate: &LoadedPolicy,
        request: &ChargeRequest,
        directory: &dyn SplitDirectory,
    ) -> Result<PolicyDecision, PolicyError> {
        let gateway = self.gateway()?;
        decide_charge(&gateway, candidate, request, directory)
    }

    /// Every policy, sorted by name.
    pub fn status(&self) -> Vec<PolicyStatus> {
        let state = self.read();
        let mut statuses: Vec<PolicyStatus> = state
            .slots
            .iter()
            .map(|(name, slot)| status_of(name, slot))
            .collect();
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        statuses
    }

    pub fn status_of(&self, name: &str) -> Option<PolicyStatus> {
        self.read()
            .slots
            .get(name)
            .map(|slot| status_of(name, slot))
    }

    /// The status of the policy a platform names; when its file is missing, a status with
    /// no version whose `last_error` says so.
    pub fn status_for_platform(&self, name: &str) -> PolicyStatus {
        match self.status_of(name) {
            Some(status) => status,
            None => PolicyStatus {
                name: name.to_string(),
                version: None,
                hooks: Vec::new(),
                loaded_at: None,
                last_error: self.policy(name).err(),
                source: None,
            },
        }
    }

    /// The source of any version loaded since startup (within [`MAX_VERSIONS_IN_MEMORY`]).
    pub fn source_by_version(&self, version: &str) -> Option<Arc<str>> {
        self.read().versions.get(version).cloned()
    }

    /// Reloads the policy a changed file belongs to: `<name>.rhai` itself, or the policy of
    /// a changed `<name>.test.rhai`. The new version is swapped in only if it compiles and
    /// its tests pass; otherwise the version in force stays and `last_error` says why.
    pub fn reload_file(&self, path: &Path) -> Result<ReloadOutcome, PolicyError> {
        let _one_reload_at_a_time = self
            .reload_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (name, policy_path) = match classify_file(path) {
            PolicyFile::Policy(name) => (name, path.to_path_buf()),
            PolicyFile::Tests(name) => {
                let policy_path = self.policy_dir.join(format!("{name}.rhai"));
                (name, policy_path)
            }
            PolicyFile::Other => return Ok(ReloadOutcome::Ignored),
        };
        if !policy_path.is_file() {
            return Ok(ReloadOutcome::Ignored);
        }
        let source = read_source(&policy_path).map_err(|error| self.fail(&name, error))?;
        let version = policy_version(&source);
        let tests_changed = matches!(classify_file(path), PolicyFile::Tests(_));
        if !tests_changed && self.current_version(&name).as_deref() == Some(version.as_str()) {
            self.write()
                .slots
                .entry(name.clone())
                .or_default()
                .last_error = None;
            return Ok(ReloadOutcome::Unchanged { name, version });
        }
        if !self.read().slots.contains_key(&name) && self.read().slots.len() >= MAX_POLICIES {
            let error = PolicyError::Unreadable {
                site: PolicySite::file(format!("{name}.rhai")),
                message: format!("the folder already has {MAX_POLICIES} policies, the limit"),
            };
            return Err(self.fail(&name, error));
        }
        let candidate = LoadedPolicy::compile(Arc::clone(&self.engine), &name, source)
            .map(Arc::new)
            .map_err(|error| self.fail(&name, error))?;
        self.check_tests(&candidate)
            .map_err(|error| self.fail(&name, error))?;
        if self.current_version(&name).as_deref() == Some(version.as_str()) {
            // Only the tests changed, and they pass: nothing to swap, nothing to report.
            self.write()
                .slots
                .entry(name.clone())
                .or_default()
                .last_error = None;
            return Ok(ReloadOutcome::Unchanged { name, version });
        }
        Ok(self.install(candidate))
    }

    fn check_tests(&self, candidate: &Arc<LoadedPolicy>) -> Result<(), PolicyError> {
        check_tests(&self.policy_dir, candidate)
    }

    fn install(&self, policy: Arc<LoadedPolicy>) -> ReloadOutcome {
        let name = policy.name().to_string();
        let version = policy.version().to_string();
        {
            let mut state = self.write();
            if state.versions.len() >= MAX_VERSIONS_IN_MEMORY {
                let in_force: Vec<String> = state
                    .slots
                    .values()
                    .filter_map(|slot| {
                        slot.current
                            .as_ref()
                            .map(|current| current.version().to_string())
                    })
                    .collect();
                state
                    .versions
                    .retain(|version, _| in_force.contains(version));
            }
            state
                .versions
                .insert(version.clone(), Arc::clone(policy.source()));
            state.slots.insert(
                name.clone(),
                Slot {
                    current: Some(Arc::clone(&policy)),
                    last_error: None,
                },
            );
        }
        tracing::info!(target: "tollgate::policy", policy = %name, %version, "policy updated");
        (self.listener)(updated(&policy));
        ReloadOutcome::Updated { name, version }
    }

    /// Records a failed load: the version in force (if any) stays, and the error is kept and reported.
    fn fail(&self, name: &str, error: PolicyError) -> PolicyError {
        self.write()
            .slots
            .entry(name.to_string())
            .or_default()
            .last_error = Some(error.clone());
        tracing::warn!(target: "tollgate::policy", policy = %name, %error, "policy load failed; the last good version stays");
        (self.listener)(PolicyChange::LoadFailed {
            name: name.to_string(),
            error: error.clone(),
        });
        error
    }

    fn current_version(&self, name: &str) -> Option<String> {
        self.read().slots.get(name).and_then(|slot| {
            slot.current
                .as_ref()
                .map(|policy| policy.version().to_string())
        })
    }

    /// A poisoned lock only means a panic elsewhere; the map itself is always whole, since
    /// every write replaces entries in one step.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RegistryState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RegistryState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a candidate's `<name>.test.rhai`, if it has one: the first failure keeps it out.
fn check_tests(policy_dir: &Path, candidate: &Arc<LoadedPolicy>) -> Result<(), PolicyError> {
    let test_path = test_file_path(policy_dir, candidate.name());
    if !test_path.is_file() {
        return Ok(());
    }
    let test_file = format!("{}.test.rhai", candidate.name());
    let test_source = read_source(&test_path)?;
    let reports = run_policy_tests(candidate, &test_file, &test_source)?;
    first_failure(&test_file, &reports).map_or(Ok(()), Err)
}

/// The error every request that needs an unavailable policy gets, carrying why.
fn unavailable(name: &str, reason: &str) -> PolicyError {
    PolicyError::Unavailable {
        site: PolicySite::file(format!("{name}.rhai")),
        message: format!("the policy is not loaded, so its platforms cannot be priced: {reason}"),
    }
}

fn updated(policy: &LoadedPolicy) -> PolicyChange {
    PolicyChange::Updated {
        name: policy.name().to_string(),
        version: policy.version().to_string(),
        source: Arc::clone(policy.source()),
    }
}

fn status_of(name: &str, slot: &Slot) -> PolicyStatus {
    let current = slot.current.as_ref();
    PolicyStatus {
        name: name.to_string(),
        version: current.map(|policy| policy.version().to_string()),
        hooks: current
            .map(|policy| policy.hooks().to_vec())
            .unwrap_or_default(),
        loaded_at: current.map(|policy| policy.loaded_at()),
        last_error: slot.last_error.clone(),
        source: current.map(|policy| Arc::clone(policy.source())),
    }
}
