//! Policy files and sources: what a file name means, bounded reading, versions, and where each function is defined.

use std::path::Path;

use rhai::AST;
use sha2::{Digest, Sha256};

use super::error::{PolicyError, PolicySite};

/// The largest policy file accepted, in bytes.
pub const MAX_POLICY_SOURCE_BYTES: usize = 256 * 1024;
/// The longest policy name (the file name without `.rhai`).
pub const MAX_POLICY_NAME_LENGTH: usize = 64;
/// How many hex digits of the source's SHA-256 make its version.
const VERSION_HEX_DIGITS: usize = 16;

/// The version of a policy source: the first 16 hex digits of its SHA-256.
pub fn policy_version(source: &str) -> String {
    let digest = hex::encode(Sha256::digest(source.as_bytes()));
    digest[..VERSION_HEX_DIGITS].to_string()
}

/// A script function and where its definition starts (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDefinition {
    pub name: String,
    pub parameter_count: usize,
    pub line: usize,
    pub column: usize,
}

/// What a file in the policy folder is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyFile {
    /// `<name>.rhai`
    Policy(String),
    /// `<name>.test.rhai`, the tests of policy `<name>`
    Tests(String),
    Other,
}

pub(crate) fn classify_file(path: &Path) -> PolicyFile {
    let Some(file_name) = path.file_name().and_then(|name| name.to_str()) else {
        return PolicyFile::Other;
    };
    if let Some(name) = file_name.strip_suffix(".test.rhai") {
        return PolicyFile::Tests(name.to_string());
    }
    file_name
        .strip_suffix(".rhai")
        .map_or(PolicyFile::Other, |name| {
            PolicyFile::Policy(name.to_string())
        })
}

/// Reads a policy or test file, refusing files over [`MAX_POLICY_SOURCE_BYTES`] before reading them.
pub(crate) fn read_source(path: &Path) -> Result<String, PolicyError> {
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let unreadable = |message: String| PolicyError::Unreadable {
        site: PolicySite::file(&file_name),
        message,
    };
    let size_bytes = std::fs::metadata(path)
        .map_err(|error| unreadable(format!("cannot read {}: {error}", path.display())))?
        .len();
    if size_bytes > MAX_POLICY_SOURCE_BYTES as u64 {
        return Err(unreadable(format!(
            "the file is {size_bytes} bytes, more than the limit of {MAX_POLICY_SOURCE_BYTES}"
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|error| unreadable(format!("cannot read {}: {error}", path.display())))
}

pub(crate) fn check_name(name: &str, file_name: &str) -> Result<(), PolicyError> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_POLICY_NAME_LENGTH
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        });
    if well_formed {
        return Ok(());
    }
    Err(PolicyError::Syntax {
        site: PolicySite::file(file_name),
        message: format!("a policy name uses a-z, 0-9, _ and - only, at most {MAX_POLICY_NAME_LENGTH} characters"),
    })
}

/// The script's functions with the position of each definition. Rhai's metadata has no
/// positions, so definitions are found in the source: a line whose code starts with
/// `fn name(` or `private fn name(`.
pub(crate) fn function_definitions(ast: &AST, source: &str) -> Vec<FunctionDefinition> {
    let mut definitions: Vec<FunctionDefinition> = ast
        .iter_functions()
        .map(|function| {
            let (line, column) = definition_position(source, function.name).unwrap_or((0, 0));
            FunctionDefinition {
                name: function.name.to_string(),
                parameter_count: function.params.len(),
                line,
                column,
            }
        })
        .collect();
    definitions.sort_by(|a, b| (a.line, a.column, &a.name).cmp(&(b.line, b.column, &b.name)));
    definitions
}

fn definition_position(source: &str, name: &str) -> Option<(usize, usize)> {
    source.lines().enumerate().find_map(|(index, line)| {
        let code = line.trim_start();
        let indent = line.chars().count() - code.chars().count();
        let after_keyword = code.strip_prefix("private ").map_or(code, str::trim_start);
        let offset = code.chars().count() - after_keyword.chars().count();
        let rest = after_keyword.strip_prefix("fn ")?.trim_start();
        let declared = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()?;
        (declared == name).then_some((index + 1, indent + offset + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_found_with_line_and_column() {
        let source = "// fee\nfn application_fee(charge) {\n  1\n}\n  private fn helper(x) { x }\n";
        assert_eq!(definition_position(source, "application_fee"), Some((2, 1)));
        assert_eq!(definition_position(source, "helper"), Some((5, 11)));
        assert_eq!(definition_position(source, "missing"), None);
    }

    #[test]
    fn versions_are_stable_hashes_of_the_source() {
        assert_eq!(policy_version("a"), "ca978112ca1bbdca");
    }

    #[test]
    fn file_names_say_what_a_file_is() {
        assert_eq!(
            classify_file(Path::new("/p/rides.rhai")),
            PolicyFile::Policy("rides".to_string())
        );
        assert_eq!(
            classify_file(Path::new("/p/rides.test.rhai")),
            PolicyFile::Tests("rides".to_string())
        );
        assert_eq!(
            classify_file(Path::new("/p/rides.rhai.swp")),
            PolicyFile::Other
        );
    }
}
