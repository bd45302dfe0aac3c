//! Bearer tokens with a role and a scope.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use purser_core::AccountPath;
use purser_core::path::is_within;
use purser_engine::Scope;
use serde::Deserialize;

use crate::error::ApiError;

/// A token of `purser.toml`'s `[[tokens]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub token: String,
    pub role: Role,
    /// An account path prefix; empty or absent for every account.
    #[serde(default)]
    pub scope: String,
    /// A name for the audit log.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Agent,
}

/// Who is calling: a role and the account prefix it may touch.
#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub role: Role,
    /// Empty for every account.
    pub scope: Arc<str>,
    pub name: Arc<str>,
}

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Read statuses.
    Read,
    /// Report usage, reserve, settle, void.
    Spend,
    /// Create, change, allocate, close accounts.
    Manage,
}

#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, Caller>,
}

impl Tokens {
    pub fn new(configs: &[TokenConfig]) -> Tokens {
        let by_token = configs
            .iter()
            .enumerate()
            .map(|(idx, config)| {
                let name = config
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("token-{idx}"));
                let caller = Caller {
                    role: config.role,
                    scope: Arc::from(config.scope.as_str()),
                    name: Arc::from(name.as_str()),
                };
                (config.token.clone(), caller)
            })
            .collect();
        Tokens { by_token }
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// The caller behind the `Authorization` header. Without configured tokens everyone is an
    /// anonymous admin (the server then listens only on loopback).
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.by_token.is_empty() {
            return Ok(Caller {
                role: Role::Admin,
                scope: Arc::from(""),
                name: Arc::from("anonymous"),
            });
        }
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token =
            header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
                ApiError::unauthorized("Authorization must be \"Bearer <token>\"")
            })?;
        self.by_token
            .get(token)
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

/// The dashboard's cookie: the token, percent-encoded.
pub const COOKIE: &str = "purser_token";

impl Tokens {
    /// The caller of a read from a browser: the `Authorization` header when there is one,
    /// else the dashboard's sign-in cookie (an `EventSource` cannot send headers).
    pub fn reader(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.by_token.is_empty() || headers.contains_key(axum::http::header::AUTHORIZATION) {
            return self.caller(headers);
        }
        let token = cookie(headers, COOKIE).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer token or sign-in cookie")
        })?;
        self.check(&token)
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }

    /// The caller a token names, if it is configured.
    pub fn check(&self, token: &str) -> Option<Caller> {
        self.by_token.get(token).cloned()
    }
}

/// The value of cookie `name`, percent-decoded.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
}

impl Caller {
    /// Checks the role allows `need` on `path` (or on everything when `path` is `None`).
    pub fn allow(&self, need: Need, path: Option<&str>) -> Result<(), ApiError> {
        if need == Need::Manage && self.role == Role::Agent {
            return Err(ApiError::forbidden(
                "an agent token cannot change accounts or limits",
            ));
        }
        if self.role == Role::Admin || self.scope.is_empty() {
            return Ok(());
        }
        match path {
            Some(path) if is_within(path, &self.scope) => Ok(()),
            Some(path) => Err(ApiError::forbidden(&format!(
                "account {path} is outside this token's scope {}",
                self.scope
            ))),
            None => Err(ApiError::forbidden(&format!(
                "this token may only touch accounts under {}",
                self.scope
            ))),
        }
    }

    /// Checks the caller may change `path` itself: its limits come out of its parent's pool
    /// and its thresholds and period bound what its parent lets it spend, so the parent must
    /// be in scope too. A top-level account needs a token without a scope.
    pub fn allow_change(&self, path: &AccountPath) -> Result<(), ApiError> {
        self.allow(Need::Manage, Some(path.as_str()))?;
        if self.role == Role::Admin || self.scope.is_empty() {
            return Ok(());
        }
        let parent = path.parent();
        if parent
            .as_ref()
            .is_some_and(|parent| is_within(parent.as_str(), &self.scope))
        {
            return Ok(());
        }
        Err(ApiError::forbidden(&format!(
            "changing {path} takes budget from {}, outside this token's scope {}",
            parent.as_ref().map_or("the top level", AccountPath::as_str),
            self.scope
        )))
    }

    /// What the engine may let this caller touch where only the engine knows the account.
    pub fn scope(&self) -> Scope {
        if self.role == Role::Admin {
            Scope::everything()
        } else {
            Scope::under(&self.scope)
        }
    }
}

/// The token of an `Authorization` value: the scheme `Bearer` in any case (RFC 7235), one or
/// more spaces, the token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, scope: &str) -> Caller {
        Caller {
            role,
            scope: Arc::from(scope),
            name: Arc::from("t"),
        }
    }

    #[test]
    fn roles_and_scopes() {
        let agent = caller(Role::Agent, "acme/research");
        assert!(agent.allow(Need::Spend, Some("acme/research/wf-1")).is_ok());
        assert!(agent.allow(Need::Read, Some("acme/research")).is_ok());
        assert_eq!(
            agent
                .allow(Need::Spend, Some("acme/researchers"))
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            agent
                .allow(Need::Manage, Some("acme/research/wf-1"))
                .unwrap_err()
                .status,
            403
        );
        let operator = caller(Role::Operator, "acme");
        assert!(operator.allow(Need::Manage, Some("acme/x")).is_ok());
        assert!(operator.allow(Need::Manage, Some("other")).is_err());
        assert!(
            caller(Role::Admin, "")
                .allow(Need::Manage, Some("anything"))
                .is_ok()
        );
    }

    #[test]
    fn an_operator_does_not_change_its_own_scope_root() {
        // Regression (hardening #4): an operator scoped to acme/research raised acme/research
        // out of acme's pool and loosened its thresholds.
        let path = |text: &str| AccountPath::parse(text).unwrap();
        let operator = caller(Role::Operator, "acme/research");
        assert!(operator.allow_change(&path("acme/research/wf-1")).is_ok());
        let err = operator.allow_change(&path("acme/research")).unwrap_err();
        assert_eq!(err.status, 403);
        assert!(err.detail.message.contains("acme"), "{err:?}");
        assert!(operator.allow_change(&path("acme")).is_err());
        assert!(
            caller(Role::Operator, "")
                .allow_change(&path("acme"))
                .is_ok()
        );
        assert!(caller(Role::Admin, "x").allow_change(&path("acme")).is_ok());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER   abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
    }
}
