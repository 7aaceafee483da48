//! Watches the policy folder and reloads a policy whenever its file or its test file changes.
//!
//! Removals are ignored: a deleted policy keeps its last good version until the next start.
//! Writers should replace files by renaming a finished file into place; a file written in
//! several steps may be seen half-written, fail to load (reported, last good version kept),
//! and then load when the final write arrives.

use std::sync::{Arc, Weak};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::error::RegistryError;
use super::registry::PolicyRegistry;

/// Keeps the folder watched; dropping it stops the watching.
pub struct PolicyWatcher {
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher").finish_non_exhaustive()
    }
}

impl PolicyRegistry {
    /// Starts watching the policy folder. Outcomes reach the registry's change listener.
    pub fn watch(self: &Arc<Self>) -> Result<PolicyWatcher, RegistryError> {
        let watch_error = |error: notify::Error| RegistryError::Watch {
            path: self.policy_dir().to_path_buf(),
            message: error.to_string(),
        };
        // A weak handle, so that a forgotten watcher does not keep the registry alive.
        let registry: Weak<PolicyRegistry> = Arc::downgrade(self);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let Some(registry) = registry.upgrade() else {
                return;
            };
            match event {
                Ok(event) if is_content_change(&event.kind) => {
                    for path in &event.paths {
                        // Failures are reported to the listener and kept as `last_error`.
                        let _outcome = registry.reload_file(path);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(target: "tollgate::policy", %error, "policy folder watch error")
                }
            }
        })
        .map_err(watch_error)?;
        watcher
            .watch(self.policy_dir(), RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        Ok(PolicyWatcher { _watcher: watcher })
    }
}

fn is_content_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}
