//! The sandboxed Rhai engine: built once, immutable afterwards, with a named limit on everything a script can consume.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, ParseError, Scope, AST};

use super::{helpers, samples};

/// The most Rhai operations one hook call may run. An ordinary fee policy needs a few hundred.
pub const MAX_OPERATIONS_PER_CALL: u64 = 100_000;
/// The deepest chain of script function calls, which stops runaway recursion.
pub const MAX_CALL_LEVELS: usize = 32;
/// The deepest nesting of expressions at the top level of a script.
pub const MAX_EXPRESSION_DEPTH: usize = 64;
/// The deepest nesting of expressions inside a function body.
pub const MAX_FUNCTION_EXPRESSION_DEPTH: usize = 32;
/// The longest string a script may build, in bytes.
pub const MAX_STRING_SIZE_BYTES: usize = 16 * 1024;
/// The most elements an array may hold.
pub const MAX_ARRAY_SIZE: usize = 1_024;
/// The most properties an object map may hold.
pub const MAX_MAP_SIZE: usize = 256;
/// The wall-clock time one hook call may take before it is terminated.
pub const CALL_TIME_BUDGET_MS: u64 = 50;
/// The wall-clock time one `fn test_*()` may take. A test calls hooks many times, each
/// still under [`CALL_TIME_BUDGET_MS`]; the test as a whole gets more, so a busy machine
/// at startup does not fail a policy whose every hook is fast.
pub const TEST_TIME_BUDGET_MS: u64 = 5_000;
/// Reading the clock costs far more than one operation, so the deadline is checked every
/// this many operations; a loop still cannot run more than a few microseconds past it.
const DEADLINE_CHECK_INTERVAL_OPERATIONS: u64 = 64;
/// The value `on_progress` terminates a script with when its time is up.
const TIME_BUDGET_TOKEN: &str = "time budget exceeded";

thread_local! {
    /// When the hook call running on this thread must stop. The engine is shared and
    /// immutable, so the per-call deadline lives beside it rather than inside it.
    static CALL_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The limits a [`PolicyEngine`] enforces; `Default` gives the named constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    pub max_operations_per_call: u64,
    pub max_call_levels: usize,
    pub max_expression_depth: usize,
    pub max_function_expression_depth: usize,
    pub max_string_size_bytes: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub call_time_budget: Duration,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            max_operations_per_call: MAX_OPERATIONS_PER_CALL,
            max_call_levels: MAX_CALL_LEVELS,
            max_expression_depth: MAX_EXPRESSION_DEPTH,
            max_function_expression_depth: MAX_FUNCTION_EXPRESSION_DEPTH,
            max_string_size_bytes: MAX_STRING_SIZE_BYTES,
            max_array_size: MAX_ARRAY_SIZE,
            max_map_size: MAX_MAP_SIZE,
            call_time_budget: Duration::from_millis(CALL_TIME_BUDGET_MS),
        }
    }
}

/// The one Rhai engine every policy runs on. Build it once and share it behind an `Arc`;
/// nothing about it changes after construction, so calls from many threads never interfere.
pub struct PolicyEngine {
    engine: Engine,
    limits: SandboxLimits,
}

impl Default for PolicyEngine {
    fn default() -> Self {
        PolicyEngine::new()
    }
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The production engine, with the limits of [`SandboxLimits::default`].
    pub fn new() -> PolicyEngine {
        PolicyEngine::with_limits(SandboxLimits::default())
    }

    pub fn with_limits(limits: SandboxLimits) -> PolicyEngine {
        PolicyEngine::with_functions(limits, |_| {})
    }

    /// An engine with more native functions, e.g. a test file's view of a policy's hooks.
    pub(crate) fn with_functions(
        limits: SandboxLimits,
        register: impl FnOnce(&mut Engine),
    ) -> PolicyEngine {
        let mut engine = Engine::new();
        // `Engine::new` installs a resolver that reads modules from disk; policies get none.
        engine.set_module_resolver(DummyModuleResolver::new());
        // Refusing `import` and `eval` at compile time gives the author an error with a
        // position the moment the file is saved, instead of a failed charge later.
        engine.disable_symbol("import");
        engine.disable_symbol("eval");
        engine.set_max_operations(limits.max_operations_per_call);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(
            limits.max_expression_depth,
            limits.max_function_expression_depth,
        );
        engine.set_max_string_size(limits.max_string_size_bytes);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.on_progress(terminate_after_deadline);
        engine.on_print(|text| tracing::info!(target: "tollgate::policy", "policy print: {text}"));
        engine.on_debug(|text, source, position| {
            tracing::debug!(
                target: "tollgate::policy",
                source = source.unwrap_or(""),
                %position,
                "policy debug: {text}"
            );
        });
        helpers::register(&mut engine);
        samples::register(&mut engine);
        register(&mut engine);
        PolicyEngine { engine, limits }
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    pub(crate) fn compile(&self, source: &str) -> Result<AST, ParseError> {
        self.engine.compile(source)
    }

    /// Calls one script function with a fresh scope, under the per-call time budget.
    /// The script's top-level statements are never run: only functions are entry points.
    pub(crate) fn call(
        &self,
        ast: &AST,
        function: &str,
        arguments: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let _deadline = DeadlineGuard::start(self.limits.call_time_budget);
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.engine
            .call_fn_with_options(options, &mut scope, ast, function, arguments)
    }
}

/// Whether an error is the termination `on_progress` raises when the time budget runs out.
pub(crate) fn is_time_budget_termination(token: &Dynamic) -> bool {
    token
        .clone()
        .into_string()
        .is_ok_and(|text| text == TIME_BUDGET_TOKEN)
}

fn terminate_after_deadline(operations: u64) -> Option<Dynamic> {
    if operations % DEADLINE_CHECK_INTERVAL_OPERATIONS != 0 {
        return None;
    }
    let deadline = CALL_DEADLINE.with(Cell::get)?;
    (Instant::now() >= deadline).then(|| Dynamic::from(TIME_BUDGET_TOKEN))
}

/// Sets this thread's deadline for one call and restores the previous one when dropped,
/// so a nested call can only shorten, never extend, the time left.
struct DeadlineGuard {
    previous: Option<Instant>,
}

impl DeadlineGuard {
    fn start(budget: Duration) -> DeadlineGuard {
        let deadline = Instant::now() + budget;
        let previous = CALL_DEADLINE.with(Cell::get);
        let effective = previous.map_or(deadline, |earlier| earlier.min(deadline));
        CALL_DEADLINE.with(|cell| cell.set(Some(effective)));
        DeadlineGuard { previous }
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        CALL_DEADLINE.with(|cell| cell.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(engine: &PolicyEngine, source: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let ast = engine.compile(source).expect("compiles");
        engine.call(&ast, "hook", vec![Dynamic::UNIT])
    }

    #[test]
    fn decimal_literals_are_exact() {
        let engine = PolicyEngine::new();
        let result = run(&engine, "fn hook(x) { 10000 * 0.029 + 30 }").expect("runs");
        assert_eq!(
            result.as_decimal().map(|value| value.to_string()),
            Ok("320.000".to_string())
        );
    }

    #[test]
    fn the_wall_clock_budget_stops_a_loop_the_operation_limit_would_allow() {
        let limits = SandboxLimits {
            max_operations_per_call: u64::MAX,
            call_time_budget: Duration::from_millis(20),
            ..SandboxLimits::default()
        };
        let engine = PolicyEngine::with_limits(limits);
        let error =
            run(&engine, "fn hook(x) { let n = 0; loop { n += 1; } }").expect_err("stopped");
        match *error {
            EvalAltResult::ErrorTerminated(token, _) => assert!(is_time_budget_termination(&token)),
            other => panic!("expected termination, got {other:?}"),
        }
        assert_eq!(
            CALL_DEADLINE.with(Cell::get),
            None,
            "the deadline is cleared after the call"
        );
    }

    #[test]
    fn top_level_statements_never_run() {
        let engine = PolicyEngine::new();
        let result = run(&engine, "loop { }\nfn hook(x) { 7 }").expect("runs");
        assert_eq!(result.as_int(), Ok(7));
    }

    #[test]
    fn import_and_eval_are_refused_when_compiling() {
        let engine = PolicyEngine::new();
        for source in [
            "fn hook(x) { import \"x\" as y; 1 }",
            "fn hook(x) { eval(\"1\") }",
        ] {
            assert!(engine.compile(source).is_err(), "{source}");
        }
    }
}
