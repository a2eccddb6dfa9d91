//! Function start: from `exec` of each function's release binary to its first request to
//! the Lambda Runtime API (the moment it is ready for an event), median of 20 runs, and
//! the process's peak memory (`VmHWM`) at that moment.
//!
//! ```sh
//! cargo build --release -p cut -p promote -p events -p api
//! cargo run --release -p train-lambda --example start [TARGET_DIR/release]
//! ```
//!
//! A Runtime API stand-in on loopback accepts the connection and reads the request line;
//! nothing else is served, so the figure is the start alone. Linux only (`/proc`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn main() {
    let bin = std::env::args().nth(1).map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from);
            target.join("release")
        },
        PathBuf::from,
    );
    let dir = std::env::temp_dir().join(format!("release-train-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("release-train.toml");
    std::fs::write(
        &config,
        "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n\n[[component]]\nname = \"api\"\nsource = \"https://git.example.invalid/api.git\"\nstaging = { project = \"api-staging\" }\nproduction = { project = \"api-production\" }\n",
    )
    .unwrap();
    println!("| function | median start | fastest | slowest | peak memory (median) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for function in ["cut", "promote", "events", "api"] {
        let path = bin.join(function);
        assert!(
            path.exists(),
            "{} is missing: cargo build --release -p {function}",
            path.display()
        );
        let mut starts = Vec::new();
        let mut memory = Vec::new();
        for _ in 0..RUNS {
            let (start, kb) = one_start(&path, &config);
            starts.push(start);
            memory.push(kb);
        }
        starts.sort();
        memory.sort_unstable();
        println!(
            "| {function} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} MB |",
            ms(starts[RUNS / 2]),
            ms(starts[0]),
            ms(starts[RUNS - 1]),
            f64::from(u32::try_from(memory[RUNS / 2]).unwrap_or(u32::MAX)) / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One exec: the time to the first Runtime API request, and `VmHWM` in KiB then.
fn one_start(path: &PathBuf, config: &PathBuf) -> (Duration, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = Command::new(path)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(train_lambda::env::TABLE, "trains")
        .env(train_lambda::env::BUCKET, "manifests")
        .env(train_lambda::env::BUS, "trains")
        .env(train_lambda::env::CONFIG, config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{} asked {line:?}",
        path.display()
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
