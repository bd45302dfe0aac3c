//! What the tests that run the real binary share: a free port and a JSON call.

use std::net::TcpListener;

use serde_json::Value;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a request; Ok((status, body)) with a `location` field added for redirects, Err when
/// the connection failed or timed out.
pub fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap();
    let mut response = agent.run(request).map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    let mut value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let (Some(location), Some(object)) = (location, value.as_object_mut()) {
        object.insert("location".into(), location.into());
    }
    Ok((status, value))
}
