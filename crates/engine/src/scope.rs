//! What a caller may touch: every account, or an account path prefix. The engine checks it
//! where the account is known only to the engine (a reservation's, a DAG's tenant, each item of
//! a batch); the prefix rule is `purser_core::path::is_within`, the only one.

use std::sync::Arc;

/// Every account, or the accounts at and below one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    prefix: Option<Arc<str>>,
}

impl Scope {
    pub fn everything() -> Scope {
        Scope { prefix: None }
    }

    /// The accounts at and below `prefix` (an empty prefix is every account).
    pub fn under(prefix: &str) -> Scope {
        Scope {
            prefix: (!prefix.is_empty()).then(|| Arc::from(prefix)),
        }
    }

    /// Whether it covers every account (and so what belongs to none: the scheduler, the
    /// process).
    pub fn is_everything(&self) -> bool {
        self.prefix.is_none()
    }

    pub fn covers(&self, path: &str) -> bool {
        self.prefix
            .as_deref()
            .is_none_or(|prefix| purser_core::path::is_within(path, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn a_scope_covers_whole_segments_below_it() {
        let scope = Scope::under("acme/research");
        for (path, covered) in [
            ("acme/research", true),
            ("acme/research/wf-1", true),
            ("acme/researchers", false),
            ("acme", false),
        ] {
            assert_eq!(scope.covers(path), covered, "{path}");
        }
        assert!(Scope::everything().covers("anything"));
        assert!(Scope::under("").covers("anything"));
    }
}
