//! `trainctl simulate`: a configuration's week on a simulated clock, with its own
//! repositories and buildspecs (what `demo` does for the samples), so a new user sees the
//! train their file describes in seconds instead of waiting a week for it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{Duration, Utc};
use tempfile::TempDir;
use train_core::span::Span;
use train_core::{ComponentName, FailurePolicy, Stage, State};
use train_local::LocalMode;

use crate::EXIT_CONFIG;
use crate::demo::{Script, header, run_week};
use crate::local::load_config;

pub fn run(
    config_path: &Path,
    cancel_at: Option<&str>,
    fail: &[String],
    keep: Option<&Path>,
) -> ExitCode {
    let (config, config_dir) = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let failing = match failing(&config, fail) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("--fail: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
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
    // The temporary directory (when not --keep) lives until the simulation ends.
    let (data, _temp) = match data_dir(keep) {
        Ok(d) => d,
        Err(code) => return code,
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
    for (component, stage) in &failing {
        println!("  ({stage} builds of {component} fail on purpose: --fail)");
        local.builder.fail_on_purpose(component.clone(), *stage);
    }
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
    // What the configuration says should happen: a cancel cancels; a failed build fails
    // the train under `halt`, and leaves its component out under `exclude`.
    let expected = if cancel_after.is_some() {
        State::Cancelled
    } else if !failing.is_empty() && config.train.on_component_failure == FailurePolicy::Halt {
        State::Failed
    } else {
        State::Released
    };
    if state == expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--fail COMPONENT` (its staging builds) or `--fail COMPONENT:production`, each a
/// component of the configuration.
fn failing(
    config: &train_core::Config,
    fail: &[String],
) -> Result<Vec<(ComponentName, Stage)>, String> {
    fail.iter()
        .map(|f| {
            let (name, stage) = match f.split_once(':') {
                None => (f.as_str(), Stage::Staging),
                Some((name, "staging")) => (name, Stage::Staging),
                Some((name, "production")) => (name, Stage::Production),
                Some((_, other)) => {
                    return Err(format!(
                        "{f:?}: the stage {other:?} is not staging or production; write COMPONENT or COMPONENT:production"
                    ));
                }
            };
            let known: Vec<&str> = config.components.iter().map(|c| c.name.as_str()).collect();
            let component = config
                .components
                .iter()
                .find(|c| c.name.as_str() == name)
                .ok_or_else(|| {
                    format!(
                        "{name:?} is not a component of this configuration; it has {}",
                        known.join(", ")
                    )
                })?;
            Ok((component.name.clone(), stage))
        })
        .collect()
}

/// Where the simulation keeps its data: `keep/data` (refused when a simulation is already
/// there), or a temporary directory that lives as long as the returned guard.
fn data_dir(keep: Option<&Path>) -> Result<(PathBuf, Option<TempDir>), ExitCode> {
    match keep {
        Some(dir) if dir.join("data").exists() => {
            eprintln!(
                "simulate: {} already holds a simulation (data/ is there); give --keep a new or empty directory",
                dir.display()
            );
            Err(ExitCode::from(EXIT_CONFIG))
        }
        Some(dir) => Ok((dir.join("data"), None)),
        None => match tempfile::tempdir() {
            Ok(t) => Ok((t.path().join("data"), Some(t))),
            Err(e) => {
                eprintln!("simulate: cannot create a temporary directory: {e}");
                Err(ExitCode::FAILURE)
            }
        },
    }
}
