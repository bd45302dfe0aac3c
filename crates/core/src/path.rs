//! Account paths: `acme/research/wf-42/worker-1`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The deepest an account tree may go.
pub const PATH_DEPTH_MAX: usize = 8;
/// The longest one segment of a path may be.
pub const SEGMENT_LEN_MAX: usize = 64;

/// A validated account path: segments of `[a-z0-9][a-z0-9._-]{0,63}` joined by `/`, depth 1 to 8.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountPath(Arc<str>);

impl AccountPath {
    pub fn parse(text: &str) -> Result<AccountPath, String> {
        if text.is_empty() {
            return Err("path is empty".into());
        }
        let mut depth = 0;
        for segment in text.split('/') {
            depth += 1;
            check_segment(segment)?;
        }
        if depth > PATH_DEPTH_MAX {
            return Err(format!(
                "path {text} is {depth} levels deep, at most {PATH_DEPTH_MAX} are allowed"
            ));
        }
        Ok(AccountPath(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }

    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// The parent path, `None` for a top-level account.
    pub fn parent(&self) -> Option<AccountPath> {
        self.0
            .rfind('/')
            .map(|slash| AccountPath(Arc::from(&self.0[..slash])))
    }

    /// The last segment.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    pub fn child(&self, name: &str) -> Result<AccountPath, String> {
        check_segment(name)?;
        AccountPath::parse(&format!("{}/{}", self.0, name))
    }

    /// True when `self` is `prefix` or lies below it.
    pub fn is_within(&self, prefix: &str) -> bool {
        is_within(self.as_str(), prefix)
    }
}

/// True when the path `path` is `prefix` or lies below it, by whole segments (`acme/research`
/// is within `acme`, `acmex` is not); every path is within the empty prefix. The one prefix
/// rule of Purser: scopes, listings, audit filters and tenants all use it.
pub fn is_within(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/')
}

/// Checks one segment of a path; the message names what is wrong.
pub fn check_segment(segment: &str) -> Result<(), String> {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return Err("path has an empty segment".into());
    }
    if bytes.len() > SEGMENT_LEN_MAX {
        return Err(format!(
            "path segment {segment:?} is longer than {SEGMENT_LEN_MAX} characters"
        ));
    }
    let first_ok = bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit();
    let rest_ok = bytes[1..]
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if !first_ok || !rest_ok {
        return Err(format!(
            "path segment {segment:?} must match [a-z0-9][a-z0-9._-]{{0,63}}"
        ));
    }
    Ok(())
}

impl TryFrom<String> for AccountPath {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        AccountPath::parse(&text)
    }
}

impl From<AccountPath> for String {
    fn from(path: AccountPath) -> String {
        path.0.to_string()
    }
}

impl fmt::Display for AccountPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, ok: bool) {
        assert_eq!(AccountPath::parse(text).is_ok(), ok, "{text}");
    }

    #[test]
    fn paths() {
        check("acme", true);
        check("acme/research/wf-42/worker-1", true);
        check("a/b/c/d/e/f/g/h", true);
        check("a/b/c/d/e/f/g/h/i", false);
        check("", false);
        check("acme/", false);
        check("/acme", false);
        check("Acme", false);
        check("-acme", false);
        check("acme/wf:allocate", false);
        check("a.b_c-d/0", true);
        check(&"a".repeat(64), true);
        check(&"a".repeat(65), false);
    }

    #[test]
    fn parent_and_within() {
        let path = AccountPath::parse("acme/research/wf-1").unwrap();
        assert_eq!(path.parent().unwrap().as_str(), "acme/research");
        assert_eq!(path.name(), "wf-1");
        assert!(path.is_within("acme"));
        assert!(path.is_within("acme/research/wf-1"));
        assert!(!path.is_within("acme/res"));
        assert!(path.is_within(""));
        assert_eq!(AccountPath::parse("acme").unwrap().parent(), None);
    }
}
