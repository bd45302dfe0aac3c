//! Serving a shard of a PostgreSQL journal with other processes: the lease keeper's thread
//! (take the lease, renew it, step down), the standby's poll of the journal, and the routing of
//! requests (writes to the leader, tenants to their shard) with the `Purser-Seq` each answer
//! reflects.
//!
//! Redirects, not proxying: a write reaching a standby is answered `307` with the leader's
//! advertised URL, so clients follow it themselves and keep their idempotency keys. While no
//! leader holds the lease (a failover in progress) writes are answered `503` with
//! `Retry-After: 1`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use purser_engine::Engine;
use purser_store::{Epoch, LeaseHolder, LeaseKeeper, Leases, PostgresLeases, Transition};

use crate::config::cluster::ClusterSection;
use crate::error::ApiError;

/// What the routing needs to know about the cluster, kept current by the keeper's thread.
pub struct Cluster {
    pub config: ClusterSection,
    /// This process's lease owner name (host, pid and start time).
    pub owner: String,
    pub address: String,
    /// Every shard's lease holder, as last read.
    holders: RwLock<Vec<LeaseHolder>>,
    /// The epoch this process appends under, if it leads.
    pub epoch: Epoch,
}

impl Cluster {
    pub fn new(config: ClusterSection, address: String, epoch: Epoch) -> Cluster {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_micros());
        Cluster {
            owner: format!("{host}:{}:{started}", std::process::id()),
            config,
            address,
            holders: RwLock::new(Vec::new()),
            epoch,
        }
    }

    /// The live leader of `shard` and where it serves.
    pub fn leader_of(&self, shard: &str) -> Option<LeaseHolder> {
        let holders = self.holders.read().ok()?;
        holders
            .iter()
            .find(|holder| holder.shard == shard && holder.live && !holder.address.is_empty())
            .cloned()
    }

    /// What `/readyz` says of this process.
    pub fn describe(&self, engine: &Engine) -> serde_json::Value {
        let leader = self.leader_of(&self.config.shard);
        serde_json::json!({
            "role": if engine.is_leader() { "leader" } else { "standby" },
            "shard": self.config.shard,
            "epoch": self.epoch.get(),
            "seq": *engine.changes().borrow(),
            "leader": leader.map(|holder| holder.address),
        })
    }
}

/// How often the shards' lease holders are read for redirects (and the keeper's thread looks
/// whether the server is closing).
const HOLDERS_EVERY_MS: u64 = 250;

/// What runs each time this process starts leading (the config's accounts are created then).
pub type OnPromoted = Arc<
    dyn Fn(Engine) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync,
>;

/// Runs the lease protocol on its own thread (the PostgreSQL driver blocks) until `closing`
/// turns true; then demotes the engine and releases the lease, so that a standby takes over at
/// once. `on_promoted` runs (on the runtime) each time this process starts leading.
pub fn spawn_keeper(
    cluster: Arc<Cluster>,
    store_url: String,
    engine: Engine,
    runtime: tokio::runtime::Handle,
    closing: tokio::sync::watch::Receiver<bool>,
    on_promoted: OnPromoted,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("purser-lease".into())
        .spawn(move || {
            let config = &cluster.config;
            let mut keeper = LeaseKeeper::new(
                &config.shard,
                &cluster.owner,
                &cluster.address,
                config.lease_ttl_ms,
            );
            let mut leases: Option<PostgresLeases> = None;
            let started = Instant::now();
            let mut next_round_ms = 0;
            loop {
                if *closing.borrow() {
                    break;
                }
                let leases = match &mut leases {
                    Some(leases) => leases,
                    None => match PostgresLeases::connect(&store_url) {
                        Ok(connected) => leases.insert(connected),
                        Err(err) => {
                            eprintln!("purser: the lease table cannot be reached: {err}");
                            std::thread::sleep(Duration::from_millis(keeper.interval_ms()));
                            continue;
                        }
                    },
                };
                let now_ms = started.elapsed().as_millis() as u64;
                let transition = if now_ms >= next_round_ms {
                    next_round_ms = now_ms + keeper.interval_ms();
                    keeper.round(leases, now_ms)
                } else {
                    Transition::Stay
                };
                match transition {
                    Transition::Promoted { epoch } => {
                        cluster.epoch.set(Some(epoch));
                        match runtime.block_on(engine.promote()) {
                            Ok(Ok(seq)) => {
                                eprintln!(
                                    "purser: shard {} leader at epoch {epoch} from event {seq}",
                                    config.shard
                                );
                                runtime.block_on(on_promoted(engine.clone()));
                            }
                            failed => {
                                eprintln!("purser: cannot lead shard {}: {failed:?}", config.shard);
                                cluster.epoch.set(None);
                                let _ = keeper.release(leases);
                            }
                        }
                    }
                    Transition::Demoted { epoch, reason } => {
                        cluster.epoch.set(None);
                        let _ = runtime.block_on(engine.demote());
                        eprintln!(
                            "purser: shard {} standby (was leader at epoch {epoch}): {reason}",
                            config.shard
                        );
                    }
                    Transition::Stay => {
                        // The engine stepped down on its own (an append fenced or failed) while
                        // the lease is still ours: lead again from what the journal holds.
                        if keeper.epoch().is_some()
                            && !engine.is_leader()
                            && let Ok(Ok(seq)) = runtime.block_on(engine.promote())
                        {
                            eprintln!("purser: leading again from event {seq}");
                        }
                    }
                }
                // The other shards' leaders, for redirects, are read more often than rounds run.
                if let Ok(holders) = leases.holders()
                    && let Ok(mut known) = cluster.holders.write()
                {
                    *known = holders;
                }
                std::thread::sleep(Duration::from_millis(
                    keeper.interval_ms().min(HOLDERS_EVERY_MS),
                ));
            }
            if keeper.epoch().is_some() {
                cluster.epoch.set(None);
                let _ = runtime.block_on(engine.demote());
                if let Some(leases) = &mut leases
                    && let Err(err) = keeper.release(leases)
                {
                    eprintln!("purser: releasing the lease: {err}");
                }
            }
        })
        .expect("the lease thread starts")
}

/// A standby folds what its leader appended, every `follow_every_ms`.
pub async fn follow(engine: Engine, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if engine.is_leader() {
            continue;
        }
        match engine.catch_up().await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => eprintln!("purser: following the journal: {err}"),
            Err(_) => return,
        }
    }
}

/// The routing state of the middleware: the engine, and the cluster when there is one.
pub struct Routing {
    pub engine: Engine,
    /// The engine's last committed seq, read for every answer (kept here, not cloned from the
    /// engine each time).
    pub changes: tokio::sync::watch::Receiver<u64>,
    pub cluster: Option<Arc<Cluster>>,
    /// The largest body read to find the shard of the accounts it names (a batch's limit).
    pub body_max: usize,
    /// Where account routes start (`/v1/accounts/`): the tenant follows.
    pub accounts_prefix: &'static str,
}

/// Marks every answer with the seq it reflects; on a cluster, sends requests for another
/// shard's tenant to that shard's leader, and writes on a standby to this shard's leader.
pub async fn route(
    State(routing): State<Arc<Routing>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    if let Some(cluster) = &routing.cluster {
        let mut shard = tenant_of(routing.accounts_prefix, request.uri().path())
            .map(|tenant| cluster.config.shard_of(tenant));
        if shard.is_none() && !cluster.config.tenants.is_empty() && names_accounts_in_body(&request)
        {
            // Reports and holds name their account in the body: read it (within the batch
            // limit) to find the tenant's shard, and hand the same bytes on.
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, routing.body_max).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    return ApiError::new(
                        413,
                        "too_large",
                        "the body is larger than a batch may be",
                    )
                    .into_response();
                }
            };
            match shard_of_body(&cluster.config, &bytes) {
                Ok(found) => shard = found,
                Err(message) => {
                    return ApiError::new(400, "shard_mismatch", message).into_response();
                }
            }
            request = Request::from_parts(parts, Body::from(bytes));
        }
        if let Some(redirect) = redirect(cluster, &routing.engine, &request, shard) {
            return redirect;
        }
    }
    let mut response = next.run(request).await;
    let seq = *routing.changes.borrow();
    let headers = response.headers_mut();
    headers.insert("purser-seq", HeaderValue::from(seq));
    if routing.cluster.is_some() {
        let role = if routing.engine.is_leader() {
            "leader"
        } else {
            "standby"
        };
        headers.insert("purser-role", HeaderValue::from_static(role));
    }
    response
}

/// The answer sending `request` elsewhere, if it is not this process's to serve: `shard` is the
/// shard of the account it names, if it names one.
fn redirect(
    cluster: &Cluster,
    engine: &Engine,
    request: &Request<Body>,
    shard: Option<&str>,
) -> Option<Response> {
    let path = request.uri().path();
    let elsewhere = shard.filter(|shard| *shard != cluster.config.shard);
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let target = match elsewhere {
        Some(shard) => shard,
        None if writes && !engine.is_leader() && path.starts_with("/v1/") => {
            cluster.config.shard.as_str()
        }
        None => return None,
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(path, |value| value.as_str());
    Some(match cluster.leader_of(target) {
        Some(leader) if leader.owner != cluster.owner => {
            let location = format!("{}{path_and_query}", leader.address.trim_end_matches('/'));
            let mut response = ApiError::new(
                307,
                "not_leader",
                format!(
                    "shard {target} is led by {}: send this request there",
                    leader.address
                ),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        _ => {
            let mut response = ApiError::new(
                503,
                "no_leader",
                format!("shard {target} has no leader right now (a failover is under way): retry"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    })
}

/// The routes whose body names the account: a report, a batch of them, a hold.
fn names_accounts_in_body(request: &Request<Body>) -> bool {
    *request.method() == Method::POST
        && matches!(
            request.uri().path(),
            "/v1/usage" | "/v1/usage:batch" | "/v1/reservations"
        )
}

#[derive(serde::Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    account: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reports: Vec<Named<'a>>,
}

/// The one shard whose tenants the body's accounts belong to (`None` when it names none, or
/// does not parse: the handler answers that); an error for a batch across shards.
fn shard_of_body<'c>(config: &'c ClusterSection, body: &[u8]) -> Result<Option<&'c str>, String> {
    let Ok(named) = serde_json::from_slice::<Named<'_>>(body) else {
        return Ok(None);
    };
    let shard_of = |account: &str| config.shard_of(account.split('/').next().unwrap_or(account));
    let mut shards = named
        .account
        .as_deref()
        .into_iter()
        .chain(
            named
                .reports
                .iter()
                .filter_map(|item| item.account.as_deref()),
        )
        .map(shard_of);
    let Some(first) = shards.next() else {
        return Ok(None);
    };
    if let Some(other) = shards.find(|shard| *shard != first) {
        return Err(format!(
            "this batch names accounts of shards {first} and {other}: send one batch per shard"
        ));
    }
    Ok(Some(first))
}

/// The tenant an account route names: `/v1/accounts/acme/team:method` is `acme`'s.
fn tenant_of<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    let first = rest.split('/').next()?;
    let tenant = first.split(':').next()?;
    (!tenant.is_empty()).then_some(tenant)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shards_of_bodies() {
        let mut config = super::ClusterSection::default();
        config.tenants.insert("acme".into(), "eu".into());
        let shard = |body: &str| super::shard_of_body(&config, body.as_bytes());
        assert_eq!(
            shard(r#"{"account": "acme/a", "usage": {}}"#),
            Ok(Some("eu"))
        );
        assert_eq!(shard(r#"{"account": "globex/a"}"#), Ok(Some("main")));
        assert_eq!(
            shard(r#"{"reports": [{"account": "acme/a"}, {"account": "acme/b"}]}"#),
            Ok(Some("eu"))
        );
        assert_eq!(
            shard(r#"{"reports": [{"account": "acme/a"}, {"account": "globex"}]}"#),
            Err("this batch names accounts of shards eu and main: send one batch per shard".into())
        );
        assert_eq!(shard("not json"), Ok(None));
    }

    #[test]
    fn tenants_of_account_routes() {
        let cases = [
            ("/v1/accounts/acme/research", Some("acme")),
            ("/v1/accounts/acme:report", Some("acme")),
            ("/v1/accounts/", None),
            ("/v1/usage", None),
        ];
        for (path, tenant) in cases {
            assert_eq!(super::tenant_of("/v1/accounts/", path), tenant, "{path}");
        }
    }
}
