//! The web dashboard at `/`: server-rendered HTML pages of the same views the API answers
//! (every figure comes from the engine's views; the browser does no arithmetic), a small
//! script of our own (`ui/app.js`) that refreshes the open page in place when `/v1/events`
//! says something changed, and a stylesheet. No build step, nothing loaded from the network
//! (a strict Content-Security-Policy), the API's bearer tokens (kept in a cookie after a small
//! sign-in; a scoped token sees its scope only).
//!
//! Why a script of our own and not htmx or another library: the one thing the pages need
//! beyond plain HTML is to swap fresh parts into the open page, and to patch table rows by key
//! in place (so that rows never move under the reader's eyes), which htmx does only with a
//! morphing extension on top. Our script does exactly that in about 150 lines with nothing to
//! vendor, license or audit, and the pages work without it (a reload shows the same figures).
//!
//! Pages: the account tree (`accounts.rs`), an account (`account.rs`), alerts and the audit
//! log (`activity.rs`), DAGs and a DAG's timeline (`dags.rs`), pools and quotas (`pools.rs`);
//! `html.rs` holds what they share.

mod account;
mod accounts;
mod activity;
mod dags;
mod html;
mod pools;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::{COOKIE, Caller};
use crate::error::ApiError;
use crate::routes::AppState;

const SCRIPT: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/app.css");

/// Nothing but this server's own script, style and inline SVG.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/accounts") }))
        .route("/ui", get(|| async { Redirect::to("/ui/accounts") }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/ui/sign-in", get(sign_in_page).post(sign_in))
        .route("/ui/sign-out", axum::routing::post(sign_out))
        .route(
            "/ui/app.js",
            get(|| async { asset(SCRIPT, "text/javascript") }),
        )
        .route("/ui/app.css", get(|| async { asset(STYLE, "text/css") }))
        .route("/ui/accounts", get(accounts::page))
        .route("/ui/accounts/{*path}", get(account::page))
        .route("/ui/alerts", get(activity::alerts))
        .route("/ui/audit", get(activity::audit))
        .route("/ui/dags", get(dags::list))
        .route("/ui/dags/{id}", get(dags::page))
        .route("/ui/pools", get(pools::page))
}

fn asset(text: &'static str, content_type: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Who is looking: the `Authorization` header or the sign-in cookie; without either (when
/// tokens are configured), the sign-in page.
fn viewer(
    state: &AppState,
    request_headers: &HeaderMap,
    uri: &str,
) -> Result<Caller, Box<Response>> {
    state.tokens.reader(request_headers).map_err(|_| {
        let next = percent_encoding::utf8_percent_encode(uri, percent_encoding::NON_ALPHANUMERIC);
        Box::new(Redirect::to(&format!("/ui/sign-in?next={next}")).into_response())
    })
}

/// A page for whoever looks: the sign-in for nobody, else the page `build` makes for the
/// caller, or its error as a page.
pub(super) async fn show(
    state: &AppState,
    headers: &HeaderMap,
    uri: &str,
    build: impl AsyncFnOnce(&Caller) -> Result<Page, ApiError>,
) -> Response {
    let caller = match viewer(state, headers, uri) {
        Ok(caller) => caller,
        Err(sign_in) => return *sign_in,
    };
    match build(&caller).await {
        Ok(page) => render(page, &caller),
        Err(err) => error_page(err, &caller),
    }
}

/// A page: its title, which navigation entry it is, what its live updates listen to, its
/// content and the seq it reflects.
pub(super) struct Page {
    pub title: String,
    pub nav: &'static str,
    /// The `prefix` of `/v1/events` the page follows; `None` for a page that does not update.
    pub live: Option<String>,
    pub body: String,
}

const NAV: [(&str, &str); 5] = [
    ("accounts", "Accounts"),
    ("alerts", "Alerts"),
    ("audit", "Audit log"),
    ("dags", "DAGs"),
    ("pools", "Pools and quotas"),
];

/// The page in the dashboard's frame, with its security headers.
pub(super) fn render(page: Page, caller: &Caller) -> Response {
    use std::fmt::Write;
    let mut out = String::with_capacity(page.body.len() + 2048);
    let live = page.live.as_ref().map_or(String::new(), |prefix| {
        let mut url = "/v1/events?changes=true".to_string();
        if !prefix.is_empty() {
            url.push_str("&prefix=");
            url.push_str(&html::query_value(prefix));
        }
        format!(" data-stream=\"{}\"", html::escape(&url))
    });
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · Purser</title>\n<link rel=\"stylesheet\" href=\"/ui/app.css\">\n\
         <script src=\"/ui/app.js\" defer></script>\n</head>\n<body{live}>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n<header>\n\
         <span class=\"brand\">Purser</span>\n<nav aria-label=\"Views\">",
        html::escape(&page.title)
    );
    for (key, label) in NAV {
        let current = if key == page.nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"/ui/{key}\"{current}>{label}</a>");
    }
    let who = if caller.scope.is_empty() {
        format!("{} (every account)", caller.name)
    } else {
        format!("{} ({})", caller.name, caller.scope)
    };
    let _ = write!(
        out,
        "</nav>\n<form class=\"who\" method=\"post\" action=\"/ui/sign-out\">\
         <span>{}</span> <button type=\"submit\">Sign out</button></form>\n</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n<h1>{}</h1>\n{}\n</main>\n\
         <p class=\"status\" id=\"live-status\" aria-live=\"polite\"></p>\n</body>\n</html>\n",
        html::escape(&who),
        html::escape(&page.title),
        page.body
    );
    page_response(StatusCode::OK, out)
}

fn page_response(status: StatusCode, text: String) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An error as a page in the frame (its status kept).
pub(super) fn error_page(err: ApiError, caller: &Caller) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = render(
        Page {
            title: format!("{} {}", err.status, status.canonical_reason().unwrap_or("")),
            nav: "",
            live: None,
            body: format!(
                "<p class=\"error\">{}</p>",
                html::escape(&err.detail.message)
            ),
        },
        caller,
    );
    *response.status_mut() = status;
    response
}

async fn sign_in_page(State(state): State<AppState>, request: Request) -> Response {
    let next = request
        .uri()
        .query()
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "next")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_else(|| "/ui/accounts".into());
    sign_in_form(&state, &next, None)
}

fn sign_in_form(state: &AppState, next: &str, error: Option<&str>) -> Response {
    let note = if state.tokens.is_empty() {
        "<p>This server has no tokens configured: every page is open on its loopback address.</p>"
    } else {
        "<p>Sign in with one of the API's bearer tokens. It is kept in a cookie of this site \
         only; a token with a scope shows that scope only.</p>"
    };
    let error = error.map_or(String::new(), |error| {
        format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            html::escape(error)
        )
    });
    let text = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Sign in · Purser</title>\n<link rel=\"stylesheet\" href=\"/ui/app.css\">\n</head>\n\
         <body class=\"sign-in\">\n<main id=\"main\">\n<h1>Purser</h1>\n{note}\n{error}\n\
         <form method=\"post\" action=\"/ui/sign-in\">\n\
         <label for=\"token\">Token</label>\n\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\n\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\n\
         <button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n",
        html::escape(next)
    );
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    page_response(status, text)
}

/// Where a sign-in may send the browser on: a page of this dashboard only.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/ui/accounts"
    }
}

async fn sign_in(State(state): State<AppState>, request: Request) -> Response {
    let body = match crate::routes::read_body(request.into_body(), 4096).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let (mut token, mut next) = (String::new(), String::from("/ui/accounts"));
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "token" => token = value.trim().to_string(),
            "next" => next = value.into_owned(),
            _ => {}
        }
    }
    let next = safe_next(&next).to_string();
    if !state.tokens.is_empty() && state.tokens.check(&token).is_none() {
        return sign_in_form(
            &state,
            &next,
            Some("That token is not one this server knows."),
        );
    }
    let value = percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC);
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = Redirect::to(&next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_out() -> Response {
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("purser_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn a_sign_in_only_sends_on_to_the_dashboard() {
        assert_eq!(safe_next("/ui/dags/3"), "/ui/dags/3");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/v1/usage",
            "/ui\\x",
        ] {
            assert_eq!(safe_next(elsewhere), "/ui/accounts", "{elsewhere}");
        }
    }
}
