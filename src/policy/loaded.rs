//! One compiled policy version and its typed hook calls: facts in, checked values out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{Dynamic, AST};

use super::error::{self, PolicyError, PolicySite};
use super::facts::{AccountFacts, PayoutFacts, PreparedCharge};
use super::outcome::{self, FeeCeiling, Problem};
use super::results::{FeePayer, PayoutSchedule, Split, SplitDirectory};
use super::sandbox::PolicyEngine;
use super::source::{
    check_name, function_definitions, policy_version, FunctionDefinition, MAX_POLICY_SOURCE_BYTES,
};
use super::splits;
use crate::money::MinorUnits;

/// The functions the host calls. Every one is optional and takes exactly one map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    ApplicationFee,
    Route,
    HoldDays,
    ProcessingFeePayer,
    PayoutSchedule,
    InstantPayoutFee,
    ProcessingFee,
    DisputeFee,
}

impl Hook {
    pub const ALL: [Hook; 8] = [
        Hook::ApplicationFee,
        Hook::Route,
        Hook::HoldDays,
        Hook::ProcessingFeePayer,
        Hook::PayoutSchedule,
        Hook::InstantPayoutFee,
        Hook::ProcessingFee,
        Hook::DisputeFee,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hook::ApplicationFee => "application_fee",
            Hook::Route => "route",
            Hook::HoldDays => "hold_days",
            Hook::ProcessingFeePayer => "processing_fee_payer",
            Hook::PayoutSchedule => "payout_schedule",
            Hook::InstantPayoutFee => "instant_payout_fee",
            Hook::ProcessingFee => "processing_fee",
            Hook::DisputeFee => "dispute_fee",
        }
    }

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.name() == name)
    }
}

/// In policy tests, `route` may name any account: tests have no platform to look them up in.
struct AnyAccount;

impl SplitDirectory for AnyAccount {
    fn check_destination(&self, _account_id: &str) -> Result<(), String> {
        Ok(())
    }
}

/// A compiled, immutable version of one policy. Clone the `Arc` once per charge and every
/// hook of that charge runs on the same version.
pub struct LoadedPolicy {
    name: String,
    version: String,
    source: Arc<str>,
    ast: AST,
    hooks: Vec<Hook>,
    functions: Vec<FunctionDefinition>,
    loaded_at: DateTime<Utc>,
    engine: Arc<PolicyEngine>,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    /// Compiles `source` as the policy `name` (`marketplace` for `marketplace.rhai`) and
    /// checks that every hook it defines takes exactly one parameter.
    pub fn compile(
        engine: Arc<PolicyEngine>,
        name: &str,
        source: impl Into<Arc<str>>,
    ) -> Result<LoadedPolicy, PolicyError> {
        let source: Arc<str> = source.into();
        let file_name = format!("{name}.rhai");
        check_name(name, &file_name)?;
        if source.len() > MAX_POLICY_SOURCE_BYTES {
            return Err(PolicyError::Syntax {
                site: PolicySite::file(&file_name),
                message: format!(
                    "the file is {} bytes, more than the limit of {MAX_POLICY_SOURCE_BYTES}",
                    source.len()
                ),
            });
        }
        let mut ast = engine
            .compile(&source)
            .map_err(|parse_error| error::from_parse_error(&file_name, &parse_error))?;
        ast.set_source(file_name.as_str());
        let functions = function_definitions(&ast, &source);
        for function in &functions {
            if Hook::parse(&function.name).is_some() && function.parameter_count != 1 {
                return Err(PolicyError::Syntax {
                    site: PolicySite {
                        hook: Hook::parse(&function.name),
                        line: Some(function.line),
                        column: Some(function.column),
                        ..PolicySite::file(&file_name)
                    },
                    message: format!(
                        "hook {} must take exactly one parameter, not {}",
                        function.name, function.parameter_count
                    ),
                });
            }
        }
        let mut hooks: Vec<Hook> = functions
            .iter()
            .filter_map(|function| Hook::parse(&function.name))
            .collect();
        hooks.sort();
        hooks.dedup();
        Ok(LoadedPolicy {
            name: name.to_string(),
            version: policy_version(&source),
            source,
            ast,
            hooks,
            functions,
            loaded_at: Utc::now(),
            engine,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn file_name(&self) -> String {
        format!("{}.rhai", self.name)
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    pub fn defines(&self, hook: Hook) -> bool {
        self.hooks.contains(&hook)
    }

    /// Every script function, in source order.
    pub fn functions(&self) -> &[FunctionDefinition] {
        &self.functions
    }

    pub fn loaded_at(&self) -> DateTime<Utc> {
        self.loaded_at
    }

    pub(crate) fn ast(&self) -> &AST {
        &self.ast
    }

    pub(crate) fn engine(&self) -> &PolicyEngine {
        &self.engine
    }

    /// The gateway's fee on a charge (gateway.rhai); 0 without the hook.
    pub fn processing_fee(&self, charge: &PreparedCharge) -> Result<MinorUnits, PolicyError> {
        let ceiling = FeeCeiling::ChargeAmount(charge.amount());
        self.fee_hook(Hook::ProcessingFee, || charge.to_argument(), ceiling)
    }

    /// The gateway's fee on a dispute (gateway.rhai); 0 without the hook. It is not taken
    /// out of the charge, so it may exceed the charge amount.
    pub fn dispute_fee(&self, charge: &PreparedCharge) -> Result<MinorUnits, PolicyError> {
        let ceiling = FeeCeiling::OperationLimit;
        self.fee_hook(Hook::DisputeFee, || charge.to_argument(), ceiling)
    }

    /// The platform's fee on a charge; 0 without the hook.
    pub fn application_fee(&self, charge: &PreparedCharge) -> Result<MinorUnits, PolicyError> {
        let ceiling = FeeCeiling::ChargeAmount(charge.amount());
        self.fee_hook(Hook::ApplicationFee, || charge.to_argument(), ceiling)
    }

    /// The transfers a separate charge is split into; none without the hook.
    pub fn route(
        &self,
        charge: &PreparedCharge,
        directory: &dyn SplitDirectory,
    ) -> Result<Vec<Split>, PolicyError> {
        let Some(value) = self.call_hook(Hook::Route, || charge.to_argument())? else {
            return Ok(Vec::new());
        };
        let splits = splits::splits(Hook::Route.name(), &value, charge.amount(), directory);
        self.checked(Hook::Route, splits)
    }

    /// Extra days before a charge's funds become available; 0 without the hook.
    pub fn hold_days(&self, charge: &PreparedCharge) -> Result<u32, PolicyError> {
        let Some(value) = self.call_hook(Hook::HoldDays, || charge.to_argument())? else {
            return Ok(0);
        };
        self.checked(
            Hook::HoldDays,
            outcome::hold_days(Hook::HoldDays.name(), &value),
        )
    }

    /// Who pays a direct charge's processing fee; `None` without the hook, meaning the
    /// default of [`FeePayer::default_for`] the account's type.
    pub fn processing_fee_payer(
        &self,
        charge: &PreparedCharge,
    ) -> Result<Option<FeePayer>, PolicyError> {
        let Some(value) = self.call_hook(Hook::ProcessingFeePayer, || charge.to_argument())? else {
            return Ok(None);
        };
        let payer = outcome::fee_payer(Hook::ProcessingFeePayer.name(), &value);
        self.checked(Hook::ProcessingFeePayer, payer).map(Some)
    }

    /// A new account's payout schedule; `None` without the hook ([`PayoutSchedule::default`]).
    pub fn payout_schedule(
        &self,
        account: &AccountFacts,
    ) -> Result<Option<PayoutSchedule>, PolicyError> {
        let Some(value) = self.call_hook(Hook::PayoutSchedule, || account.to_dynamic())? else {
            return Ok(None);
        };
        let schedule = outcome::payout_schedule(Hook::PayoutSchedule.name(), &value);
        self.checked(Hook::PayoutSchedule, schedule).map(Some)
    }

    /// The fee on an instant payout, at most the payout amount; 0 without the hook.
    pub fn instant_payout_fee(&self, payout: &PayoutFacts) -> Result<MinorUnits, PolicyError> {
        let ceiling = FeeCeiling::PayoutAmount(payout.amount);
        self.fee_hook(Hook::InstantPayoutFee, || payout.to_dynamic(), ceiling)
    }

    /// Calls a hook with a script value, as a policy test does, and checks its result as
    /// the host checks it for a request (the fee ceiling and the amount `route` splits come
    /// from the argument's `amount`); the value itself is handed back unchanged. Without
    /// the hook, `()`.
    pub(crate) fn call_checked(
        &self,
        hook: Hook,
        argument: Dynamic,
    ) -> Result<Dynamic, PolicyError> {
        let amount = argument
            .read_lock::<rhai::Map>()
            .and_then(|map| map.get("amount").and_then(|amount| amount.as_int().ok()))
            .and_then(|amount| MinorUnits::new(amount).ok());
        let Some(value) = self.call_hook(hook, || argument)? else {
            return Ok(Dynamic::UNIT);
        };
        let name = hook.name();
        let charge_ceiling = amount.map_or(FeeCeiling::OperationLimit, FeeCeiling::ChargeAmount);
        let checked = match hook {
            Hook::ApplicationFee | Hook::ProcessingFee => {
                outcome::fee(name, &value, charge_ceiling).map(drop)
            }
            Hook::DisputeFee => outcome::fee(name, &value, FeeCeiling::OperationLimit).map(drop),
            Hook::InstantPayoutFee => {
                let ceiling = amount.map_or(FeeCeiling::OperationLimit, FeeCeiling::PayoutAmount);
                outcome::fee(name, &value, ceiling).map(drop)
            }
            Hook::HoldDays => outcome::hold_days(name, &value).map(drop),
            Hook::ProcessingFeePayer => outcome::fee_payer(name, &value).map(drop),
            Hook::PayoutSchedule => outcome::payout_schedule(name, &value).map(drop),
            Hook::Route => splits::splits(
                name,
                &value,
                amount.unwrap_or(MinorUnits::ZERO),
                &AnyAccount,
            )
            .map(drop),
        };
        self.checked(hook, checked).map(|()| value)
    }

    fn fee_hook(
        &self,
        hook: Hook,
        argument: impl FnOnce() -> Dynamic,
        ceiling: FeeCeiling,
    ) -> Result<MinorUnits, PolicyError> {
        let Some(value) = self.call_hook(hook, argument)? else {
            return Ok(MinorUnits::ZERO);
        };
        self.checked(hook, outcome::fee(hook.name(), &value, ceiling))
    }

    /// Runs a hook if the policy defines it; `None` means "use the default". The argument
    /// is built only when the hook exists.
    fn call_hook(
        &self,
        hook: Hook,
        argument: impl FnOnce() -> Dynamic,
    ) -> Result<Option<Dynamic>, PolicyError> {
        if !self.defines(hook) {
            return Ok(None);
        }
        self.engine
            .call(&self.ast, hook.name(), vec![argument()])
            .map(Some)
            .map_err(|failure| {
                error::from_runtime(
                    self.hook_site(hook),
                    hook.name(),
                    &failure,
                    self.engine.limits(),
                )
            })
    }

    fn checked<T>(&self, hook: Hook, result: Result<T, Problem>) -> Result<T, PolicyError> {
        result.map_err(|problem| match problem {
            Problem::Invalid(message) => PolicyError::InvalidResult {
                site: self.hook_site(hook),
                message,
            },
            Problem::Refused {
                destination,
                message,
            } => PolicyError::DestinationRefused {
                site: self.hook_site(hook),
                destination,
                message,
            },
        })
    }

    /// The site of a hook: its definition's line and column, which is where a bad result
    /// is reported because Rhai does not say which `return` produced a value.
    pub(crate) fn hook_site(&self, hook: Hook) -> PolicySite {
        let definition = self
            .functions
            .iter()
            .find(|function| function.name == hook.name() && function.parameter_count == 1);
        PolicySite {
            policy: self.file_name(),
            hook: Some(hook),
            line: definition.map(|function| function.line),
            column: definition.map(|function| function.column),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_with_the_wrong_parameters_does_not_compile() {
        let engine = Arc::new(PolicyEngine::new());
        let error = LoadedPolicy::compile(engine, "bad", "\nfn application_fee() { 1 }")
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "policy bad.rhai, hook application_fee, line 2, column 1: hook application_fee must take exactly one parameter, not 0"
        );
    }

    #[test]
    fn a_policy_without_hooks_gives_every_default() {
        let policy =
            LoadedPolicy::compile(Arc::new(PolicyEngine::new()), "empty", "// nothing yet")
                .expect("compiles");
        let charge = PreparedCharge::new(&super::super::ChargeFacts::sample());
        assert_eq!(policy.application_fee(&charge), Ok(MinorUnits::ZERO));
        assert_eq!(policy.hold_days(&charge), Ok(0));
        assert_eq!(policy.processing_fee_payer(&charge), Ok(None));
        assert_eq!(policy.payout_schedule(&AccountFacts::sample()), Ok(None));
        assert_eq!(
            policy.instant_payout_fee(&PayoutFacts::sample()),
            Ok(MinorUnits::ZERO)
        );
        assert_eq!(policy.hooks(), &[] as &[Hook]);
    }
}
