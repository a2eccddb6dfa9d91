//! The client side: `status`, `history` and the actions against a running train's API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use train_core::text::{one_line, printable};
use train_core::{ScheduleCommand, TrainCommand};
use train_engine::api::{TrainList, TrainView};

use crate::render;
use crate::sigv4::Signer;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The deployed stack's `ApiUrl` (https, signed with SigV4), `trainctl serve`'s TCP
    /// address for reads, or `unix:PATH` for a socket. Default: the socket of the local
    /// `serve` in `--data`, where the operating system tells it who you are.
    #[arg(long, env = "TRAINCTL_API")]
    pub api: Option<String>,
    /// The data directory of the local `trainctl serve` to talk to (its `serve.sock`).
    #[arg(long, env = "TRAINCTL_DATA", default_value = ".release-train")]
    pub data: PathBuf,
    /// Print the API's JSON answer (errors too, on stdout, with the exit status).
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

/// Where requests go.
enum Target {
    Http(String),
    Socket(PathBuf),
}

impl ApiArgs {
    fn target(&self) -> Target {
        match self.api.as_deref() {
            Some(api) => match api.strip_prefix("unix:") {
                Some(path) => Target::Socket(PathBuf::from(path)),
                None => Target::Http(api.trim_end_matches('/').to_owned()),
            },
            None => Target::Socket(self.data.join(crate::serve::SOCKET)),
        }
    }

    fn signer(&self, url: &str) -> Result<Option<Signer>, String> {
        if self.sigv4 || url.starts_with("https://") {
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
    /// Why (1 to 500 characters, one line); kept in the audit trail.
    #[arg(long, short)]
    pub reason: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// One request to the API; `path` includes the query. Answers the status and the JSON body.
fn call(
    api: &ApiArgs,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (status, raw, from) = match api.target() {
        Target::Http(base) => {
            let url = format!("{base}{path}");
            let (status, raw) = http_call(api, method, &url, body.is_some(), &bytes)?;
            (status, raw, url)
        }
        Target::Socket(socket) => {
            let (status, raw) = socket_call(&socket, method, path, body.is_some(), &bytes)?;
            (status, raw, format!("{}{path}", socket.display()))
        }
    };
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|e| format!("{from} answered {status} without JSON: {e}"))?;
    Ok((status, value))
}

fn http_call(
    api: &ApiArgs,
    method: &str,
    url: &str,
    json_body: bool,
    bytes: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .into();
    let content_type = json_body.then_some("application/json");
    let signed = match api.signer(url)? {
        Some(signer) => signer.headers(
            method,
            url,
            content_type,
            bytes,
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
        .body(bytes)
        .map_err(|e| format!("cannot build the request to {url}: {e}"))?;
    let mut res = agent
        .run(request)
        .map_err(|e| format!("cannot reach {url}: {e} (is `trainctl serve` running?)"))?;
    let status = res.status().as_u16();
    let raw = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("{url} answered {status}, but the body could not be read: {e}"))?;
    Ok((status, raw))
}

/// How long a call may take, answer included: a stalled server is an error, not a hang.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// HTTP/1.1 over the local `serve`'s Unix socket: the kernel tells `serve` which account
/// this process runs as, and that is who the audit trail names.
fn socket_call(
    socket: &Path,
    method: &str,
    path: &str,
    json_body: bool,
    bytes: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    use hyper_util::rt::TokioIo;

    let shown = socket.display();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
            match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
                    "no trainctl serve is listening at {shown}: start `trainctl serve --data DIR`, pass the same --data DIR here (or TRAINCTL_DATA), or --api URL for a deployed train"
                ),
                std::io::ErrorKind::PermissionDenied => format!(
                    "{shown}: permission denied: that serve belongs to another user; they can share it with your group (`trainctl serve --share-with GROUP`)"
                ),
                _ => format!("cannot connect to {shown}: {e}"),
            }
        })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{shown}: {e}"))?;
        let driving = tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost");
        if json_body {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(bytes)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let res = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{shown}: {e}"))?;
        let status = res.status().as_u16();
        let raw = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{shown} answered {status}, but the body could not be read: {e}"))?
            .to_bytes();
        driving.abort();
        Ok((status, raw.to_vec()))
    };
    runtime.block_on(async {
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "{shown} did not answer within {}s; is serve stuck? (its log says)",
                    CALL_TIMEOUT.as_secs()
                ))
            })
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn fail(api: &ApiArgs, status: u16, body: &Value) -> ExitCode {
    if api.json {
        print_json(body);
    }
    let msg = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("unexpected answer");
    eprintln!("error ({status}): {}", printable(msg));
    ExitCode::FAILURE
}

/// The end of every command: a call that failed, or any answer but 2xx, says why and exits
/// 1 (with `--json`, the answer is printed too); a 2xx answer is printed as JSON with
/// `--json`, else by `show`.
fn answer(
    api: &ApiArgs,
    result: Result<(u16, Value), String>,
    show: impl FnOnce(Value),
) -> ExitCode {
    match result {
        Err(e) => {
            // Scripts get an object to parse whatever happened.
            if api.json {
                print_json(&json!({ "error": { "code": "unreachable", "message": e } }));
            }
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok((200..=299, body)) => {
            if api.json {
                print_json(&body);
            } else {
                show(body);
            }
            ExitCode::SUCCESS
        }
        Ok((status, body)) => fail(api, status, &body),
    }
}

pub fn status(api: &ApiArgs, id: Option<&str>) -> ExitCode {
    let path = match id {
        Some(id) => format!("/trains/{id}"),
        None => "/trains".to_owned(),
    };
    answer(api, call(api, "GET", &path, None), |body| {
        if id.is_some() {
            match serde_json::from_value::<TrainView>(body) {
                Ok(v) => print!("{}", render::train(&v, chrono::Utc::now())),
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
                    one_line(&t.summary)
                );
            }
        }
    })
}

/// Prints an action's answer: the train's id, state and summary.
fn print_train_answer(id: &str, body: &Value) {
    let state = body.get("state").and_then(Value::as_str).unwrap_or("?");
    let summary = body.get("summary").and_then(Value::as_str).unwrap_or("");
    // What the server sends is escaped like everything else from outside.
    println!(
        "{}: {}: {}",
        printable(id),
        printable(state),
        one_line(summary)
    );
}

pub fn act(command: TrainCommand, args: &ActionArgs) -> ExitCode {
    let path = format!("/trains/{}/{}", args.id, command.as_str());
    let result = call(
        &args.api,
        "POST",
        &path,
        Some(&json!({ "reason": args.reason })),
    );
    answer(&args.api, result, |body| {
        print_train_answer(&args.id, &body);
    })
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogStage {
    Staging,
    Production,
}

/// The component's build of `stage` as the API answers it now.
fn build_of(
    api: &ApiArgs,
    id: &str,
    component: &str,
    stage: LogStage,
) -> Result<Option<train_core::Build>, ExitCode> {
    let view: TrainView = match call(api, "GET", &format!("/trains/{id}?history_limit=1"), None) {
        Err(e) => {
            eprintln!("{e}");
            return Err(ExitCode::FAILURE);
        }
        Ok((200, body)) => serde_json::from_value(body).map_err(|e| {
            eprintln!("unexpected answer: {e}");
            ExitCode::FAILURE
        })?,
        Ok((status, body)) => return Err(fail(api, status, &body)),
    };
    let Some(c) = view
        .components
        .into_iter()
        .find(|c| c.name.as_str() == component)
    else {
        eprintln!("train {id} has no component {component:?}; `trainctl status {id}` lists them");
        return Err(ExitCode::from(crate::EXIT_CONFIG));
    };
    Ok(match stage {
        LogStage::Staging => c.staging,
        LogStage::Production => c.production,
    })
}

/// A build's output, line by line, with anything a terminal would act on escaped (what a
/// buildspec prints is not ours to trust).
fn print_log(text: &str) {
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => println!("{}", printable(l)),
            None => print!("{}", printable(line)),
        }
    }
}

/// `trainctl logs ID COMPONENT`: the build's log file (local mode), or its link (AWS).
pub fn logs(api: &ApiArgs, id: &str, component: &str, stage: LogStage, follow: bool) -> ExitCode {
    let build = match build_of(api, id, component, stage) {
        Ok(Some(b)) => b,
        Ok(None) => {
            eprintln!(
                "{component} has no {} build in {id} yet",
                format!("{stage:?}").to_lowercase()
            );
            return ExitCode::FAILURE;
        }
        Err(code) => return code,
    };
    let Some(link) = build.link.clone() else {
        eprintln!("the build has no log yet ({})", build.status.as_str());
        return ExitCode::FAILURE;
    };
    if link.starts_with("https://") {
        // On AWS the log is in CloudWatch Logs; the link opens it.
        println!("{}", printable(&link));
        return ExitCode::SUCCESS;
    }
    let mut printed = 0;
    loop {
        match std::fs::read(&link) {
            Ok(bytes) if bytes.len() > printed => {
                print_log(&String::from_utf8_lossy(&bytes[printed..]));
                printed = bytes.len();
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("cannot read {link}: {e}");
                return ExitCode::FAILURE;
            }
        }
        if !follow {
            return ExitCode::SUCCESS;
        }
        match build_of(api, id, component, stage) {
            Ok(Some(b)) if b.status.is_finished() && b.link.as_deref() == Some(link.as_str()) => {
                // One last read: what the build wrote before it ended.
                if let Ok(bytes) = std::fs::read(&link)
                    && bytes.len() > printed
                {
                    print_log(&String::from_utf8_lossy(&bytes[printed..]));
                }
                return ExitCode::SUCCESS;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(500)),
            Err(code) => return code,
        }
    }
}

/// `trainctl cut -r REASON`: a train cut now, outside the schedule.
pub fn cut(reason: &str, api: &ApiArgs) -> ExitCode {
    let result = call(api, "POST", "/trains", Some(&json!({ "reason": reason })));
    answer(api, result, |body| {
        let id = body.get("id").and_then(Value::as_str).unwrap_or("?");
        print_train_answer(id, &body);
    })
}

/// Every page of a train's history, oldest first (the API answers the newest page and
/// `history_before` for the one before it), and the train's zone.
fn all_history(api: &ApiArgs, id: &str) -> Result<(Vec<Value>, chrono_tz::Tz), ExitCode> {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut zone = chrono_tz::UTC;
    let mut before: Option<u64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/trains/{id}?history_limit=1000&history_before={b}"),
            None => format!("/trains/{id}?history_limit=1000"),
        };
        match call(api, "GET", &path, None) {
            Err(e) => {
                eprintln!("{e}");
                return Err(ExitCode::FAILURE);
            }
            Ok((200, body)) => {
                if let Some(z) = body.get("time_zone").and_then(Value::as_str) {
                    zone = z.parse().unwrap_or(chrono_tz::UTC);
                }
                let page = body
                    .get("history")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                pages.push(page);
                match body.get("history_before").and_then(Value::as_u64) {
                    Some(b) if before.is_none_or(|prev| b < prev) => before = Some(b),
                    _ => break,
                }
            }
            Ok((status, body)) => return Err(fail(api, status, &body)),
        }
    }
    Ok((pages.into_iter().rev().flatten().collect(), zone))
}

pub fn history(api: &ApiArgs, id: &str) -> ExitCode {
    let (history, zone) = match all_history(api, id) {
        Ok(h) => h,
        Err(code) => return code,
    };
    if api.json {
        print_json(&Value::Array(history));
        return ExitCode::SUCCESS;
    }
    let records: Vec<train_core::train::Record> = match history
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("unexpected answer: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Columns as wide as their widest cell, so nothing overflows into the next.
    let rows: Vec<[String; 5]> = records
        .iter()
        .map(|r| {
            [
                render::local(r.at, zone),
                printable(r.actor.as_str()).into_owned(),
                one_line(&r.action).into_owned(),
                if r.from == r.to {
                    r.to.to_string()
                } else {
                    format!("{} -> {}", r.from, r.to)
                },
                one_line(r.reason.as_deref().unwrap_or("")).into_owned(),
            ]
        })
        .collect();
    let header = ["AT", "ACTOR", "ACTION", "STATE", "REASON"].map(str::to_owned);
    let width = |i: usize| {
        std::iter::once(&header)
            .chain(&rows)
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3)];
    for row in std::iter::once(&header).chain(&rows) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
    ExitCode::SUCCESS
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

impl ScheduleCmd {
    /// The schedule command and its reason: every subcommand is one [`ScheduleCommand`].
    pub fn command(&self) -> (ScheduleCommand, &str) {
        match self {
            Self::Pause { reason } => (ScheduleCommand::Pause, reason),
            Self::Resume { reason } => (ScheduleCommand::Resume, reason),
            Self::SkipNext { reason } => (ScheduleCommand::SkipNext, reason),
        }
    }
}

pub fn schedule(api: &ApiArgs, command: Option<&ScheduleCmd>) -> ExitCode {
    let result = match command {
        None => call(api, "GET", "/schedule", None),
        Some(cmd) => {
            let (command, reason) = cmd.command();
            let path = command.as_str();
            call(
                api,
                "POST",
                &format!("/schedule/{path}"),
                Some(&json!({ "reason": reason })),
            )
        }
    };
    answer(api, result, |body| {
        let zone: chrono_tz::Tz = body
            .get("time_zone")
            .and_then(Value::as_str)
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        // Times in the train's zone, like every other screen; anything else as it came.
        let when = |v: &Value| match v.as_str() {
            None => "never".to_owned(),
            Some(s) => chrono::DateTime::parse_from_rfc3339(s).map_or_else(
                |_| printable(s).into_owned(),
                |t| render::local(t.with_timezone(&chrono::Utc), zone),
            ),
        };
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
    })
}
