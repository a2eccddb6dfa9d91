//! The HTTP API, independent of any web framework: local mode serves it with hyper, the
//! Lambda function with `lambda_http`; both hand over a [`Request`] and send back the
//! [`Response`]. Routes, request and response types are therefore identical.
//!
//! - `GET /trains[?state=soaking&limit=20]`
//! - `POST /trains` with `{"reason": "..."}`: cut a train now, outside the schedule
//! - `GET /trains/{id}[?history_before=N&history_limit=100]`: the latest history entries,
//!   and `history_before` to page back through older ones
//! - `POST /trains/{id}/cancel|hold|resume|approve|retry|expedite|rollback` with
//!   `{"reason": "..."}`
//! - `GET /schedule`, `POST /schedule/pause|resume|skip-next` with `{"reason": "..."}`
//!
//! The actor is the authenticated caller, never a field of the body. Every answer is JSON;
//! errors are `{"error": {"code", "message"}}` with a message that says what to do. No input
//! produces a 500: a store fault is a 503 to retry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use train_core::command::{Dispatch, ScheduleCommand, TrainCommand};
use train_core::controls::{ScheduleRecord, SkipNext};
use train_core::train::{Approval, Bake, Changelog, Hold, Record};
use train_core::{
    Actor, Blocker, Build, Commit, ComponentName, Phase, Reason, RejectionKind, ScheduleControls,
    State, Train, TrainId,
};

use crate::ports::ListQuery;
use crate::service::{Applied, Cut, Engine, EngineError};

/// Larger bodies are refused before parsing.
pub const MAX_BODY: usize = 16 * 1024;

/// How many history entries a train's answer carries unless asked (the newest ones): a
/// train held and resumed a thousand times must not make every answer megabytes.
pub const HISTORY_PAGE: usize = 100;
const HISTORY_LIMIT_MAX: usize = 1000;

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path without the query string, e.g. `/trains/weekly-2026-W48/cancel`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// Who is calling, from the authenticated context (IAM principal, local user).
    pub actor: Option<Actor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

/// The body of every `POST /trains/{id}/{action}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub reason: String,
}

/// One line of `GET /trains`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    pub id: TrainId,
    pub state: State,
    pub cut_at: DateTime<Utc>,
    pub components: usize,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainList {
    pub trains: Vec<TrainSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentView {
    pub name: ComponentName,
    pub wave: u32,
    pub branch: String,
    pub pinned: Option<Commit>,
    pub excluded: Option<String>,
    /// What production ran before this train (the previous release's commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Commit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<Changelog>,
    pub staging: Option<Build>,
    pub production: Option<Build>,
}

/// `GET /trains/{id}` and the answer to every action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainView {
    pub id: TrainId,
    pub name: String,
    /// The train's zone (IANA name): every time a person reads is shown in it.
    #[serde(default)]
    pub time_zone: String,
    pub state: State,
    pub summary: String,
    pub phase: Phase,
    pub cut_at: DateTime<Utc>,
    pub soak: String,
    pub hold: Option<Hold>,
    pub promotion_due: Option<DateTime<Utc>>,
    /// Why it is not promoting now, in words and as data.
    pub blocked_by: Vec<String>,
    pub gates: Vec<Blocker>,
    /// The release captain, from the configured rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    pub components: Vec<ComponentView>,
    /// Between two production waves: the wave that shipped bakes until `bake.until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<Bake>,
    /// A page of the audit trail, oldest first, of `history_total` entries; it starts at
    /// entry `history_before` (0 when absent). The newest [`HISTORY_PAGE`] unless the
    /// request asked for others.
    pub history: Vec<Record>,
    #[serde(default)]
    pub history_total: usize,
    /// Pass as `?history_before=` for the page before this one; absent on the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_before: Option<usize>,
}

impl TrainView {
    /// The train with the newest [`HISTORY_PAGE`] history entries.
    pub fn new(train: &Train, now: DateTime<Utc>) -> Self {
        Self::with_history(train, now, None, HISTORY_PAGE)
    }

    /// The train with at most `limit` history entries ending before entry `before` (the
    /// newest ones when `before` is `None`).
    pub fn with_history(
        train: &Train,
        now: DateTime<Utc>,
        before: Option<usize>,
        limit: usize,
    ) -> Self {
        let total = train.history.len();
        let end = before.unwrap_or(total).min(total);
        let from = end.saturating_sub(limit);
        let gates = train.blockers(now);
        Self {
            id: train.id.clone(),
            name: train.name.to_string(),
            time_zone: train.policy.zone.name().to_owned(),
            state: train.state(),
            summary: summary(train, now),
            phase: train.phase.clone(),
            cut_at: train.cut_at,
            soak: train.policy.soak.to_string(),
            hold: train.hold.clone(),
            promotion_due: train.promotion_due,
            blocked_by: gates
                .iter()
                .map(|g| g.describe(train.policy.zone))
                .collect(),
            gates,
            captain: train.captain.clone(),
            approvals: train.approvals.clone(),
            components: train
                .components
                .iter()
                .map(|(name, run)| ComponentView {
                    name: name.clone(),
                    wave: run.spec.wave,
                    branch: run.spec.branch.clone(),
                    pinned: run.pinned.clone(),
                    excluded: run.excluded.clone(),
                    previous: run.previous.clone(),
                    changelog: run.changelog.clone(),
                    staging: run.staging.clone(),
                    production: run.production.clone(),
                })
                .collect(),
            bake: train.bake.clone(),
            history: train.history[from..end].to_vec(),
            history_total: total,
            history_before: (from > 0).then_some(from),
        }
    }
}

/// One sentence on what the train is doing and why.
pub fn summary(train: &Train, now: DateTime<Utc>) -> String {
    let doing = phase_summary(train, now);
    match &train.hold {
        Some(h) if !train.is_terminal() => format!(
            "held by {} since {}: {}; {doing}",
            h.by,
            train.local(h.at),
            h.reason
        ),
        _ => doing,
    }
}

/// What the train waits for, in words, if anything.
fn gates(train: &Train, now: DateTime<Utc>) -> Option<String> {
    let gates: Vec<String> = train
        .blockers(now)
        .iter()
        .map(|g| g.describe(train.policy.zone))
        .collect();
    (!gates.is_empty()).then(|| gates.join("; "))
}

fn phase_summary(train: &Train, now: DateTime<Utc>) -> String {
    let fmt = |t: &DateTime<Utc>| train.local(*t);
    let total = train.components.len();
    match &train.phase {
        Phase::Building => {
            let green = train
                .components
                .values()
                .filter(|r| {
                    r.staging
                        .as_ref()
                        .is_some_and(|b| b.status == train_core::BuildStatus::Succeeded)
                })
                .count();
            format!("staging builds: {green} of {total} green")
        }
        Phase::Soaking { until, .. } if now < *until => format!("soaking until {}", fmt(until)),
        Phase::Soaking { .. } => match gates(train, now) {
            None => "soak complete; promoting on the next pass".to_owned(),
            Some(gates) => format!("soak complete; {gates}"),
        },
        Phase::Promoting { wave, .. } if train.bake.is_some() => gates(train, now)
            .unwrap_or_else(|| format!("wave {wave} baked; next wave on the next pass")),
        Phase::Promoting { wave, .. } => format!("promoting wave {wave}"),
        Phase::Released { at } => format!("released at {}", fmt(at)),
        Phase::Cancelled { by, reason, at } => {
            format!("cancelled by {by} at {}: {reason}", fmt(at))
        }
        Phase::Failed { reason, .. } => format!("failed: {reason}"),
        Phase::Skipped { reason } => format!("skipped: {reason}"),
        Phase::RollingBack { to, .. } => format!("rolling back to the commits of {to}"),
        Phase::RolledBack { at, to } => format!("rolled back to {to} at {}", fmt(at)),
    }
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    Response {
        status,
        body: json!({ "error": { "code": code, "message": message.into() } }),
    }
}

fn ok<T: Serialize>(value: &T) -> Response {
    match serde_json::to_value(value) {
        Ok(body) => Response { status: 200, body },
        Err(e) => error(
            503,
            "unavailable",
            format!("could not encode the answer ({e}); try again"),
        ),
    }
}

fn engine_error(e: &EngineError) -> Response {
    let hint = if e.is_retryable() {
        "try again in a few seconds"
    } else {
        "the train's store needs attention; check the service logs"
    };
    error(503, "unavailable", format!("{e}; {hint}"))
}

/// Answers one request. Never panics and never answers 500.
pub async fn handle(engine: &Engine, req: Request<'_>, now: DateTime<Utc>) -> Response {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method, segments.as_slice()) {
        ("GET", ["trains"]) => list(engine, req.query, now).await,
        ("POST", ["trains"]) => cut_now(engine, &req, now).await,
        ("GET", ["trains", id]) => show(engine, id, req.query, now).await,
        ("POST", ["trains", id, action]) => act(engine, id, action, &req, now).await,
        ("GET", ["schedule"]) => schedule(engine, now).await,
        ("POST", ["schedule", command]) => command_schedule(engine, command, &req, now).await,
        (_, ["trains"]) => error(
            405,
            "method_not_allowed",
            "use GET /trains to list trains (trainctl status), POST /trains with {\"reason\": \"...\"} to cut one now (trainctl cut -r REASON)",
        ),
        (_, ["trains", _]) => error(
            405,
            "method_not_allowed",
            "use GET here (trainctl status ID); actions are POST /trains/{id}/cancel, /hold or /resume (trainctl cancel ID -r REASON, and so on)",
        ),
        (_, ["trains", _, _]) => error(
            405,
            "method_not_allowed",
            "actions are POST requests with a JSON body {\"reason\": \"...\"}",
        ),
        _ => error(
            404,
            "not_found",
            format!(
                "no route {} {}; see GET /trains (trainctl status)",
                req.method, req.path
            ),
        ),
    }
}

fn parse_id(raw: &str) -> Result<TrainId, Response> {
    TrainId::parse(raw).map_err(|e| error(400, "bad_train_id", e.to_string()))
}

async fn list(engine: &Engine, query: Option<&str>, now: DateTime<Utc>) -> Response {
    let mut q = ListQuery {
        name: None,
        state: None,
        limit: 20,
    };
    for (key, value) in query_pairs(query) {
        match key {
            "state" => {
                let Some(state) = State::parse(value) else {
                    let all: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                    let message = format!("unknown state {value:?}; use one of {}", all.join(", "));
                    return error(400, "bad_query", message);
                };
                q.state = Some(state);
            }
            "limit" => match number_in(key, value, 1..=200) {
                Ok(n) => q.limit = n,
                Err(r) => return r,
            },
            other => {
                return error(
                    400,
                    "bad_query",
                    format!("unknown query parameter {other:?}; use state and limit"),
                );
            }
        }
    }
    match engine.list(&q).await {
        Ok(trains) => ok(&TrainList {
            trains: trains
                .iter()
                .map(|t| TrainSummary {
                    id: t.id.clone(),
                    state: t.state(),
                    cut_at: t.cut_at,
                    components: t.components.len(),
                    summary: summary(t, now),
                })
                .collect(),
        }),
        Err(e) => engine_error(&e),
    }
}

/// The `key=value` pairs of a query string (a key without `=` has an empty value).
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// A query parameter that must be a whole number in `range`, or the 400 that says so.
fn number_in(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, Response> {
    match value.parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(error(
            400,
            "bad_query",
            format!(
                "{name} {value:?} must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `history_before` and `history_limit` of `GET /trains/{id}`.
fn history_query(query: Option<&str>) -> Result<(Option<usize>, usize), Response> {
    let mut before = None;
    let mut limit = HISTORY_PAGE;
    for (key, value) in query_pairs(query) {
        match key {
            "history_before" => match value.parse::<usize>() {
                Ok(n) => before = Some(n),
                Err(_) => {
                    return Err(error(
                        400,
                        "bad_query",
                        format!(
                            "history_before {value:?} must be a whole number: the history_before of the page you have"
                        ),
                    ));
                }
            },
            "history_limit" => limit = number_in(key, value, 1..=HISTORY_LIMIT_MAX)?,
            other => {
                return Err(error(
                    400,
                    "bad_query",
                    format!(
                        "unknown query parameter {other:?}; use history_before and history_limit"
                    ),
                ));
            }
        }
    }
    Ok((before, limit))
}

async fn show(engine: &Engine, id: &str, query: Option<&str>, now: DateTime<Utc>) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (before, limit) = match history_query(query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    match engine.train(&id).await {
        Ok(Some(t)) => ok(&TrainView::with_history(&t, now, before, limit)),
        Ok(None) => not_found(&id),
        Err(e) => engine_error(&e),
    }
}

/// `POST /trains`: a train cut now by the caller, outside the schedule.
async fn cut_now(engine: &Engine, req: &Request<'_>, now: DateTime<Utc>) -> Response {
    let (actor, reason) = match command_input(req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match engine.cut_adhoc(&actor, &reason, now).await {
        Ok(Cut::Created(train)) => {
            let mut created = ok(&TrainView::new(&train, now));
            if created.status == 200 {
                created.status = 201;
            }
            created
        }
        Ok(Cut::AlreadyCut(train)) => error(
            409,
            "already_cut",
            format!(
                "train {} was cut this very second; wait a second and cut again, or act on that one",
                train.id
            ),
        ),
        Err(e) => engine_error(&e),
    }
}

fn not_found(id: &TrainId) -> Response {
    error(
        404,
        "train_not_found",
        format!("there is no train {id}; GET /trains lists them (trainctl status)"),
    )
}

async fn act(
    engine: &Engine,
    id: &str,
    action: &str,
    req: &Request<'_>,
    now: DateTime<Utc>,
) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(command) = TrainCommand::parse(action) else {
        return error(
            404,
            "unknown_action",
            format!(
                "unknown action {action:?}; use one of {}",
                TrainCommand::names()
            ),
        );
    };
    let (actor, reason) = match command_input(req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let applied = match command.dispatch(actor, reason) {
        Dispatch::Event(event) => engine.apply(&id, &event, now).await,
        Dispatch::Rollback { by, reason } => engine.rollback(&id, by, reason, now).await,
    };
    match applied {
        Ok(Applied::Done(train)) => ok(&TrainView::new(&train, now)),
        Ok(Applied::NotFound) => not_found(&id),
        Ok(Applied::Rejected(r)) => {
            let (status, code) = match r.kind {
                RejectionKind::NotNow => (409, "not_applicable"),
                RejectionKind::Unknown => (409, "unknown"),
                RejectionKind::Forbidden => (403, "not_an_approver"),
            };
            error(status, code, r.message)
        }
        Err(e) => engine_error(&e),
    }
}

/// The authenticated caller and the reason of a command, or the 4xx that says what is wrong.
fn command_input(req: &Request<'_>) -> Result<(Actor, Reason), Response> {
    let Some(actor) = req.actor.clone() else {
        return Err(error(
            401,
            "unauthenticated",
            "this action needs an authenticated caller",
        ));
    };
    if req.body.len() > MAX_BODY {
        return Err(error(
            413,
            "body_too_large",
            format!(
                "the body is {} bytes; send at most {MAX_BODY}",
                req.body.len()
            ),
        ));
    }
    let body: ActionRequest = match serde_json::from_slice(req.body) {
        Ok(b) => b,
        Err(e) => {
            let msg = e.to_string();
            let hint = if msg.contains("unknown field") {
                format!(
                    "{msg}; send only {{\"reason\": \"...\"}} (the actor is the authenticated caller)"
                )
            } else {
                format!(
                    "the body must be JSON like {{\"reason\": \"checkout errors in staging\"}} ({msg})"
                )
            };
            return Err(error(400, "bad_request", hint));
        }
    };
    let reason = match Reason::parse(&body.reason) {
        Ok(r) => r,
        Err(e) => return Err(error(400, "bad_reason", e.to_string())),
    };
    Ok((actor, reason))
}

/// `GET /schedule` and the answer to every schedule command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub paused: Option<Hold>,
    pub skip: Option<SkipNext>,
    /// The next cut and promote firings (a paused schedule skips them).
    pub next_cut: Option<DateTime<Utc>>,
    pub next_promote: Option<DateTime<Utc>>,
    /// The train's zone (IANA name), for showing the firings.
    #[serde(default)]
    pub time_zone: String,
    pub history: Vec<ScheduleRecord>,
}

impl ScheduleView {
    pub fn new(engine: &Engine, controls: ScheduleControls, now: DateTime<Utc>) -> Self {
        let train = &engine.config().train;
        Self {
            paused: controls.paused,
            skip: controls.skip.filter(|s| s.firing >= now),
            next_cut: train.cut.next_after(now),
            next_promote: train.promote.next_after(now),
            time_zone: train.zone.name().to_owned(),
            history: controls.history,
        }
    }
}

async fn schedule(engine: &Engine, now: DateTime<Utc>) -> Response {
    match engine.schedule_controls().await {
        Ok(c) => ok(&ScheduleView::new(engine, c, now)),
        Err(e) => engine_error(&e),
    }
}

async fn command_schedule(
    engine: &Engine,
    command: &str,
    req: &Request<'_>,
    now: DateTime<Utc>,
) -> Response {
    let Some(command) = ScheduleCommand::parse(command) else {
        return error(
            404,
            "unknown_action",
            format!(
                "unknown schedule command {command:?}; use {}",
                ScheduleCommand::names()
            ),
        );
    };
    let (actor, reason) = match command_input(req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match engine.command_schedule(command, &actor, &reason, now).await {
        Ok(Ok(c)) => ok(&ScheduleView::new(engine, c, now)),
        Ok(Err(r)) => error(409, "not_applicable", r.message),
        Err(e) => engine_error(&e),
    }
}
