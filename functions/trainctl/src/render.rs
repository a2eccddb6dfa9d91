//! Text for people: timeline lines and the status of a train.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use train_core::text::{one_line, printable};
use train_core::train::Record;
use train_engine::api::TrainView;

/// The one time format (the train's zone, with its abbreviation).
pub fn local(t: DateTime<Utc>, zone: Tz) -> String {
    train_core::text::when(t, zone)
}

pub use train_page::running_for;

/// What a build is doing, with how long it has run when it is running.
pub fn build_status(b: Option<&train_core::Build>, now: DateTime<Utc>) -> String {
    let Some(b) = b else {
        return "-".to_owned();
    };
    match running_for(b, now) {
        Some(run) => format!("{} {run}", b.status.as_str()),
        None => b.status.as_str().to_owned(),
    }
}

/// The train's zone, as the API names it (UTC for an answer from before it did).
pub fn zone_of(v: &TrainView) -> Tz {
    v.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

/// One audit record as a timeline line.
pub fn record(r: &Record, zone: Tz) -> String {
    let change = if r.from == r.to {
        String::new()
    } else {
        format!("  [{} -> {}]", r.from, r.to)
    };
    let reason = r
        .reason
        .as_deref()
        .map(|s| format!(": {}", one_line(s)))
        .unwrap_or_default();
    format!(
        "{}  {:<16} {}{reason}{change}",
        local(r.at, zone),
        printable(r.actor.as_str()),
        one_line(&r.action)
    )
}

/// The LOGS and CHANGES sections of [`train`].
fn logs_and_changes(s: &mut String, v: &TrainView) {
    let logs: Vec<String> = v
        .components
        .iter()
        .flat_map(|c| {
            [("staging", &c.staging), ("production", &c.production)]
                .map(|(stage, b)| (c.name.as_str(), stage, b.as_ref()))
        })
        .filter_map(|(name, stage, b)| {
            b.and_then(|b| b.link.as_ref())
                .map(|l| format!("  {name} {stage}: {}", printable(l)))
        })
        .collect();
    if !logs.is_empty() {
        let _ = writeln!(s, "\nLOGS\n{}", logs.join("\n"));
    }
    let changes: Vec<String> = v
        .components
        .iter()
        .filter_map(|c| {
            let log = c.changelog.as_ref()?;
            let since = log
                .from
                .as_ref()
                .map_or("the start".to_owned(), |f| f.short().to_owned());
            let mut text = format!("  {} ({since}..{}):", c.name.as_str(), log.to.short());
            // Commit subjects come from whoever pushed them: escaped, one line each.
            for line in &log.commits {
                let _ = write!(text, "\n    {}", one_line(line));
            }
            if let Some(link) = &log.link {
                let _ = write!(text, "\n    {}", printable(link));
            }
            if log.commits.is_empty() && log.link.is_none() {
                text.push_str(" no new commits");
            }
            Some(text)
        })
        .collect();
    if !changes.is_empty() {
        let _ = writeln!(s, "\nCHANGES\n{}", changes.join("\n"));
    }
}

/// A train in detail: state, why, components, history, in the train's zone.
pub fn train(v: &TrainView, now: DateTime<Utc>) -> String {
    let zone = zone_of(v);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  {}  {}",
        v.id,
        v.state.as_str().to_uppercase(),
        one_line(&v.summary)
    );
    if let Some(c) = &v.captain {
        let _ = writeln!(s, "captain: {}", printable(c));
    }
    if !v.blocked_by.is_empty() {
        let _ = writeln!(s, "blocked by: {}", one_line(&v.blocked_by.join("; ")));
    }
    let _ = writeln!(
        s,
        "\n{:<20} {:>4}  {:<12}  {:<16} {:<16}",
        "COMPONENT", "WAVE", "PINNED", "STAGING", "PRODUCTION"
    );
    for c in &v.components {
        let pin = c.pinned.as_ref().map_or("-", |p| p.short());
        let _ = writeln!(
            s,
            "{:<20} {:>4}  {:<12}  {:<16} {:<16}",
            c.name.as_str(),
            c.wave,
            pin,
            build_status(c.staging.as_ref(), now),
            build_status(c.production.as_ref(), now)
        );
    }
    logs_and_changes(&mut s, v);
    let excluded: Vec<String> = v
        .components
        .iter()
        .filter_map(|c| {
            c.excluded
                .as_ref()
                .map(|why| format!("  {}: {}", c.name.as_str(), one_line(why)))
        })
        .collect();
    if !excluded.is_empty() {
        let _ = writeln!(
            s,
            "\nEXCLUDED (staying on their last release)\n{}",
            excluded.join("\n")
        );
    }
    if v.history_before.is_some() {
        let _ = writeln!(
            s,
            "\nHISTORY (the last {} of {}; `trainctl history {}` shows all)",
            v.history.len(),
            v.history_total,
            v.id
        );
    } else {
        let _ = writeln!(s, "\nHISTORY");
    }
    for r in &v.history {
        let _ = writeln!(s, "  {}", record(r, zone));
    }
    s
}
