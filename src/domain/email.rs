//! Email addresses, checked for shape only and bounded in length.

use serde::{Deserialize, Serialize};

pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_EMAIL_LOCAL_PART_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email must not be empty")]
    Empty,
    #[error("email is {length_chars} characters long; at most {MAX_EMAIL_CHARS} are allowed")]
    TooLong { length_chars: usize },
    #[error("email must not contain spaces or control characters")]
    HasWhitespace,
    #[error("email must have the form name@example.com")]
    Malformed,
}

/// An email address, checked only for shape: one '@', a local part of 1..=64 characters and a
/// domain with a dot and no empty labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(given: &str) -> Result<Email, EmailError> {
        let given = given.trim();
        if given.is_empty() {
            return Err(EmailError::Empty);
        }
        let length_chars = given.chars().count();
        if length_chars > MAX_EMAIL_CHARS {
            return Err(EmailError::TooLong { length_chars });
        }
        if given
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        {
            return Err(EmailError::HasWhitespace);
        }
        let (local_part, domain) = given.split_once('@').ok_or(EmailError::Malformed)?;
        let local_part_fits =
            (1..=MAX_EMAIL_LOCAL_PART_CHARS).contains(&local_part.chars().count());
        let domain_fits = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty());
        if !local_part_fits || !domain_fits {
            return Err(EmailError::Malformed);
        }
        Ok(Email(given.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        let cases = [
            ("jo@example.com", Ok("jo@example.com")),
            ("  jo@example.com ", Ok("jo@example.com")),
            ("", Err(EmailError::Empty)),
            ("jo example@x.com", Err(EmailError::HasWhitespace)),
            ("jo.example.com", Err(EmailError::Malformed)),
            ("jo@localhost", Err(EmailError::Malformed)),
            ("jo@@example.com", Err(EmailError::Malformed)),
            ("@example.com", Err(EmailError::Malformed)),
            ("jo@example..com", Err(EmailError::Malformed)),
            (long_local.as_str(), Err(EmailError::Malformed)),
            (
                too_long.as_str(),
                Err(EmailError::TooLong { length_chars: 265 }),
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(
                Email::parse(given).as_ref().map(Email::as_str),
                expected.as_ref().map(|text| *text),
                "{given}"
            );
        }
    }
}
