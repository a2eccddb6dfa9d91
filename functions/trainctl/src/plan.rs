//! `plan` and `validate`.

use std::path::Path;
use std::process::ExitCode;

use chrono::{Datelike, Utc};

use crate::local::load_config;
use crate::render::local;

/// `trainctl validate`: the file parses, and nothing in it keeps every train from shipping
/// (`Config::never_ships`, with local sources checked against the disk).
pub fn validate(path: &Path) -> ExitCode {
    let (config, dir) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let exists = |source: &str| dir.join(source).exists();
    let issues = config.never_ships(&text, Utc::now(), &exists);
    if !issues.is_empty() {
        let error = train_core::ConfigError { issues };
        eprintln!(
            "{}\n{}: parses, but as written no train would ship; fix the lines above",
            error.render(&path.display().to_string()),
            path.display()
        );
        return ExitCode::from(crate::EXIT_CONFIG);
    }
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
        if what == "promote" {
            for line in wave_plan(&config, at) {
                println!("             {line}");
            }
        }
    }
    if let Some(first) = staging_plan(&config) {
        println!("staging: {first}");
    }
    ExitCode::SUCCESS
}

/// The waves a promotion at `at` ships, each with the bake after it: the earliest each wave
/// can start, since builds take as long as they take.
fn wave_plan(config: &train_core::Config, at: chrono::DateTime<Utc>) -> Vec<String> {
    let waves: std::collections::BTreeSet<u32> = config.components.iter().map(|c| c.wave).collect();
    if waves.len() < 2 && config.train.wave_bake.is_none() {
        return Vec::new();
    }
    let mut earliest = at;
    let mut out = Vec::new();
    let last = waves.iter().next_back().copied();
    for wave in &waves {
        let members: Vec<&str> = config
            .components
            .iter()
            .filter(|c| c.wave == *wave)
            .map(|c| c.name.as_str())
            .collect();
        let start = if earliest == at {
            String::new()
        } else {
            format!(
                ", from {} plus the builds before it",
                earliest
                    .with_timezone(&config.train.zone)
                    .format("%a %H:%M %Z")
            )
        };
        let bake = config
            .components
            .iter()
            .filter(|c| c.wave == *wave)
            .filter_map(|c| c.wave_bake)
            .max()
            .or(config.train.wave_bake);
        let then = match bake {
            Some(b) if Some(*wave) != last => {
                earliest += b.duration();
                format!("; then bakes {b}")
            }
            _ => String::new(),
        };
        out.push(format!("wave {wave}: {}{start}{then}", members.join(", ")));
    }
    out
}

/// How staging orders its builds, when the waves make a difference.
fn staging_plan(config: &train_core::Config) -> Option<String> {
    let waves: std::collections::BTreeSet<u32> = config.components.iter().map(|c| c.wave).collect();
    if waves.len() < 2 {
        return None;
    }
    Some(match config.train.staging_order {
        train_core::config::StagingOrder::Waves => format!(
            "builds wave by wave as production does ({} waves); staging_order = \"parallel\" starts them all at the cut",
            waves.len()
        ),
        train_core::config::StagingOrder::Parallel => {
            "every staging build starts at the cut (staging_order = \"parallel\")".to_owned()
        }
    })
}

/// `trainctl infra-params`: `Key="value"` pairs, quoted the way SAM's `--parameter-overrides`
/// reads them (schedules contain spaces). With `member`, a member account's stack
/// parameters: those from the configuration, and with `outputs` those from the train stack.
pub fn infra_params(path: &Path, member: Option<&str>, outputs: Option<&Path>) -> ExitCode {
    let (config, _) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let params = match member {
        None => config.template_parameters(),
        Some(member) => config.member_parameters(member).and_then(|mut params| {
            match outputs {
                Some(file) => params.extend(train_outputs(file)?),
                None => eprintln!(
                    "note: add {} from the train stack's outputs, or pass --outputs FILE (aws cloudformation describe-stacks --stack-name NAME --query 'Stacks[0].Outputs' > FILE)",
                    train_core::config::MEMBER_FROM_TRAIN_STACK.iter().map(|(_, p)| *p).collect::<Vec<_>>().join(", ")
                ),
            }
            Ok(params)
        }),
    };
    match params {
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

/// The member parameters from the train stack's outputs (`[{"OutputKey": .., "OutputValue":
/// ..}, ..]`, the shape `describe-stacks` prints).
fn train_outputs(file: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read the train stack's outputs at {}: {e}",
            file.display()
        )
    })?;
    let outputs: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not the outputs list describe-stacks prints ({e}); write it with aws cloudformation describe-stacks --stack-name NAME --query 'Stacks[0].Outputs'",
            file.display()
        )
    })?;
    let value = |key: &str| {
        outputs
            .iter()
            .find(|o| o["OutputKey"] == key)
            .and_then(|o| o["OutputValue"].as_str())
    };
    train_core::config::MEMBER_FROM_TRAIN_STACK
        .iter()
        .map(|(output, param)| {
            value(output).map(|v| (*param, v.to_owned())).ok_or_else(|| {
                format!(
                    "{} has no output {output}; the train stack predates member accounts: deploy infra/template.yaml again first",
                    file.display()
                )
            })
        })
        .collect()
}

/// `trainctl cost`: the month's bill (`train_core::cost`), as a table or JSON.
pub fn cost(path: &Path, month: Option<&str>, json: bool) -> ExitCode {
    let (config, _) = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let start = if let Some(m) = month {
        let Ok(day) = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d") else {
            eprintln!("--month {m:?}: give the month as YYYY-MM, e.g. 2027-01");
            return ExitCode::from(crate::EXIT_CONFIG);
        };
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        let today = chrono::Utc::now().date_naive();
        let next = today
            .with_day(1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
            .unwrap_or(today);
        next.and_time(chrono::NaiveTime::MIN).and_utc()
    };
    let bill = train_core::cost::month(&config, &train_core::cost::Assumptions::for_month(start));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&bill).unwrap_or_default()
        );
    } else {
        let a = &bill.assumptions;
        println!(
            "{} components, {} trains in the {} hours from {}: builds of {} minutes, a reconcile pass every {} minutes, {} API calls a week, the dashboard opened {} times a day, {} MB functions, logs kept {} days.\n",
            config.components.len(),
            bill.counts.trains,
            a.hours,
            a.start.format("%Y-%m-%d"),
            a.build_minutes,
            a.reconcile_minutes,
            a.api_calls_per_week,
            a.dashboard_views_per_day,
            a.memory_mb,
            a.log_retention_days
        );
        print!("{}", train_core::cost::table(&bill));
    }
    ExitCode::SUCCESS
}
