//! Policy tests and checks: runs each `<name>.test.rhai` against its policy, and compiles a single file for `policy check`.
//!
//! A test file's `fn test_*()` functions call the policy's hooks by name. Each hook call
//! goes through the host, as a request's would: it runs under the hook's limits and its
//! result is checked as the host checks it (a fee that is the string "8%" fails the test),
//! then handed to the test unchanged. The policy's other functions are merged in, so tests
//! may call its helpers. A whole test may run for [`TEST_TIME_BUDGET_MS`].

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use rhai::{Dynamic, EvalAltResult};

use super::error::{self, PolicyError, PolicySite};
use super::loaded::{Hook, LoadedPolicy};
use super::sandbox::{PolicyEngine, SandboxLimits, TEST_TIME_BUDGET_MS};
use super::source::{
    classify_file, function_definitions, read_source, FunctionDefinition, PolicyFile,
};

/// The most test functions run from one test file.
pub const MAX_TESTS_PER_FILE: usize = 500;

/// Why one test failed, and where (1-based, in `file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCaseReport {
    pub name: String,
    /// `None` when the test passed.
    pub failure: Option<TestFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTestReport {
    pub policy: String,
    pub test_file: String,
    /// `Err` when the policy or its test file does not compile or cannot be read.
    pub outcome: Result<Vec<TestCaseReport>, PolicyError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestReport {
    pub policies: Vec<PolicyTestReport>,
    /// Policies that have no test file.
    pub untested: Vec<String>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.policies.iter().all(|policy| {
            policy
                .outcome
                .as_ref()
                .is_ok_and(|tests| tests.iter().all(|test| test.failure.is_none()))
        })
    }

    pub fn passed_count(&self) -> usize {
        self.cases().filter(|test| test.failure.is_none()).count()
    }

    pub fn failed_count(&self) -> usize {
        self.cases().filter(|test| test.failure.is_some()).count()
    }

    fn cases(&self) -> impl Iterator<Item = &TestCaseReport> {
        self.policies
            .iter()
            .filter_map(|policy| policy.outcome.as_ref().ok())
            .flatten()
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for policy in &self.policies {
            writeln!(f, "{}", policy.test_file)?;
            match &policy.outcome {
                Err(error) => writeln!(f, "  ERROR {error}")?,
                Ok(tests) if tests.is_empty() => writeln!(f, "  (no fn test_*() functions)")?,
                Ok(tests) => {
                    for test in tests {
                        match &test.failure {
                            None => writeln!(f, "  ok    {}", test.name)?,
                            Some(failure) => writeln!(
                                f,
                                "  FAIL  {} ({}): {}",
                                test.name,
                                describe_place(failure),
                                failure.message
                            )?,
                        }
                    }
                }
            }
        }
        if !self.untested.is_empty() {
            writeln!(f, "no tests: {}", self.untested.join(", "))?;
        }
        let broken = self
            .policies
            .iter()
            .filter(|policy| policy.outcome.is_err())
            .count();
        write!(
            f,
            "{} passed, {} failed",
            self.passed_count(),
            self.failed_count()
        )?;
        if broken > 0 {
            write!(f, ", {broken} file(s) did not compile")?;
        }
        Ok(())
    }
}

fn describe_place(failure: &TestFailure) -> String {
    match (failure.line, failure.column) {
        (Some(line), Some(column)) => format!("{} line {line}, column {column}", failure.file),
        (Some(line), None) => format!("{} line {line}", failure.file),
        _ => failure.file.clone(),
    }
}

/// The most edits (letters added, removed or changed) between a function's name and a
/// hook's for `policy check` to warn that the function looks like a misspelled hook; one
/// for hook names shorter than [`SHORT_HOOK_NAME_CHARS`], where two edits reach ordinary
/// words (`rate` is two edits from `route`).
pub const MAX_HOOK_NAME_EDITS: usize = 2;
pub const SHORT_HOOK_NAME_CHARS: usize = 8;

/// What `policy check` prints for a file that compiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub file: String,
    pub version: String,
    pub hooks: Vec<Hook>,
    pub functions: Vec<FunctionDefinition>,
    /// Functions that look like misspelled hooks, which the host would never call.
    pub warnings: Vec<String>,
}

/// Warnings for functions whose name is a near miss of a hook's (`aplication_fee`,
/// `holdDays`, `Route`): the host calls hooks by their exact name, so such a function
/// silently never runs and the default applies.
pub fn misspelled_hooks(functions: &[FunctionDefinition]) -> Vec<String> {
    functions
        .iter()
        .filter(|function| Hook::parse(&function.name).is_none() && function.parameter_count == 1)
        .filter_map(|function| {
            let hook = Hook::ALL.into_iter().find(|hook| {
                let folded = function.name.to_ascii_lowercase().replace('_', "");
                let allowed_edits = if hook.name().len() < SHORT_HOOK_NAME_CHARS {
                    1
                } else {
                    MAX_HOOK_NAME_EDITS
                };
                folded == hook.name().replace('_', "")
                    || edit_distance(&function.name, hook.name()) <= allowed_edits
            })?;
            Some(format!(
                "{} (line {}) looks like the hook {}, which the host calls by that exact name; as written it never runs and the default applies",
                function.name,
                function.line,
                hook.name()
            ))
        })
        .collect()
}

/// The number of single-letter edits that turn `a` into `b` (Levenshtein distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} compiles (version {})", self.file, self.version)?;
        let describe = |hooks: bool| -> Vec<String> {
            self.functions
                .iter()
                .filter(|function| Hook::parse(&function.name).is_some() == hooks)
                .map(|function| format!("{} (line {})", function.name, function.line))
                .collect()
        };
        let hooks = describe(true);
        let others = describe(false);
        write!(
            f,
            "  hooks: {}",
            if hooks.is_empty() {
                "none (every default applies)".to_string()
            } else {
                hooks.join(", ")
            }
        )?;
        if !others.is_empty() {
            write!(f, "\n  other functions: {}", others.join(", "))?;
        }
        for warning in &self.warnings {
            write!(f, "\n  warning: {warning}")?;
        }
        Ok(())
    }
}

/// Compiles one policy file and lists its hooks; the error names the line and column.
pub fn check_file(path: &Path) -> Result<CheckReport, PolicyError> {
    let source = read_source(path)?;
    let name = match classify_file(path) {
        PolicyFile::Policy(name) | PolicyFile::Tests(name) => name,
        PolicyFile::Other => {
            return Err(PolicyError::Unreadable {
                site: PolicySite::file(path.display().to_string()),
                message: "a policy file's name ends in .rhai".to_string(),
            })
        }
    };
    let policy = LoadedPolicy::compile(Arc::new(PolicyEngine::new()), &name, source)?;
    Ok(CheckReport {
        file: path.file_name().map_or_else(
            || policy.file_name(),
            |file| file.to_string_lossy().into_owned(),
        ),
        version: policy.version().to_string(),
        hooks: policy.hooks().to_vec(),
        functions: policy.functions().to_vec(),
        warnings: misspelled_hooks(policy.functions()),
    })
}

/// Runs the tests of every policy in `policy_dir`, or only of `name`.
/// What `tollgate policy test ARG` names: a policy (`tickets`), its file (`tickets.rhai`,
/// `tickets.test.rhai`) or a path to either, whose folder then holds the policies.
pub fn policy_argument(argument: &str) -> (Option<std::path::PathBuf>, String) {
    let path = Path::new(argument);
    let file = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or(argument);
    let name = file
        .strip_suffix(".test.rhai")
        .or_else(|| file.strip_suffix(".rhai"))
        .unwrap_or(file);
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map(Path::to_path_buf);
    (folder, name.to_owned())
}

pub fn run_tests(policy_dir: &Path, name: Option<&str>) -> TestReport {
    let engine = Arc::new(PolicyEngine::new());
    let mut report = TestReport::default();
    let names = match name {
        Some(name) => vec![name.to_string()],
        None => policy_names(policy_dir),
    };
    for name in names {
        let policy_path = policy_dir.join(format!("{name}.rhai"));
        let test_path = test_file_path(policy_dir, &name);
        if policy_path.is_file() && !test_path.is_file() {
            report.untested.push(format!("{name}.rhai"));
            continue;
        }
        let outcome = read_source(&policy_path)
            .and_then(|source| LoadedPolicy::compile(Arc::clone(&engine), &name, source))
            .map(Arc::new)
            .and_then(|policy| {
                let test_source = read_source(&test_path)?;
                run_policy_tests(&policy, &format!("{name}.test.rhai"), &test_source)
            });
        report.policies.push(PolicyTestReport {
            policy: format!("{name}.rhai"),
            test_file: format!("{name}.test.rhai"),
            outcome,
        });
    }
    report
}

pub(crate) fn test_file_path(policy_dir: &Path, name: &str) -> PathBuf {
    policy_dir.join(format!("{name}.test.rhai"))
}

/// The names of the policies in a folder, sorted; unreadable folders have none.
pub(crate) fn policy_names(policy_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(policy_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| match classify_file(&entry.path()) {
            PolicyFile::Policy(name) if entry.path().is_file() => Some(name),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// Runs every `fn test_*()` of a test file against one compiled policy version.
pub(crate) fn run_policy_tests(
    policy: &Arc<LoadedPolicy>,
    test_file: &str,
    test_source: &str,
) -> Result<Vec<TestCaseReport>, PolicyError> {
    let limits = SandboxLimits {
        call_time_budget: Duration::from_millis(TEST_TIME_BUDGET_MS),
        ..*policy.engine().limits()
    };
    let engine = PolicyEngine::with_functions(limits, |engine| {
        for hook in policy.hooks().iter().copied() {
            let policy = Arc::clone(policy);
            engine.register_fn(
                hook.name(),
                move |argument: Dynamic| -> Result<Dynamic, Box<EvalAltResult>> {
                    policy
                        .call_checked(hook, argument)
                        .map_err(|error| error.to_string().into())
                },
            );
        }
    });
    let test_ast = engine
        .compile(test_source)
        .map_err(|parse_error| error::from_parse_error(test_file, &parse_error))?;
    let test_functions = function_definitions(&test_ast, test_source);
    let defined_in_tests: HashSet<&str> = test_functions
        .iter()
        .map(|function| function.name.as_str())
        .collect();
    let tests: Vec<&FunctionDefinition> = test_functions
        .iter()
        .filter(|function| function.name.starts_with("test_") && function.parameter_count == 0)
        .take(MAX_TESTS_PER_FILE)
        .collect();
    // The policy's functions other than its hooks (the hooks are the checked natives
    // above); the test file's come second, so a test helper may shadow a policy helper.
    let mut helpers = policy.ast().clone_functions_only();
    helpers.retain_functions(|_, _, name, _| Hook::parse(name).is_none());
    let merged = helpers.merge(&test_ast);
    let reports = tests
        .into_iter()
        .map(|test| {
            let failure = engine
                .call(&merged, &test.name, Vec::new())
                .err()
                .map(|failure| {
                    describe_failure(policy, test_file, test, &defined_in_tests, &failure)
                });
            TestCaseReport {
                name: test.name.clone(),
                failure,
            }
        })
        .collect();
    Ok(reports)
}

fn describe_failure(
    policy: &LoadedPolicy,
    test_file: &str,
    test: &FunctionDefinition,
    defined_in_tests: &HashSet<&str>,
    failure: &EvalAltResult,
) -> TestFailure {
    let located = error::locate(failure);
    // A position inside a function the test file does not define lies in the policy.
    let in_policy = located
        .function
        .is_some_and(|function| !defined_in_tests.contains(function));
    let (file, line, column) = match (located.position.line(), located.position.position()) {
        (Some(line), Some(column)) if in_policy => (policy.file_name(), line, column),
        (Some(line), Some(column)) => (test_file.to_string(), line, column),
        // Limit errors have no position: point at the test itself.
        _ => (test_file.to_string(), test.line, test.column),
    };
    let message = match located.innermost {
        // Failed assertions and `throw`s read best as they were written.
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
        other => {
            let limits = policy.engine().limits();
            error::classify(PolicySite::file(&file), &test.name, other, limits)
                .message()
                .to_string()
        }
    };
    TestFailure {
        file,
        line: Some(line),
        column: Some(column),
        message,
    }
}

/// The first failure of a run as the error that keeps a new version out.
pub(crate) fn first_failure(test_file: &str, reports: &[TestCaseReport]) -> Option<PolicyError> {
    let mut failed = reports
        .iter()
        .filter_map(|test| test.failure.as_ref().map(|failure| (test, failure)));
    let (test, failure) = failed.next()?;
    let more = failed.count();
    let suffix = if more > 0 {
        format!(" (and {more} more failing)")
    } else {
        String::new()
    };
    Some(PolicyError::TestFailed {
        site: PolicySite {
            policy: failure.file.clone(),
            hook: None,
            line: failure.line,
            column: failure.column,
        },
        message: format!(
            "{test_file}: {} failed: {}{suffix}",
            test.name, failure.message
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::policy_argument;
    use std::path::PathBuf;

    #[test]
    fn a_policy_is_named_by_name_file_or_path() {
        let cases = [
            ("tickets", None, "tickets"),
            ("tickets.rhai", None, "tickets"),
            ("tickets.test.rhai", None, "tickets"),
            ("policies/tickets.rhai", Some("policies"), "tickets"),
            ("/srv/p/tickets.test.rhai", Some("/srv/p"), "tickets"),
        ];
        for (argument, folder, name) in cases {
            assert_eq!(
                policy_argument(argument),
                (folder.map(PathBuf::from), name.to_owned()),
                "{argument}"
            );
        }
    }
}
