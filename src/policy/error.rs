//! Policy errors: what went wrong, in which policy file and hook, at which line and column.
//!
//! Every variant maps to the GraphQL code POLICY_ERROR, except `RequestedFeeInvalid`, which
//! is about the request rather than the script and may be shown as INVALID_REQUEST.

use std::fmt;
use std::path::PathBuf;

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

use super::helpers::describe_value;
use super::loaded::Hook;
use super::sandbox::{is_time_budget_termination, SandboxLimits};

/// Where a policy error happened. Line and column are 1-based, in the policy's source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicySite {
    /// The file name, e.g. `marketplace.rhai` or `marketplace.test.rhai`.
    pub policy: String,
    pub hook: Option<Hook>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl PolicySite {
    pub fn file(policy: impl Into<String>) -> PolicySite {
        PolicySite {
            policy: policy.into(),
            ..PolicySite::default()
        }
    }

    pub(crate) fn at(mut self, position: Position) -> PolicySite {
        if let (Some(line), Some(column)) = (position.line(), position.position()) {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }
}

impl fmt::Display for PolicySite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {}", self.policy)?;
        if let Some(hook) = &self.hook {
            write!(f, ", hook {}", hook.name())?;
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// Which sandbox limit a script ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SandboxLimit {
    Operations,
    TimeBudget,
    CallDepth,
    DataSize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{site}: {message}")]
    Unreadable { site: PolicySite, message: String },
    /// The file does not compile, or a hook is declared with the wrong parameters.
    #[error("{site}: {message}")]
    Syntax { site: PolicySite, message: String },
    /// The script uses something the sandbox does not offer (`import`, `eval`).
    #[error("{site}: {message}")]
    Forbidden { site: PolicySite, message: String },
    /// A hook threw, or failed at run time (a type error, a missing property, …).
    #[error("{site}: {message}")]
    Script { site: PolicySite, message: String },
    /// A hook ran into a sandbox limit.
    #[error("{site}: {message}")]
    LimitExceeded {
        site: PolicySite,
        limit: SandboxLimit,
        message: String,
    },
    /// A hook returned a value of the wrong shape or out of range.
    #[error("{site}: {message}")]
    InvalidResult { site: PolicySite, message: String },
    /// `route` sent money to an account the caller's directory refuses.
    #[error("{site}: {message}")]
    DestinationRefused {
        site: PolicySite,
        destination: String,
        message: String,
    },
    /// The application fee given explicitly in the request is out of range.
    #[error("{site}: {message}")]
    RequestedFeeInvalid { site: PolicySite, message: String },
    /// A new version's test file failed, so it was not swapped in.
    #[error("{site}: {message}")]
    TestFailed { site: PolicySite, message: String },
    /// The policy has no version in force: it did not load at startup, or its file is
    /// missing. The message carries the load error.
    #[error("{site}: {message}")]
    Unavailable { site: PolicySite, message: String },
}

impl PolicyError {
    pub fn site(&self) -> &PolicySite {
        match self {
            PolicyError::Unreadable { site, .. }
            | PolicyError::Syntax { site, .. }
            | PolicyError::Forbidden { site, .. }
            | PolicyError::Script { site, .. }
            | PolicyError::LimitExceeded { site, .. }
            | PolicyError::InvalidResult { site, .. }
            | PolicyError::DestinationRefused { site, .. }
            | PolicyError::RequestedFeeInvalid { site, .. }
            | PolicyError::TestFailed { site, .. }
            | PolicyError::Unavailable { site, .. } => site,
        }
    }

    /// What was wrong, without the location.
    pub fn message(&self) -> &str {
        match self {
            PolicyError::Unreadable { message, .. }
            | PolicyError::Syntax { message, .. }
            | PolicyError::Forbidden { message, .. }
            | PolicyError::Script { message, .. }
            | PolicyError::LimitExceeded { message, .. }
            | PolicyError::InvalidResult { message, .. }
            | PolicyError::DestinationRefused { message, .. }
            | PolicyError::RequestedFeeInvalid { message, .. }
            | PolicyError::TestFailed { message, .. }
            | PolicyError::Unavailable { message, .. } => message,
        }
    }

    pub fn policy(&self) -> &str {
        &self.site().policy
    }

    /// The hook's name, e.g. `application_fee`.
    pub fn hook(&self) -> Option<&'static str> {
        self.site().hook.map(Hook::name)
    }

    pub fn line(&self) -> Option<usize> {
        self.site().line
    }

    pub fn column(&self) -> Option<usize> {
        self.site().column
    }
}

/// Why the policy folder could not be loaded or watched.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read the policy folder {path}: {message}")]
    FolderUnreadable { path: PathBuf, message: String },
    #[error(
        "the policy folder {path} has {count} policies, more than the limit of {max_policies}"
    )]
    TooManyPolicies {
        path: PathBuf,
        count: usize,
        max_policies: usize,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot start the policy threads: {message}")]
    Pool { message: String },
    #[error("cannot watch the policy folder {path}: {message}")]
    Watch { path: PathBuf, message: String },
}

/// A compile error of `file_name`, at the parser's position.
pub(crate) fn from_parse_error(file_name: &str, error: &ParseError) -> PolicyError {
    let site = PolicySite::file(file_name).at(error.position());
    match error.err_type() {
        ParseErrorType::Reserved(word) if word == "import" || word == "eval" => {
            PolicyError::Forbidden {
                site,
                message: format!(
                    "{word} is not allowed: policies cannot load modules or run code from strings"
                ),
            }
        }
        other => PolicyError::Syntax {
            site,
            message: other.to_string(),
        },
    }
}

/// The deepest error in a chain of nested calls, with the deepest known position and the
/// script function that position lies in (`None`: the function that was called first).
/// Limit errors (operations, time, depth, size) carry no position at all; callers fall
/// back to the position of the hook's definition.
pub(crate) struct Located<'a> {
    pub innermost: &'a EvalAltResult,
    pub position: Position,
    pub function: Option<&'a str>,
}

pub(crate) fn locate(error: &EvalAltResult) -> Located<'_> {
    let mut located = Located {
        innermost: error,
        position: error.position(),
        function: None,
    };
    let mut current = error;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = current {
        if !inner.position().is_none() {
            located.position = inner.position();
            located.function = Some(name.as_str());
        }
        current = inner;
    }
    located.innermost = current;
    located
}

/// Turns a run-time failure of `function` into a policy error at `site`. The site's line
/// and column are replaced by the failure's own position when Rhai knows it.
pub(crate) fn from_runtime(
    site: PolicySite,
    function: &str,
    error: &EvalAltResult,
    limits: &SandboxLimits,
) -> PolicyError {
    let located = locate(error);
    let site = if located.position.is_none() {
        site
    } else {
        site.at(located.position)
    };
    classify(site, function, located.innermost, limits)
}

pub(crate) fn classify(
    site: PolicySite,
    function: &str,
    innermost: &EvalAltResult,
    limits: &SandboxLimits,
) -> PolicyError {
    let limit = |limit: SandboxLimit, message: String| PolicyError::LimitExceeded {
        site: site.clone(),
        limit,
        message,
    };
    match innermost {
        EvalAltResult::ErrorTooManyOperations(_) => limit(
            SandboxLimit::Operations,
            format!("{function} ran more than {} operations, the limit per call", limits.max_operations_per_call),
        ),
        EvalAltResult::ErrorTerminated(token, _) if is_time_budget_termination(token) => limit(
            SandboxLimit::TimeBudget,
            format!("{function} ran longer than the time budget of {} ms", limits.call_time_budget.as_millis()),
        ),
        EvalAltResult::ErrorStackOverflow(_) => limit(
            SandboxLimit::CallDepth,
            format!("{function} nested function calls more than {} levels deep", limits.max_call_levels),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => limit(
            SandboxLimit::DataSize,
            format!(
                "{function} built a value over the size limit ({what}): strings may hold {} bytes, arrays {} items, maps {} properties",
                limits.max_string_size_bytes, limits.max_array_size, limits.max_map_size
            ),
        ),
        EvalAltResult::ErrorModuleNotFound(..) | EvalAltResult::ErrorTooManyModules(_) => PolicyError::Forbidden {
            site,
            message: "import is not allowed: policies cannot load modules".to_string(),
        },
        EvalAltResult::ErrorRuntime(value, _) => {
            let text = if value.is_string() { value.to_string() } else { describe_value(value) };
            PolicyError::Script { site, message: format!("{function} failed: {text}") }
        }
        other => {
            // Rhai's message ends with " (line L, position C)"; the site already says where.
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            let without_position = text.strip_suffix(suffix.as_str()).unwrap_or(&text);
            PolicyError::Script { site, message: format!("{function} failed: {without_position}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_names_policy_hook_line_and_column() {
        let error = PolicyError::InvalidResult {
            site: PolicySite {
                policy: "marketplace.rhai".to_string(),
                hook: Some(Hook::ApplicationFee),
                line: Some(3),
                column: Some(12),
            },
            message: "application_fee returned 12000, more than the charge amount 10000"
                .to_string(),
        };
        assert_eq!(
            error.to_string(),
            "policy marketplace.rhai, hook application_fee, line 3, column 12: application_fee returned 12000, more than the charge amount 10000"
        );
        assert_eq!(
            (error.line(), error.column(), error.hook()),
            (Some(3), Some(12), Some("application_fee"))
        );
    }

    #[test]
    fn a_site_without_a_position_leaves_it_out() {
        let error = PolicyError::Unreadable {
            site: PolicySite::file("x.rhai"),
            message: "gone".to_string(),
        };
        assert_eq!(error.to_string(), "policy x.rhai: gone");
    }
}
