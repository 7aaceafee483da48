//! Free-text fields (descriptions, transfer groups): bounded, without control characters.

/// The longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The longest transfer group accepted.
pub const MAX_TRANSFER_GROUP_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters other than newlines and tabs")]
    ControlCharacters,
}

/// Checks a free-text field; an empty string is treated as absent.
pub fn parse_text(text: Option<String>, max_chars: usize) -> Result<Option<String>, TextError> {
    let Some(text) = text else {
        return Ok(None);
    };
    if text.chars().count() > max_chars {
        return Err(TextError::TooLong(max_chars));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(TextError::ControlCharacters);
    }
    Ok(Some(text).filter(|text| !text.is_empty()))
}
