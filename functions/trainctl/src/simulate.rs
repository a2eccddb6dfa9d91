//! `trainctl simulate`: a configuration's week on a simulated clock, with its own
//! repositories and buildspecs (what `demo` does for the samples), so a new user sees the
//! train their file describes in seconds instead of waiting a week for it.

use std::path::Path;
use std::process::ExitCode;

use chrono::{Duration, Utc};
use train_core::span::Span;
use train_core::{Stage, State};
use train_local::LocalMode;

use crate::EXIT_CONFIG;
use crate::demo::{Script, header, run_week};
use crate::local::load_config;

pub fn run(config_path: &Path, cancel_at: Option<&str>, keep: Option<&Path>) -> ExitCode {
    let (config, config_dir) = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let cancel_after = match cancel_at.map(Span::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("--cancel-at: {e}; write how long after the cut, e.g. --cancel-at 30h");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let now = Utc::now();
    let Some(cut) = config.train.cut.next_after(now) else {
        eprintln!(
            "{}: train.cut {} never fires again; nothing to simulate",
            config_path.display(),
            config.train.cut.expression()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let temp;
    let data = match keep {
        Some(dir) if dir.join("data").exists() => {
            eprintln!(
                "simulate: {} already holds a simulation (data/ is there); give --keep a new or empty directory",
                dir.display()
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        Some(dir) => dir.join("data"),
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().join("data")
            }
            Err(e) => {
                eprintln!("simulate: cannot create a temporary directory: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let names: Vec<&str> = config.components.iter().map(|c| c.name.as_str()).collect();
    println!(
        "release-train simulate: train {:?} of {} with {} components ({})",
        config.train.name.as_str(),
        config_path.display(),
        names.len(),
        names.join(", ")
    );
    let local = match LocalMode::open(config.clone(), &config_dir, &data) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = cut - Duration::minutes(2);
    header(&local, start);
    let script = Script {
        late_commit: None,
        cancel_at: cancel_after.map(|s| {
            (
                cut + s.duration(),
                "cancelled in the simulation (--cancel-at)",
            )
        }),
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("simulate: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let train = match runtime.block_on(run_week(&local, start, config.train.zone, &script)) {
        Ok(Some(t)) => t,
        Ok(None) => return ExitCode::FAILURE,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    for run in train.components.values() {
        let pin = run.pinned.as_ref().map_or("-", |c| c.short());
        let shipped = run
            .build(Stage::Production)
            .and_then(|b| b.commit.as_ref())
            .map_or("-", |c| c.short());
        let note = run
            .excluded
            .as_deref()
            .map(|why| format!(" (excluded: {why})"))
            .unwrap_or_default();
        println!(
            "  {:<20} staging tested {pin}, production shipped {shipped}{note}",
            run.spec.name.as_str()
        );
    }
    let state = train.state();
    println!("\n{} {}", state.to_string().to_uppercase(), train.id);
    if keep.is_some() {
        println!("build logs: {}/builds/*/build.log", data.display());
    }
    let expected = if cancel_after.is_some() {
        State::Cancelled
    } else {
        State::Released
    };
    if state == expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
