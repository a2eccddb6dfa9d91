//! `plan` and `validate`.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::local::load_config;
use crate::render::local;

pub fn validate(path: &Path) -> ExitCode {
    let (config, _) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let t = &config.train;
    println!(
        "{}: valid. Train {:?} in {}, {} component(s), cut {}, promote {}, soak {}, on component failure: {:?}.",
        path.display(),
        t.name.as_str(),
        t.zone,
        config.components.len(),
        t.cut.expression(),
        t.promote.expression(),
        t.soak,
        t.on_component_failure
    );
    ExitCode::SUCCESS
}

pub fn plan(path: &Path, weeks: usize) -> ExitCode {
    let (config, _) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let t = &config.train;
    let now = Utc::now();
    let horizon = now + chrono::Duration::weeks(i64::try_from(weeks.max(1)).unwrap_or(4));
    println!(
        "train {} in {} (soak {}), from {}:",
        t.name,
        t.zone,
        t.soak,
        local(now, t.zone)
    );
    let mut rows: Vec<_> = t
        .cut
        .upcoming(now)
        .take_while(|f| *f <= horizon)
        .take(200)
        .map(|f| (f, "cut"))
        .chain(
            t.promote
                .upcoming(now)
                .take_while(|f| *f <= horizon)
                .take(200)
                .map(|f| (f, "promote")),
        )
        .collect();
    rows.sort();
    for (at, what) in rows {
        let id = if what == "cut" {
            t.train_id(at).to_string()
        } else {
            String::new()
        };
        let frozen = config
            .freezes
            .at(at)
            .map(|hit| {
                format!(
                    "  FROZEN by {:?} until {}",
                    hit.window,
                    local(hit.until, t.zone)
                )
            })
            .unwrap_or_default();
        println!(
            "  {:<8} {}  {id}{frozen}",
            what,
            at.with_timezone(&t.zone).format("%a %Y-%m-%d %H:%M %Z")
        );
    }
    ExitCode::SUCCESS
}

/// `trainctl infra-params`: `Key="value"` pairs, quoted the way SAM's `--parameter-overrides`
/// reads them (schedules contain spaces).
pub fn infra_params(path: &Path) -> ExitCode {
    let (config, _) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match config.template_parameters() {
        Ok(params) => {
            let line: Vec<String> = params.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            println!("{}", line.join(" "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(crate::EXIT_CONFIG)
        }
    }
}
