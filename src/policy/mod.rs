//! The Rhai policy host: runs each platform's fee and routing policy in a sandbox, checks what it returns, and reloads policies live.
//!
//! Reading order: `sandbox` (the one engine and its limits) and `helpers` (money helpers
//! for scripts) → `facts` (what a hook is given) → `outcome` with `splits` (the one place
//! results are validated and rounded) and `results` (the typed values that come out) → `source`
//! (files, versions, positions) → `loaded` (a compiled version and its typed hook calls) →
//! `decision` (a charge's whole decision) → `pool` (the threads hooks run on, a share per
//! platform) → `registry` and `watch` (startup, reload, status) → `testing` and `samples`
//! (policy tests and `policy check`).
//!
//! Policies never see the store: they get plain maps in and return plain values.

mod decision;
mod error;
mod facts;
mod helpers;
mod loaded;
mod outcome;
mod pool;
mod registry;
mod results;
mod samples;
mod sandbox;
mod source;
mod splits;
mod testing;
mod watch;

pub use decision::{decide_charge, ChargeRequest, PolicyDecision};
pub use error::{PolicyError, PolicySite, RegistryError, SandboxLimit};
pub use facts::{
    AccountFacts, AccountType, CardFacts, ChargeFacts, ChargeFlow, PayoutFacts, PlatformFacts,
    PreparedCharge,
};
pub use loaded::{Hook, LoadedPolicy};
pub use pool::{PolicyPool, PoolClosed, PoolSize};
pub use registry::{
    PolicyChange, PolicyRegistry, PolicyStatus, ReloadOutcome, DEFAULT_POLICY_NAME,
    GATEWAY_POLICY_NAME, MAX_POLICIES, MAX_VERSIONS_IN_MEMORY,
};
pub use results::{
    FeePayer, PayoutInterval, PayoutSchedule, Split, SplitDirectory, DEFAULT_PAYOUT_DELAY_DAYS,
    MAX_HOLD_DAYS, MAX_PAYOUT_DELAY_DAYS, MAX_SPLITS_PER_CHARGE,
};
pub use samples::SAMPLE_CREATED_UNIX_SECONDS;
pub use sandbox::{
    PolicyEngine, SandboxLimits, CALL_TIME_BUDGET_MS, MAX_ARRAY_SIZE, MAX_CALL_LEVELS,
    MAX_EXPRESSION_DEPTH, MAX_FUNCTION_EXPRESSION_DEPTH, MAX_MAP_SIZE, MAX_OPERATIONS_PER_CALL,
    MAX_STRING_SIZE_BYTES,
};
pub use source::{
    policy_version, FunctionDefinition, MAX_POLICY_NAME_LENGTH, MAX_POLICY_SOURCE_BYTES,
};
pub use testing::{
    check_file, misspelled_hooks, policy_argument, run_tests, CheckReport, PolicyTestReport,
    TestCaseReport, TestFailure, TestReport, MAX_HOOK_NAME_EDITS, MAX_TESTS_PER_FILE,
};
pub use watch::PolicyWatcher;
