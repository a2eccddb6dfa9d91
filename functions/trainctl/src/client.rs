//! The client side: `status`, `history` and the actions against a running train's API.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use train_engine::api::{TrainList, TrainView};

use crate::render;
use crate::sigv4::Signer;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The train's API: `trainctl serve`'s address, or the deployed stack's `ApiUrl`.
    #[arg(long, env = "TRAINCTL_API", default_value = "http://127.0.0.1:7878")]
    pub api: String,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    /// Sign requests with SigV4 from the standard AWS credential chain (always on for
    /// https URLs: the deployed API requires it).
    #[arg(long, env = "TRAINCTL_SIGV4")]
    pub sigv4: bool,
    /// The deployed API's region, when the credential chain has none.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

impl ApiArgs {
    fn signer(&self) -> Result<Option<Signer>, String> {
        if self.sigv4 || self.api.starts_with("https://") {
            Signer::from_environment(self.region.as_deref()).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The train, e.g. weekly-2026-W48.
    pub id: String,
    /// Why (1 to 500 characters); kept in the audit trail.
    #[arg(long, short)]
    pub reason: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn call(
    api: &ApiArgs,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let content_type = body.map(|_| "application/json");
    let signed = match api.signer()? {
        Some(signer) => signer.headers(
            method,
            url,
            content_type,
            &bytes,
            std::time::SystemTime::now(),
        )?,
        None => Vec::new(),
    };
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    // The client sets `host` itself, from the same URL the signature covers.
    for (k, v) in signed.iter().filter(|(k, _)| k != "host") {
        request = request.header(k.as_str(), v.as_str());
    }
    let request = request
        .body(&bytes[..])
        .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
    let res = agent.run(request);
    let mut res =
        res.map_err(|e| format!("cannot reach {url}: {e} (is `trainctl serve` running?)"))?;
    let status = res.status().as_u16();
    let value: Value = res
        .body_mut()
        .read_json()
        .map_err(|e| format!("{url} answered {status} without JSON: {e}"))?;
    Ok((status, value))
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn fail(status: u16, body: &Value) -> ExitCode {
    let msg = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("unexpected answer");
    eprintln!("error ({status}): {msg}");
    ExitCode::FAILURE
}

pub fn status(api: &ApiArgs, id: Option<&str>) -> ExitCode {
    let url = match id {
        Some(id) => format!("{}/trains/{id}", api.api.trim_end_matches('/')),
        None => format!("{}/trains", api.api.trim_end_matches('/')),
    };
    match call(api, "GET", &url, None) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok((200, body)) if api.json => {
            print_json(&body);
            ExitCode::SUCCESS
        }
        Ok((200, body)) => {
            if id.is_some() {
                match serde_json::from_value::<TrainView>(body) {
                    Ok(v) => print!("{}", render::train(&v, chrono_tz::UTC)),
                    Err(e) => eprintln!("unexpected answer: {e}"),
                }
            } else if let Ok(list) = serde_json::from_value::<TrainList>(body) {
                println!(
                    "{:<28} {:<10} {:<17} SUMMARY",
                    "TRAIN", "STATE", "CUT (UTC)"
                );
                for t in list.trains {
                    println!(
                        "{:<28} {:<10} {:<17} {}",
                        t.id.as_str(),
                        t.state.as_str(),
                        t.cut_at.format("%Y-%m-%d %H:%M"),
                        t.summary
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => fail(status, &body),
    }
}

pub fn act(action: &str, args: &ActionArgs) -> ExitCode {
    let url = format!(
        "{}/trains/{}/{action}",
        args.api.api.trim_end_matches('/'),
        args.id
    );
    match call(
        &args.api,
        "POST",
        &url,
        Some(&json!({ "reason": args.reason })),
    ) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok((200, body)) => {
            if args.api.json {
                print_json(&body);
            } else {
                let state = body.get("state").and_then(Value::as_str).unwrap_or("?");
                let summary = body.get("summary").and_then(Value::as_str).unwrap_or("");
                println!("{}: {state}: {summary}", args.id);
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => fail(status, &body),
    }
}

pub fn history(api: &ApiArgs, id: &str) -> ExitCode {
    let url = format!("{}/trains/{id}", api.api.trim_end_matches('/'));
    match call(api, "GET", &url, None) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok((200, body)) if api.json => {
            let history = body.get("history").cloned().unwrap_or(Value::Null);
            print_json(&history);
            ExitCode::SUCCESS
        }
        Ok((200, body)) => match serde_json::from_value::<TrainView>(body) {
            Ok(v) => {
                println!(
                    "{:<17} {:<28} {:<24} {:<22} REASON",
                    "AT (UTC)", "ACTOR", "ACTION", "FROM -> TO"
                );
                for r in &v.history {
                    println!(
                        "{:<17} {:<28} {:<24} {:<22} {}",
                        r.at.format("%Y-%m-%d %H:%M"),
                        r.actor.as_str(),
                        r.action,
                        format!("{} -> {}", r.from, r.to),
                        r.reason.as_deref().unwrap_or("")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("unexpected answer: {e}");
                ExitCode::FAILURE
            }
        },
        Ok((status, body)) => fail(status, &body),
    }
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Stop cutting and promoting until resumed (each skipped cut is recorded).
    Pause {
        #[arg(long, short)]
        reason: String,
    },
    /// Let the schedule fire again.
    Resume {
        #[arg(long, short)]
        reason: String,
    },
    /// Skip the next cut only.
    SkipNext {
        #[arg(long, short)]
        reason: String,
    },
}

pub fn schedule(api: &ApiArgs, command: Option<&ScheduleCmd>) -> ExitCode {
    let base = api.api.trim_end_matches('/');
    let result = match command {
        None => call(api, "GET", &format!("{base}/schedule"), None),
        Some(cmd) => {
            let (path, reason) = match cmd {
                ScheduleCmd::Pause { reason } => ("pause", reason),
                ScheduleCmd::Resume { reason } => ("resume", reason),
                ScheduleCmd::SkipNext { reason } => ("skip-next", reason),
            };
            call(
                api,
                "POST",
                &format!("{base}/schedule/{path}"),
                Some(&json!({ "reason": reason })),
            )
        }
    };
    match result {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok((200, body)) if api.json => {
            print_json(&body);
            ExitCode::SUCCESS
        }
        Ok((200, body)) => {
            let when = |v: &Value| v.as_str().unwrap_or("never").to_owned();
            match body.get("paused").filter(|p| !p.is_null()) {
                Some(p) => println!(
                    "schedule: PAUSED by {} since {}: {}",
                    when(&p["by"]),
                    when(&p["at"]),
                    when(&p["reason"])
                ),
                None => println!("schedule: running"),
            }
            if let Some(s) = body.get("skip").filter(|s| !s.is_null()) {
                println!(
                    "skipping the cut at {} (by {}: {})",
                    when(&s["firing"]),
                    when(&s["by"]),
                    when(&s["reason"])
                );
            }
            println!("next cut:     {}", when(&body["next_cut"]));
            println!("next promote: {}", when(&body["next_promote"]));
            ExitCode::SUCCESS
        }
        Ok((status, body)) => fail(status, &body),
    }
}
