//! `trainctl serve`: the scheduler loop and the API, in one process.
//!
//! Who may act, and how we know (README, "Who can act in local mode"):
//!
//! - Every change (each `POST`) is served only on the Unix-domain socket `DATA/serve.sock`.
//!   The kernel reports the uid of the process on the other end (`SO_PEERCRED`), and that
//!   account is the actor, `local:NAME`: never a name the client sends. A browser cannot
//!   open a Unix socket, so no web page the user has open can act on a train.
//! - The TCP listener on loopback serves only the status page and the read routes, and
//!   only to requests whose `Host` is its own address or `localhost` (a DNS-rebinding page
//!   sends its own name), never to a cross-site fetch, and only with this run's token
//!   (`DATA/serve.token`, or the cookie the printed `/?token=` address sets): other
//!   accounts on the machine reach loopback too.
//! - `DATA/` is private to the user who runs `serve` (0700, files 0600): build logs may
//!   hold secrets. `--share-with GROUP` makes it 0750 and the socket 0660 of GROUP, so each
//!   member of that group acts under their own name, and nobody else can.
//!
//! The server is bounded: request headers must arrive within [`HEADER_TIMEOUT`], a body
//! within [`BODY_TIMEOUT`], a connection serves one request and lives at most
//! [`CONNECTION_DEADLINE`], at most [`TCP_CONNECTIONS`] TCP connections at once, and after
//! SIGTERM in-flight requests get [`SHUTDOWN_DEADLINE`] before the process exits
//! (releasing the data directory's lock, so a restart is never blocked by a half-sent
//! request).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use nix::unistd::{Gid, Group};
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tracing::warn;

use train_core::Actor;
use train_core::text::printable;
use train_engine::api;
use train_local::{Clock, LocalMode, Runner, SystemClock};

use crate::timeline::Timeline;

use crate::local::{actor_for_uid, load_config};

/// A request's headers must arrive within this long (a slow or half-sent request
/// holds nothing for longer).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request's body must arrive within this long.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// After SIGTERM, requests in flight get this long; with the runtime's own second for
/// stuck blocking calls, the process is gone within 3 s.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// No connection is served longer than this, however slowly its client reads.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// TCP connections served at once (the status page and reads); the socket is not counted.
pub const TCP_CONNECTIONS: usize = 64;
/// The socket's name in the data directory; `trainctl` connects to it by default.
pub const SOCKET: &str = "serve.sock";
/// Unix socket paths are at most this many bytes (`sun_path` is 108, with the NUL).
const SOCKET_PATH_MAX: usize = 107;

#[derive(Debug)]
pub struct Options {
    pub config: PathBuf,
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub share_with: Option<String>,
}

#[derive(Clone)]
struct App {
    runner: Runner,
    /// The TCP listener's address: the only `Host` it answers to.
    addr: SocketAddr,
    /// What a TCP reader must present (cookie, `Authorization: Bearer`, or `?token=` on the
    /// page): other accounts on this machine can reach 127.0.0.1 too, and a build's
    /// failure summary may quote its log.
    token: Arc<str>,
}

/// How a request arrived.
#[derive(Clone)]
enum Via {
    /// Over the Unix socket, from the OS account the kernel reported.
    Socket(Actor),
    /// Over TCP: reads only, and only from this machine's own pages.
    Tcp,
}

pub fn run(opts: &Options) -> ExitCode {
    // Before anything is created: the data directory, the store, build logs and the
    // socket are the user's own (0700 directories, 0600 files).
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let config_path = match std::path::absolute(&opts.config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("trainctl serve: {}: {e}", opts.config.display());
            return ExitCode::from(crate::EXIT_CONFIG);
        }
    };
    let (config, config_dir) = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let group = match opts.share_with.as_deref().map(Group::from_name) {
        None => None,
        Some(Ok(Some(g))) => Some(g),
        Some(Ok(None)) => {
            eprintln!(
                "trainctl serve: --share-with: there is no group {:?}; create it (groupadd) or name an existing one",
                opts.share_with.as_deref().unwrap_or_default()
            );
            return ExitCode::from(crate::EXIT_CONFIG);
        }
        Some(Err(e)) => {
            eprintln!("trainctl serve: --share-with: cannot read the group database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data = match private_data_dir(&opts.data, group.as_ref().map(|g| g.gid)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("trainctl serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = match LocalMode::open(config, &config_dir, &data) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trainctl serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trainctl serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(
        &local,
        &data,
        opts.listen,
        group.map(|g| (g.name, g.gid)),
    ));
    // A store call stuck in a blocking thread must not keep the process (and the lock).
    runtime.shutdown_timeout(Duration::from_secs(1));
    // The lock goes last: until here a task of this process might still touch the data.
    drop(local);
    code
}

/// Creates `dir` if needed and makes it the caller's own: 0700, or 0750 of `group`.
/// Returns it as an absolute path, so nothing later depends on the working directory.
fn private_data_dir(dir: &Path, group: Option<Gid>) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = nix::unistd::geteuid();
    if std::os::unix::fs::MetadataExt::uid(&meta) != me.as_raw() {
        return Err(format!(
            "{} belongs to another user; each person serves their own --data directory (or shares theirs with --share-with GROUP)",
            dir.display()
        ));
    }
    let mode = if let Some(gid) = group {
        std::os::unix::fs::chown(&dir, None, Some(gid.as_raw()))
            .map_err(|e| format!("cannot give {} to the group: {e}", dir.display()))?;
        0o750
    } else {
        0o700
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
    Ok(dir)
}

async fn serve(
    local: &LocalMode,
    data: &Path,
    listen: SocketAddr,
    group: Option<(String, Gid)>,
) -> ExitCode {
    if !listen.ip().is_loopback() {
        eprintln!(
            "trainctl serve: the TCP listener serves this machine's browser only; use 127.0.0.1 (commands go through {SOCKET})"
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
    let socket_path = data.join(SOCKET);
    let unix = match bind_socket(&socket_path, group.as_ref().map(|g| g.1)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trainctl serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tcp = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trainctl serve: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = tcp.local_addr().unwrap_or(listen);
    let token = match new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("trainctl serve: cannot make the page's token: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Written whole, then renamed: a reader never sees an empty or half-written file. Both
    // are 0600 (the umask): the token is what lets a reader in over TCP.
    for (name, text) in [
        (TOKEN_FILE, format!("{token}\n")),
        ("serve.addr", format!("http://{addr}\n")),
    ] {
        let written = data.join(format!("{name}.tmp"));
        if std::fs::write(&written, text).is_ok() {
            let _ = std::fs::rename(&written, data.join(name));
        }
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runner = local.runner(clock, Duration::from_secs(1));
    let zone = local.engine.config().train.zone;
    println!(
        "release-train serving http://{addr}/?token={token} (the status page; reads with the token in DATA/{TOKEN_FILE}) and {} (commands, as the calling OS user{}); data in {}",
        socket_path.display(),
        group
            .as_ref()
            .map(|(name, _)| format!("; shared with group {name}"))
            .unwrap_or_default(),
        data.display()
    );
    if let Some(t) = local
        .engine
        .config()
        .train
        .cut
        .next_after(chrono::Utc::now())
    {
        println!(
            "next cut: {}",
            t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z")
        );
    }

    let train_loop = spawn_train_loop(runner.clone(), zone);
    let app = App {
        runner,
        addr,
        token: token.into(),
    };
    let graceful = accept_until_stopped(&unix, &tcp, &app).await;
    // Nothing new starts once the signal came: no cut, no build, no new connection.
    train_loop.abort();
    drop(unix);
    drop(tcp);
    if tokio::time::timeout(SHUTDOWN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "trainctl serve: requests still open after {}s; stopping anyway",
            SHUTDOWN_DEADLINE.as_secs()
        );
    }
    let _ = std::fs::remove_file(&socket_path);
    ExitCode::SUCCESS
}

/// The scheduler and reconcile loop, printing each new history line as it happens.
fn spawn_train_loop(runner: Runner, zone: chrono_tz::Tz) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut timeline = Timeline::default();
        loop {
            match runner.step().await {
                Ok(step) => {
                    timeline.print_new(runner.engine(), zone).await;
                    runner.wait(&step, None).await;
                }
                Err(e) => {
                    warn!(error = %e, "reconcile pass failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    })
}

/// Serves both listeners until SIGTERM or Ctrl-C; the open connections are the caller's
/// to drain. At most [`TCP_CONNECTIONS`] TCP connections are served at once, so pages or
/// another local user's scripts cannot use up the descriptors the socket's callers need;
/// no connection lives longer than [`CONNECTION_DEADLINE`], a client that never reads its
/// answer included.
async fn accept_until_stopped(
    unix: &UnixListener,
    tcp: &TcpListener,
    app: &App,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let tcp_slots = Arc::new(tokio::sync::Semaphore::new(TCP_CONNECTIONS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
        }
    };
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = unix.accept() => accepted.map(|(s, _)| Stream::Unix(s)),
            accepted = tcp.accept() => accepted.map(|(s, _)| Stream::Tcp(s)),
        };
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let watcher = graceful.watcher();
        let app = app.clone();
        match stream {
            Stream::Unix(s) => {
                tokio::spawn(async move {
                    // The kernel's word for who is on the other end; without it, no answer.
                    // The account lookup may ask a directory service: off the accept loop.
                    let uid = match s.peer_cred() {
                        Ok(c) => c.uid(),
                        Err(e) => {
                            warn!(error = %e, "cannot read the peer's credentials; connection refused");
                            return;
                        }
                    };
                    let Ok(actor) = tokio::task::spawn_blocking(move || actor_for_uid(uid)).await
                    else {
                        return;
                    };
                    let conn = connection()
                        .serve_connection(TokioIo::new(s), service(app, Via::Socket(actor)));
                    let _ = tokio::time::timeout(CONNECTION_DEADLINE, watcher.watch(conn)).await;
                });
            }
            Stream::Tcp(s) => {
                let Ok(slot) = tcp_slots.clone().try_acquire_owned() else {
                    // Dropped unanswered: the page's next refresh tries again.
                    warn!("{TCP_CONNECTIONS} TCP connections open; one more refused");
                    continue;
                };
                tokio::spawn(async move {
                    let conn =
                        connection().serve_connection(TokioIo::new(s), service(app, Via::Tcp));
                    let _ = tokio::time::timeout(CONNECTION_DEADLINE, watcher.watch(conn)).await;
                    drop(slot);
                });
            }
        }
    }
    graceful
}

/// One HTTP/1.1 connection: headers within [`HEADER_TIMEOUT`], one request per connection.
fn connection() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(false);
    builder
}

fn service(
    app: App,
    via: Via,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Reply,
    Error = Infallible,
    Future = impl Future<Output = Result<Reply, Infallible>> + Send,
> + Clone {
    service_fn(move |req| handle(app.clone(), via.clone(), req))
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Binds `DATA/serve.sock`: 0600, or 0660 of `group`. A socket left by a killed `serve` is
/// replaced: whoever holds the data directory's lock (this process) owns the socket.
fn bind_socket(path: &Path, group: Option<Gid>) -> Result<UnixListener, String> {
    let len = path.as_os_str().len();
    if len > SOCKET_PATH_MAX {
        return Err(format!(
            "the socket path {} is {len} bytes, over the {SOCKET_PATH_MAX} a Unix socket allows; choose a shorter --data path",
            path.display()
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace {}: {e}", path.display())),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    let mode = if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid.as_raw()))
            .map_err(|e| format!("cannot give {} to the group: {e}", path.display()))?;
        0o660
    } else {
        0o600
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    Ok(listener)
}

type Reply = hyper::Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Reply {
    let mut res = hyper::Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

fn json_error(status: u16, code: &str, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

async fn handle(app: App, via: Via, req: hyper::Request<Incoming>) -> Result<Reply, Infallible> {
    let actor = match via {
        Via::Tcp => {
            if let Some(refused) = tcp_refusal(app.addr, req.method(), req.uri(), req.headers()) {
                return Ok(refused);
            }
            match token_check(&app.token, req.uri(), req.headers()) {
                TokenCheck::Valid => {}
                TokenCheck::InQuery => return Ok(remember_token(&app.token)),
                TokenCheck::Missing => return Ok(token_required()),
            }
            None
        }
        Via::Socket(actor) => Some(actor),
    };
    let (parts, body) = req.into_parts();
    if matches!(parts.method, Method::GET | Method::HEAD) && parts.uri.path() == "/" {
        return Ok(status_page(&app).await);
    }
    let bytes = if parts.method == Method::POST {
        match read_body(body).await {
            Ok(b) => b,
            Err(refused) => return Ok(refused),
        }
    } else {
        Bytes::new()
    };
    let method = if parts.method == Method::HEAD {
        "GET"
    } else {
        parts.method.as_str()
    };
    let request = api::Request {
        method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        body: &bytes,
        actor,
    };
    let engine = app.runner.engine();
    let res = api::handle(engine, request, app.runner.clock().now()).await;
    if parts.method == Method::POST {
        app.runner.waker().notify_one();
    }
    Ok(json_reply(res.status, &res.body))
}

/// What the TCP listener refuses, and how: another `Host` (DNS rebinding), a cross-site request,
/// and every change (those go through the socket, where the OS says who is asking).
fn tcp_refusal(
    addr: SocketAddr,
    method: &Method,
    uri: &hyper::Uri,
    headers: &HeaderMap,
) -> Option<Reply> {
    let port = addr.port();
    let own = [
        addr.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    if uri.authority().is_some() {
        // `GET http://other/ HTTP/1.1`: a proxy request, never one of this server's own.
        return Some(json_error(
            400,
            "absolute_uri",
            "send a path (GET /trains), not a full URL: this is not a proxy",
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !own.iter().any(|o| o.eq_ignore_ascii_case(host)) {
        return Some(json_error(
            421,
            "wrong_host",
            &format!(
                "this server answers only to Host 127.0.0.1:{port} or localhost:{port}, not {:?}: a page under another name (DNS rebinding) cannot reach it; open http://127.0.0.1:{port}/",
                printable(host)
            ),
        ));
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|s| {
            s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site")
        });
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|o| {
            !own.iter()
                .any(|own| o.eq_ignore_ascii_case(&format!("http://{own}")))
        });
    if cross_site || foreign_origin {
        return Some(json_error(
            403,
            "cross_site",
            "requests from other sites' pages are refused; open the status page itself, or use trainctl",
        ));
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Some(json_error(
            403,
            "use_the_socket",
            &format!(
                "changes are not accepted over TCP, where any web page could send them: run trainctl (it talks to DATA/{SOCKET}, where the operating system says who you are), or curl --unix-socket DATA/{SOCKET} -X {method} http://localhost/..."
            ),
        ));
    }
    None
}

/// The token's file in the data directory (0600): `Authorization: Bearer $(cat DATA/serve.token)`.
pub const TOKEN_FILE: &str = "serve.token";
/// The cookie the status page keeps the token in.
const TOKEN_COOKIE: &str = "release_train_token";

/// 32 random bytes from the kernel, as hex: new for every run of `serve`.
fn new_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    }))
}

enum TokenCheck {
    Valid,
    /// `?token=` on the page: answered by setting the cookie.
    InQuery,
    Missing,
}

/// Equal without an early exit, so the answer time says nothing about the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn token_check(token: &str, uri: &hyper::Uri, headers: &HeaderMap) -> TokenCheck {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
        .find(|c| same(c, token));
    if bearer.is_some_and(|b| same(b.trim(), token)) || cookie.is_some() {
        return TokenCheck::Valid;
    }
    let in_query = uri.path() == "/"
        && uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.strip_prefix("token="))
            .any(|t| same(t, token));
    if in_query {
        TokenCheck::InQuery
    } else {
        TokenCheck::Missing
    }
}

/// The page's address carried the token: keep it in a cookie only this origin's requests
/// carry, and show the page at its plain address.
fn remember_token(token: &str) -> Reply {
    let mut res = reply(StatusCode::SEE_OTHER, "text/plain", Vec::new());
    let headers = res.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    )) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    res
}

fn token_required() -> Reply {
    json_error(
        401,
        "token_required",
        &format!(
            "reads over TCP need this run's token: open the address serve printed (it ends in ?token=...), or send Authorization: Bearer $(cat DATA/{TOKEN_FILE}); trainctl reads through DATA/{SOCKET} without one"
        ),
    )
}

/// The request body, at most [`api::MAX_BODY`] bytes, within [`BODY_TIMEOUT`].
async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    let limited = Limited::new(body, api::MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Err(_) => Err(json_error(
            408,
            "body_timeout",
            &format!(
                "the body did not arrive within {}s; send it whole",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(json_error(
                413,
                "body_too_large",
                &format!("send at most {} bytes", api::MAX_BODY),
            ))
        }
        Ok(Err(_)) => Err(json_error(
            400,
            "body_incomplete",
            "the body ended before it was whole (shorter than its Content-Length, or a broken chunk); send the whole body",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The read-only status page, rendered from the same views the API answers with, by the
/// renderer the dashboard's widget uses (`train_page`).
async fn status_page(app: &App) -> Reply {
    let engine = app.runner.engine();
    let now = app.runner.clock().now();
    let html = match train_page::gather(engine, now).await {
        Ok((trains, schedule)) => {
            let name = engine.config().train.name.to_string();
            let view = train_page::View {
                name: &name,
                origin: "local mode",
                trains: &trains,
                schedule: schedule.as_ref(),
                zone: engine.config().train.zone,
                now,
            };
            Ok(train_page::render(&view, train_page::Frame::Page))
        }
        Err(e) => Err(format!("the train store could not be read: {e}")),
    };
    let (status, body) = match html {
        Ok(h) => (StatusCode::OK, h),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let mut res = reply(status, "text/html; charset=utf-8", body.into_bytes());
    // Inline style and script only; nothing may load from anywhere else, and no other
    // site may frame it.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    res
}
