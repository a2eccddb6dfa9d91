//! Function start, side by side with what a team would otherwise write: from `exec` to the
//! first request to the Lambda Runtime API (`GET /2018-06-01/runtime/invocation/next`: the
//! configuration read, the SDK clients and the engine built, ready for an event), and the
//! process's peak memory (`VmHWM`) at that moment, for each function as `sam build` built
//! it and for a Python handler with boto3 that sets up the same clients
//! (`examples/boto3_start.py`), behind the same Runtime API stand-in. The runs interleave
//! (ours, theirs, ours, ...) so both see the same machine.
//!
//! ```sh
//! bash tests/run.sh     # or its sam build step: tests/.work/sam-build
//! cargo run --release -p train-lambda --example start -- [RUNS] [BUILD_DIR] [PYTHON]
//! ```
//!
//! PYTHON defaults to `.venv/bin/python` (the test command's virtualenv, which has boto3).
//! The stand-in accepts the connection and reads the request line; nothing else is served,
//! so the figure is the start alone. Linux only (`/proc`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 5] = ["cut", "promote", "events", "api", "widget"];

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let build = args
        .next()
        .map_or_else(|| PathBuf::from("tests/.work/sam-build"), PathBuf::from);
    let python = args
        .next()
        .map_or_else(|| PathBuf::from(".venv/bin/python"), PathBuf::from);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/boto3_start.py");
    let dir = std::env::temp_dir().join(format!("release-train-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("release-train.toml");
    std::fs::write(
        &config,
        "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n\n[[component]]\nname = \"api\"\nsource = \"https://git.example.invalid/api.git\"\nstaging = { project = \"api-staging\" }\nproduction = { project = \"api-production\" }\n",
    )
    .unwrap();
    println!(
        "| function | ours: median start (fastest, slowest) | boto3: median start | start ratio | ours: peak memory | boto3: peak memory | memory ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for function in FUNCTIONS {
        let mut logical = function[..1].to_uppercase();
        logical.push_str(&function[1..]);
        let bootstrap = build.join(format!("{logical}Function")).join("bootstrap");
        assert!(
            bootstrap.exists(),
            "{} is missing: bash tests/run.sh builds the functions",
            bootstrap.display()
        );
        let ours_cmd = || Command::new(&bootstrap);
        let theirs_cmd = || {
            let mut c = Command::new(&python);
            c.arg(&script).arg(function);
            c
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(one_start(ours_cmd(), &config, function));
            theirs.push(one_start(theirs_cmd(), &config, function));
        }
        let (o, t) = (Summary::of(&mut ours), Summary::of(&mut theirs));
        println!(
            "| {function} | {:.1} ms ({:.1}, {:.1}) | {:.1} ms | {:.0}x | {:.1} MB | {:.1} MB | {:.1}x |",
            ms(o.median),
            ms(o.fastest),
            ms(o.slowest),
            ms(t.median),
            t.median.as_secs_f64() / o.median.as_secs_f64(),
            mb(o.memory),
            mb(t.memory),
            mb(t.memory) / mb(o.memory),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

struct Summary {
    median: Duration,
    fastest: Duration,
    slowest: Duration,
    /// Median peak memory, KiB.
    memory: u64,
}

impl Summary {
    fn of(runs: &mut [(Duration, u64)]) -> Self {
        let n = runs.len();
        let mut memory: Vec<u64> = runs.iter().map(|r| r.1).collect();
        memory.sort_unstable();
        runs.sort_by_key(|r| r.0);
        Self {
            median: runs[n / 2].0,
            fastest: runs[0].0,
            slowest: runs[n - 1].0,
            memory: memory[n / 2],
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kib: u64) -> f64 {
    f64::from(u32::try_from(kib).unwrap_or(u32::MAX)) / 1024.0
}

/// One exec: the time to the first Runtime API request, and `VmHWM` in KiB then.
fn one_start(mut command: Command, config: &Path, function: &str) -> (Duration, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        // Lambda sets both; boto3 reads the second.
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(train_lambda::env::TABLE, "trains")
        .env(train_lambda::env::BUCKET, "manifests")
        .env(train_lambda::env::BUS, "trains")
        .env(train_lambda::env::CONFIG, config)
        .env(train_lambda::env::EXTERNAL_ID, "bench-external-id")
        .env(train_lambda::env::ACCOUNT, "123456789012")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the connection, or for the process to end without one (a failed init).
    listener.set_nonblocking(true).unwrap();
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    let _ =
                        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
                    panic!("{function} exited ({status}) before asking for an event:\n{err}");
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => panic!("{e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{function} asked {line:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    child.kill().unwrap();
    child.wait().unwrap();
    (elapsed, kb)
}
