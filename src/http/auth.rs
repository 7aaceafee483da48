//! Reading an API key from an `Authorization` value: `Bearer <key>` (the scheme in any
//! case, as HTTP says) or Basic with the key as the user name and no password, as
//! `curl -u sk_…:` sends it.

use base64::Engine;

/// The longest Authorization value looked at; keys are far shorter.
pub const MAX_AUTHORIZATION_CHARS: usize = 1024;

/// The key an `Authorization` value carries, if it is in a form we accept.
pub fn api_key(authorization: &str) -> Option<String> {
    if authorization.len() > MAX_AUTHORIZATION_CHARS {
        return None;
    }
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned()).filter(|key| !key.is_empty());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let user = decoded
            .split_once(':')
            .map_or(decoded.as_str(), |(user, _)| user);
        return Some(user.trim().to_owned()).filter(|key| !key.is_empty());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_in_any_case_and_basic_with_the_key_as_user() {
        let basic = |text: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(text)
            )
        };
        let cases = [
            ("Bearer sk_1".to_owned(), Some("sk_1")),
            ("bearer sk_1".to_owned(), Some("sk_1")),
            ("BEARER  sk_1 ".to_owned(), Some("sk_1")),
            (basic("sk_1:"), Some("sk_1")),
            (basic("sk_1"), Some("sk_1")),
            (basic("sk_1:ignored"), Some("sk_1")),
            ("basic c2tfMTo=".to_owned(), Some("sk_1")),
            (basic(":"), None),
            ("Basic !!!".to_owned(), None),
            ("Bearer".to_owned(), None),
            ("Bearer ".to_owned(), None),
            ("Token sk_1".to_owned(), None),
            ("sk_1".to_owned(), None),
        ];
        for (authorization, expected) in cases {
            assert_eq!(
                api_key(&authorization).as_deref(),
                expected,
                "{authorization}"
            );
        }
        assert_eq!(api_key(&format!("Bearer {}", "k".repeat(2000))), None);
    }
}
