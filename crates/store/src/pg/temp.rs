//! Databases of their own for tests and benches: created with a random name on the machine's
//! PostgreSQL, dropped (with whatever is still connected) when the handle goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

use crate::StoreError;

/// The variable naming the server tests use; `off` skips them. Default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const TEST_SERVER_ENV: &str = "PURSER_TEST_POSTGRES";

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test, dropped on drop.
#[derive(Debug)]
pub struct TempDatabase {
    server: String,
    name: String,
    url: String,
}

impl TempDatabase {
    /// The test server's URL, or `None` when `PURSER_TEST_POSTGRES=off` asks to skip.
    pub fn server() -> Option<String> {
        match std::env::var(TEST_SERVER_ENV) {
            Ok(value) if value == "off" => None,
            Ok(value) if !value.is_empty() => Some(value),
            _ => Some(DEFAULT_SERVER.to_owned()),
        }
    }

    /// Creates `purser_test_<random>` on the test server; `None` when skipped.
    pub fn create() -> Result<Option<TempDatabase>, StoreError> {
        let Some(server) = TempDatabase::server() else {
            return Ok(None);
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let name = format!(
            "purser_test_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = Client::connect(&server, NoTls)?;
        client.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
        let url = with_database(&server, &name);
        Ok(Some(TempDatabase { server, name, url }))
    }

    /// Connects here.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = Client::connect(&self.server, NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` with its database replaced by `name` (the path of a `postgres://` URL).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |at| after_scheme + at);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn with_database_replaces_the_path() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
            ("postgres://u@h", "postgres://u@h/x"),
            (
                "postgres://h/db?sslmode=disable",
                "postgres://h/x?sslmode=disable",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(super::with_database(url, "x"), expected);
        }
    }
}
