//! The read-only status page `trainctl serve` answers at `/`: the current train, why it
//! waits, its soak countdown, its components and timeline, and the trains before it. One
//! HTML document with its style and a few lines of script inline: no external assets, so it
//! works offline and leaks nothing. It refreshes itself every 15 seconds.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use train_core::train::{Build, Phase};
use train_engine::api::{ScheduleView, TrainView};

use crate::render::{local, running_for};

const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
  --ok: #17803d; --run: #1f5fbf; --wait: #a15c00; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; background: #1d2330; color: #fff; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
header h1 { margin: 0; font-size: 18px; }
header span { color: #c5cbd6; }
main { padding: 20px 24px; display: grid; gap: 18px; max-width: 1200px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
h2 { margin: 0 0 6px; font-size: 20px; display: flex; gap: 12px; align-items: center; }
h3 { margin: 18px 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.state { font-size: 12px; font-weight: 600; padding: 2px 10px; border-radius: 999px; color: #fff; background: var(--muted); }
.state.released, .state.succeeded { background: var(--ok); }
.state.building, .state.promoting, .state.rolling_back, .state.running, .state.requested { background: var(--run); }
.state.soaking, .state.held { background: var(--wait); }
.state.failed, .state.cancelled, .state.stopped { background: var(--bad); }
.summary { font-size: 15px; margin: 4px 0 10px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.countdown { margin: 12px 0 0; padding: 10px 14px; border-left: 4px solid var(--wait); background: #fff8ec; }
.countdown b { font-size: 18px; font-variant-numeric: tabular-nums; }
.waiting li { color: var(--wait); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
ol.timeline { list-style: none; margin: 0; padding: 0; }
ol.timeline li { padding: 5px 0; border-bottom: 1px dashed var(--line); display: grid; grid-template-columns: 150px 1fr; gap: 12px; }
ol.timeline time, .muted { color: var(--muted); }
.change { color: var(--muted); font-size: 12px; }
"#;

/// Ticks the soak countdown between refreshes, from the server's clock (which may be a
/// simulated one), not the browser's.
const SCRIPT: &str = r"
for (const el of document.querySelectorAll('[data-remaining]')) {
  let left = Number(el.dataset.remaining);
  const show = () => {
    const s = Math.max(0, left), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
      m = Math.floor(s % 3600 / 60), sec = Math.floor(s % 60);
    el.textContent = (d ? d + 'd ' : '') + h + 'h ' + String(m).padStart(2, '0') + 'm ' + String(sec).padStart(2, '0') + 's';
  };
  show();
  setInterval(() => { left -= 1; show(); }, 1000);
}
";

/// The whole page. `trains` is newest first; the current train is the newest one still on
/// its way, or else the newest.
pub fn render(
    name: &str,
    trains: &[TrainView],
    schedule: Option<&ScheduleView>,
    zone: Tz,
    now: DateTime<Utc>,
) -> String {
    let current = trains
        .iter()
        .find(|t| !t.state.is_terminal())
        .or_else(|| trains.first());
    let title = current.map_or_else(
        || format!("release-train {name}: no train yet"),
        |t| format!("release-train {name}: {} {}", t.id, t.state),
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="15";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "release-train · " (name) }
                    span { "local mode, read-only · " (local(now, zone)) }
                    @if let Some(s) = schedule { (schedule_line(s, zone)) }
                }
                main {
                    @match current {
                        Some(t) => (train_section(t, zone, now)),
                        None => section id="current" {
                            h2 { "No train yet" }
                            p { "The first train is cut at the next cut time." }
                        },
                    }
                    (past_section(trains, current, zone))
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn schedule_line(s: &ScheduleView, zone: Tz) -> Markup {
    html! {
        @if let Some(p) = &s.paused {
            span id="schedule" { "schedule paused by " (p.by) ": " (p.reason) }
        } @else {
            span id="schedule" { (next_firings(s, zone)) }
        }
    }
}

fn next_firings(s: &ScheduleView, zone: Tz) -> String {
    let parts: Vec<String> = [("next cut", s.next_cut), ("next promote", s.next_promote)]
        .into_iter()
        .filter_map(|(what, at)| Some(format!("{what} {}", local(at?, zone))))
        .collect();
    parts.join(" · ")
}

fn train_section(t: &TrainView, zone: Tz, now: DateTime<Utc>) -> Markup {
    html! {
        section id="current" {
            h2 { (t.id) span class={ "state " (t.state) } { (t.state) } }
            p class="summary" { (t.summary) }
            dl {
                dt { "cut" } dd { (local(t.cut_at, zone)) }
                dt { "soak" } dd { (t.soak) }
                @if let Some(c) = &t.captain { dt { "captain" } dd { (c) } }
                @if let Some(h) = &t.hold {
                    dt { "held" } dd { "by " (h.by) " since " (local(h.at, zone)) ": " (h.reason) }
                }
                @if !t.approvals.is_empty() {
                    dt { "approved by" }
                    dd { @for (i, a) in t.approvals.iter().enumerate() { @if i > 0 { ", " } (a.by) } }
                }
            }
            @if let Phase::Soaking { until, .. } = &t.phase && *until > now {
                p class="countdown" id="countdown" {
                    "Soak ends in "
                    b data-remaining=((*until - now).num_seconds()) { (remaining(*until - now)) }
                    " at " (local(*until, zone))
                }
            }
            @if !t.blocked_by.is_empty() {
                h3 { "Waiting for" }
                ul class="waiting" { @for b in &t.blocked_by { li { (b) } } }
            }
            h3 { "Components" }
            table id="components" {
                thead { tr { th { "component" } th { "wave" } th { "commit" } th { "staging" } th { "production" } th { "changes" } } }
                tbody {
                    @for c in &t.components {
                        tr {
                            td { b { (c.name) } @if let Some(x) = &c.excluded { br; span class="muted" { "excluded: " (x) } } }
                            td { (c.wave) }
                            td { @match &c.pinned { Some(p) => code { (p.short()) }, None => span class="muted" { (c.branch) } } }
                            td { (build_cell(c.staging.as_ref(), now)) }
                            td { (build_cell(c.production.as_ref(), now)) }
                            td {
                                @if let Some(log) = &c.changelog {
                                    @if log.commits.is_empty() { span class="muted" { "—" } }
                                    @for line in log.commits.iter().take(3) { code { (line) } br; }
                                    @if log.commits.len() > 3 { span class="muted" { "+" (log.commits.len() - 3) " more" } }
                                } @else { span class="muted" { "—" } }
                            }
                        }
                    }
                }
            }
            h3 { "Timeline" }
            ol class="timeline" id="timeline" {
                @for r in t.history.iter().rev() {
                    li {
                        time { (local(r.at, zone)) }
                        span {
                            b { (r.action) } " · " (r.actor)
                            @if let Some(why) = &r.reason { ": " (why) }
                            @if r.from != r.to { " " span class="change" { (r.from) " → " (r.to) } }
                        }
                    }
                }
            }
        }
    }
}

fn build_cell(b: Option<&Build>, now: DateTime<Utc>) -> Markup {
    html! {
        @match b {
            None => span class="muted" { "—" },
            Some(b) => {
                @let status = b.status.as_str();
                span class={ "state " (status) } { (status) }
                @if let Some(run) = running_for(b, now) {
                    " " span class="muted" { (run) }
                }
                @if b.attempt > 1 { " " span class="muted" { "attempt " (b.attempt) } }
                @if let Some(d) = &b.detail { br; span class="muted" { (d) } }
                @if let Some(link) = &b.link {
                    br;
                    @if link.starts_with("https://") {
                        a href=(link) { "log" }
                    } @else {
                        span class="muted" { "log: " (link) }
                    }
                }
            },
        }
    }
}

fn past_section(trains: &[TrainView], current: Option<&TrainView>, zone: Tz) -> Markup {
    let past: Vec<&TrainView> = trains
        .iter()
        .filter(|t| current.is_none_or(|c| c.id != t.id))
        .collect();
    html! {
        section id="past" {
            h2 { "Past trains" }
            @if past.is_empty() {
                p class="muted" { "No earlier trains." }
            } @else {
                table {
                    thead { tr { th { "train" } th { "state" } th { "cut" } th { "what happened" } } }
                    tbody {
                        @for t in past {
                            tr {
                                td { b { (t.id) } }
                                td { span class={ "state " (t.state) } { (t.state) } }
                                td { (local(t.cut_at, zone)) }
                                td { (t.summary) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn remaining(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes:02}m {seconds:02}s")
    } else {
        format!("{hours}h {minutes:02}m {seconds:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_people_is_escaped_and_nothing_is_loaded_from_elsewhere() {
        let page = render("weekly<script>", &[], None, chrono_tz::UTC, Utc::now());
        assert!(page.contains("weekly&lt;script&gt;"), "{page}");
        assert!(!page.contains("weekly<script>"));
        assert!(page.contains("No train yet"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!page.contains(external), "{external} in {page}");
        }
    }

    #[test]
    fn the_countdown_reads_days_hours_minutes_and_seconds() {
        assert_eq!(
            remaining(chrono::Duration::seconds(
                2 * 86_400 + 3 * 3600 + 4 * 60 + 5
            )),
            "2d 3h 04m 05s"
        );
        assert_eq!(remaining(chrono::Duration::seconds(-5)), "0h 00m 00s");
    }
}
