//! The fleet's routes: agent profiles and what Kubernetes would do with them (`:scale`,
//! `:rightsize`, `/samples`), and agents registering against them and beating their hearts.
//!
//! Reads need any token. Registering, heartbeats and samples come from agents and their
//! sidecars across every tenant, like workers: they need a token without a scope (any role).
//! Forgetting an agent needs an operator or admin.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{AppState, BODY_MAX, Target, json, number, query_params, read_body};
use crate::auth::Need;
use crate::error::ApiError;
use crate::fleet::{FleetError, Heartbeat, Registration};
use crate::wire::fleet::{
    AgentCountsOut, AgentIn, AgentOut, AgentsOut, HeartbeatIn, ProfileOut, ProfilesOut,
    RightsizeOut, SamplesIn, SamplesOut, ScaleOut,
};
use crate::wire::{self, ErrorBody};

const PROFILES: &str = "/v1/profiles/";
const AGENTS: &str = "/v1/agents/";
/// The metrics of a profile's HPA, in the order `Fleet::reconcile` gives them.
const SCALE_METRICS: [&str; 3] = ["cpu", "memory", crate::fleet::QUEUE_METRIC];

impl From<FleetError> for ApiError {
    fn from(err: FleetError) -> ApiError {
        match err {
            FleetError::NotFound(message) => ApiError::not_found(message),
            FleetError::Invalid { field, message } => {
                ApiError::invalid("invalid_field", &field, message)
            }
            FleetError::Full(message) => ApiError::new(409, "too_many_agents", message),
        }
    }
}

fn counts(state: &AppState, profile: &str) -> AgentCountsOut {
    let (healthy, unhealthy) = state.fleet.agent_counts(profile);
    AgentCountsOut { healthy, unhealthy }
}

#[utoipa::path(get, path = "/v1/profiles", tag = "fleet_routes",
    responses((status = 200, body = ProfilesOut), (status = 401, body = ErrorBody)))]
pub async fn list_profiles(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.tokens.caller(&headers)?;
    let profiles = state
        .fleet
        .profiles()
        .iter()
        .map(|profile| ProfileOut::new(profile, counts(&state, &profile.name)))
        .collect();
    Ok(json(ProfilesOut { profiles }))
}

#[utoipa::path(get, path = "/v1/profiles/{name}", tag = "fleet_routes",
    params(("name" = String, Path, description = "A profile")),
    responses((status = 200, body = ProfileOut), (status = 404, body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    state.tokens.caller(&headers)?;
    let target = Target::of(&uri, PROFILES)?;
    let profile = state.fleet.profile(&target.name)?.clone();
    match target.method.as_deref() {
        None => Ok(json(ProfileOut::new(
            &profile,
            counts(&state, &profile.name),
        ))),
        Some("scale") => scale(&state, &profile).await,
        Some("rightsize") => rightsize(&state, &profile),
        Some(other) => Err(ApiError::not_found(format!(
            "no method :{other} for GET on profiles (:scale, :rightsize)"
        ))),
    }
}

/// `GET /v1/profiles/{name}:scale` (dispatched by `get_profile`).
#[utoipa::path(get, path = "/v1/profiles/{name}:scale", tag = "fleet_routes",
    params(("name" = String, Path, description = "A profile")),
    responses((status = 200, description = "The replica count the Kubernetes HPA controller would set now", body = ScaleOut),
              (status = 404, body = ErrorBody)))]
pub async fn scale(
    state: &AppState,
    profile: &purser_k8s::profile::Profile,
) -> Result<Response, ApiError> {
    // The HPA run now on the agents and the queue as they are, on a copy of its history:
    // reading does not change what the watch's runs every 15 s remember.
    let eligible = state.engine.sched_gauges(0).await?.eligible;
    let decision = state
        .fleet
        .reconcile(&profile.name, eligible, state.clock.now_ms(), false)?;
    let names: Vec<String> = SCALE_METRICS.iter().map(|m| m.to_string()).collect();
    Ok(json(ScaleOut::new(profile, &decision, &names)))
}

/// `GET /v1/profiles/{name}:rightsize` (dispatched by `get_profile`).
#[utoipa::path(get, path = "/v1/profiles/{name}:rightsize", tag = "fleet_routes",
    params(("name" = String, Path, description = "A profile")),
    responses((status = 200, description = "Container requests as the Kubernetes VPA recommender computes them from the profile's samples", body = RightsizeOut),
              (status = 404, body = ErrorBody)))]
pub fn rightsize(
    state: &AppState,
    profile: &purser_k8s::profile::Profile,
) -> Result<Response, ApiError> {
    let (recommendations, counts, lifespans) = state.fleet.rightsize(&profile.name)?;
    Ok(json(RightsizeOut::new(
        profile,
        recommendations,
        counts,
        lifespans,
    )))
}

#[utoipa::path(post, path = "/v1/profiles/{name}/samples", tag = "fleet_routes",
    params(("name" = String, Path, description = "The profile")), request_body = SamplesIn,
    responses((status = 200, body = SamplesOut), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn post_samples(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    caller.allow(Need::Spend, None)?;
    let target = Target::of(&uri, PROFILES)?;
    let Some(name) = target
        .name
        .strip_suffix("/samples")
        .filter(|_| target.method.is_none())
    else {
        return Err(ApiError::not_found(
            "POST on a profile takes /v1/profiles/{name}/samples",
        ));
    };
    let body = read_body(body, BODY_MAX).await?;
    let samples = wire::parse::<SamplesIn>(&body)?.into_samples(state.clock.now_ms())?;
    let accepted = state.fleet.add_samples(name, &samples)?;
    Ok(json(SamplesOut {
        accepted,
        dropped: samples.len() - accepted,
    }))
}

/// Page size of `GET /v1/agents` by default and at most.
const LIST_DEFAULT: usize = 100;
const LIST_MAX: usize = 1_000;

#[utoipa::path(get, path = "/v1/agents", tag = "fleet_routes",
    params(("profile" = Option<String>, Query, description = "Only agents of this profile"),
           ("after" = Option<String>, Query, description = "The page after this agent (see next_after)"),
           ("limit" = Option<usize>, Query, description = "At most this many (default 100, max 1,000)")),
    responses((status = 200, body = AgentsOut), (status = 400, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.tokens.caller(&headers)?;
    let (mut profile, mut after, mut limit) = (None, None, LIST_DEFAULT);
    for (key, value) in query_params(raw.as_deref(), &["profile", "after", "limit"])? {
        match key.as_str() {
            "profile" => profile = Some(value),
            "after" => after = Some(value),
            _ => limit = (number(&value, "limit")? as usize).clamp(1, LIST_MAX),
        }
    }
    let agents = state
        .fleet
        .agents(profile.as_deref(), after.as_deref(), limit + 1);
    let next_after = (agents.len() > limit).then(|| agents[limit - 1].name.clone());
    Ok(json(AgentsOut {
        agents: agents.into_iter().take(limit).map(AgentOut::from).collect(),
        next_after,
    }))
}

#[utoipa::path(get, path = "/v1/agents/{name}", tag = "fleet_routes",
    params(("name" = String, Path, description = "An agent")),
    responses((status = 200, body = AgentOut), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    state.tokens.caller(&headers)?;
    let target = plain(Target::of(&uri, AGENTS)?, "GET")?;
    Ok(json(AgentOut::from(state.fleet.agent(&target)?)))
}

fn plain(target: Target, verb: &str) -> Result<String, ApiError> {
    match target.method {
        None => Ok(target.name),
        Some(method) => Err(ApiError::not_found(format!(
            "no method :{method} for {verb} on agents"
        ))),
    }
}

#[utoipa::path(put, path = "/v1/agents/{name}", tag = "fleet_routes",
    params(("name" = String, Path, description = "The agent's name, unique in the fleet")),
    request_body = AgentIn,
    responses((status = 200, body = AgentOut), (status = 400, body = ErrorBody),
              (status = 409, description = "As many agents as [agents] agents_max", body = ErrorBody)))]
pub async fn put_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    caller.allow(Need::Spend, None)?;
    let name = plain(Target::of(&uri, AGENTS)?, "PUT")?;
    let body = read_body(body, BODY_MAX).await?;
    let agent_in = wire::parse::<AgentIn>(&body)?;
    let account = match &agent_in.account {
        Some(text) => Some(wire::account_path(text, "account")?),
        None => None,
    };
    let registration = Registration {
        profile: agent_in.profile,
        version: agent_in.version,
        labels: agent_in.labels,
    };
    let (agent, notice) = state
        .fleet
        .register(&name, registration, state.clock.now_ms())?;
    if let Some(notice) = notice {
        state.engine.notice(notice).await?;
    }
    let budget = state.fleet.profile(&agent.profile)?.budget.clone();
    let mut out = AgentOut::from(agent);
    if let Some(path) = account
        && !budget.is_empty()
    {
        out.opened_account = open_with_budget(&state, &caller, path, budget).await?;
    }
    Ok(json(out))
}

/// Opens the agent's account with its profile's budget when it does not exist yet; answers its
/// path when it did so. An account that exists keeps its limits.
async fn open_with_budget(
    state: &AppState,
    caller: &crate::auth::Caller,
    path: purser_core::AccountPath,
    budget: std::collections::BTreeMap<String, u64>,
) -> Result<Option<String>, ApiError> {
    match state.engine.account(path.clone()).await {
        Ok(_) => return Ok(None),
        Err(purser_engine::EngineError::Ledger(purser_core::LedgerError::AccountNotFound {
            ..
        })) => {}
        Err(err) => return Err(err.into()),
    }
    caller.allow_change(&path)?;
    let spec = purser_core::AccountSpec {
        limits: Some(budget.into_iter().collect()),
        kind: Some("agent".into()),
        ..purser_core::AccountSpec::default()
    };
    let command = purser_core::Command::UpsertAccount {
        path: path.clone(),
        spec,
    };
    state.engine.manage(command, caller.name.clone()).await?;
    Ok(Some(path.as_str().to_string()))
}

#[utoipa::path(post, path = "/v1/agents/{name}:heartbeat", tag = "fleet_routes",
    params(("name" = String, Path, description = "The agent")), request_body = HeartbeatIn,
    responses((status = 200, body = AgentOut), (status = 404, description = "Not registered (registrations are not kept across restarts: PUT it again)", body = ErrorBody)))]
pub async fn post_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    caller.allow(Need::Spend, None)?;
    let target = Target::of(&uri, AGENTS)?;
    if target.method.as_deref() != Some("heartbeat") {
        return Err(ApiError::not_found(
            "POST on an agent takes /v1/agents/{name}:heartbeat",
        ));
    }
    let body = read_body(body, BODY_MAX).await?;
    let beat = if body.iter().all(u8::is_ascii_whitespace) {
        HeartbeatIn::default()
    } else {
        wire::parse::<HeartbeatIn>(&body)?
    };
    let (agent, notice) = state.fleet.heartbeat(
        &target.name,
        Heartbeat {
            status: beat.status,
            cpu_millicores: beat.cpu_millicores,
            memory_bytes: beat.memory_bytes,
        },
        state.clock.now_ms(),
    )?;
    if let Some(notice) = notice {
        state.engine.notice(notice).await?;
    }
    Ok(json(AgentOut::from(agent)))
}

#[utoipa::path(delete, path = "/v1/agents/{name}", tag = "fleet_routes",
    params(("name" = String, Path, description = "The agent")),
    responses((status = 200, body = AgentOut), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    caller.allow(Need::Manage, None)?;
    let name = plain(Target::of(&uri, AGENTS)?, "DELETE")?;
    Ok(json(AgentOut::from(state.fleet.deregister(&name)?)))
}
