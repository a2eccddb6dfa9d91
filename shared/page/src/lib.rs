//! The train's status page, one renderer for two frames: the page `trainctl serve` answers at
//! `/`, and the CloudWatch dashboard's custom widget (the `widget` function). Both show the
//! current train as the API sees it: its state and why it waits, the soak and bake
//! countdowns, the components with their pinned commits, their staging and production
//! builds with links to their logs, the changelog, the timeline, and the trains before it.
//!
//! The content is one `<div class="rt">`, the same bytes in both frames for the same views
//! (a test holds them equal). The frames differ only around it:
//! - [`Frame::Page`]: a whole document with the style, a refresh every 15 seconds and a few
//!   lines of script that tick the countdowns. No external assets: it works offline and
//!   leaks nothing.
//! - [`Frame::Widget`]: the div and its style alone. CloudWatch strips JavaScript from a
//!   custom widget's HTML ("For security reasons, JavaScript is not allowed in the returned
//!   HTML", Amazon CloudWatch User Guide, "Security and JavaScript for custom CloudWatch
//!   widgets"), so the countdowns show the time left when the dashboard last refreshed.
//!
//! Every text from people (reasons, names, commit subjects) is escaped by construction
//! (maud).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use train_core::train::{Build, Phase};
use train_engine::api::{ScheduleView, TrainView};
use train_engine::ports::ListQuery;
use train_engine::{Engine, EngineError};

/// How many trains the page lists (the current one and those before it).
pub const TRAINS: usize = 20;

const STYLE: &str = r#"
.rt { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
  --ok: #17803d; --run: #1f5fbf; --wait: #a15c00; --bad: #b42318;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
.rt * { box-sizing: border-box; }
.rt header { padding: 14px 24px; background: #1d2330; color: #fff; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
.rt header h1 { margin: 0; font-size: 18px; color: #fff; }
.rt header span { color: #c5cbd6; }
.rt main { padding: 20px 24px; display: grid; gap: 18px; max-width: 1200px; }
.rt section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
.rt h2 { margin: 0 0 6px; font-size: 20px; display: flex; gap: 12px; align-items: center; }
.rt h3 { margin: 18px 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.rt .state { font-size: 12px; font-weight: 600; padding: 2px 10px; border-radius: 999px; color: #fff; background: var(--muted); }
.rt .state.released, .rt .state.succeeded { background: var(--ok); }
.rt .state.building, .rt .state.promoting, .rt .state.rolling_back, .rt .state.running, .rt .state.requested { background: var(--run); }
.rt .state.soaking, .rt .state.held { background: var(--wait); }
.rt .state.failed, .rt .state.cancelled, .rt .state.stopped { background: var(--bad); }
.rt .summary { font-size: 15px; margin: 4px 0 10px; }
.rt dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
.rt dt { color: var(--muted); }
.rt dd { margin: 0; }
.rt .countdown { margin: 12px 0 0; padding: 10px 14px; border-left: 4px solid var(--wait); background: #fff8ec; }
.rt .countdown b { font-size: 18px; font-variant-numeric: tabular-nums; }
.rt .waiting li { color: var(--wait); }
.rt table { border-collapse: collapse; width: 100%; }
.rt th, .rt td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
.rt th { font-size: 12px; color: var(--muted); font-weight: 600; }
.rt code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.rt ol.timeline { list-style: none; margin: 0; padding: 0; }
.rt ol.timeline li { padding: 5px 0; border-bottom: 1px dashed var(--line); display: grid; grid-template-columns: 190px 1fr; gap: 12px; }
.rt ol.timeline time, .rt .muted { color: var(--muted); }
.rt .change { color: var(--muted); font-size: 12px; }
"#;

/// Ticks the countdowns between refreshes, from the server's clock (which may be a
/// simulated one), not the browser's. The page's only script; the widget has none.
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

/// Where the content is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `trainctl serve`'s page: a whole HTML document.
    Page,
    /// A CloudWatch custom widget: a fragment, without script.
    Widget,
}

/// What the page shows.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The train's name (`[train] name`).
    pub name: &'a str,
    /// Where it runs, for the header: "local mode" or the account.
    pub origin: &'a str,
    /// Newest first.
    pub trains: &'a [TrainView],
    pub schedule: Option<&'a ScheduleView>,
    /// The train's zone: every time is shown in it.
    pub zone: Tz,
    pub now: DateTime<Utc>,
}

/// The views the page shows, read through the engine: the newest [`TRAINS`] trains and the
/// schedule's controls (none when they cannot be read: the page still shows the trains).
pub async fn gather(
    engine: &Engine,
    now: DateTime<Utc>,
) -> Result<(Vec<TrainView>, Option<ScheduleView>), EngineError> {
    let query = ListQuery {
        limit: TRAINS,
        ..ListQuery::default()
    };
    let trains = engine.list(&query).await?;
    let views = trains.iter().map(|t| TrainView::new(t, now)).collect();
    let schedule = engine
        .schedule_controls()
        .await
        .ok()
        .map(|c| ScheduleView::new(engine, c, now));
    Ok((views, schedule))
}

/// The page in `frame`. The current train is the newest one still on its way, or else the
/// newest.
pub fn render(view: &View<'_>, frame: Frame) -> String {
    let content = content(view);
    match frame {
        Frame::Widget => html! {
            // CloudWatch's own table and heading styles would fight the page's.
            div class="cwdb-no-default-styles" {}
            style { (PreEscaped(STYLE)) }
            (content)
        }
        .into_string(),
        Frame::Page => {
            let title = current(view.trains).map_or_else(
                || format!("release-train {}: no train yet", view.name),
                |t| format!("release-train {}: {} {}", view.name, t.id, t.state),
            );
            html! {
                (DOCTYPE)
                html lang="en" {
                    head {
                        meta charset="utf-8";
                        meta name="viewport" content="width=device-width, initial-scale=1";
                        meta http-equiv="refresh" content="15";
                        title { (title) }
                        style { "body { margin: 0; background: #f6f7f9; }" (PreEscaped(STYLE)) }
                    }
                    body {
                        (content)
                        script { (PreEscaped(SCRIPT)) }
                    }
                }
            }
            .into_string()
        }
    }
}

fn current(trains: &[TrainView]) -> Option<&TrainView> {
    trains
        .iter()
        .find(|t| !t.state.is_terminal())
        .or_else(|| trains.first())
}

/// The same in both frames.
fn content(view: &View<'_>) -> Markup {
    let (zone, now) = (view.zone, view.now);
    let current = current(view.trains);
    html! {
        div class="rt" {
            header {
                h1 { "release-train · " (view.name) }
                span { (view.origin) ", read-only · " (local(now, zone)) }
                @if let Some(s) = view.schedule { (schedule_line(s, zone)) }
            }
            main {
                @match current {
                    Some(t) => (train_section(t, zone, now)),
                    None => section id="current" {
                        h2 { "No train yet" }
                        p { "The first train is cut at the next cut time." }
                    },
                }
                (past_section(view.trains, current, zone))
            }
        }
    }
}

/// The one time format (the train's zone, with its abbreviation).
fn local(t: DateTime<Utc>, zone: Tz) -> String {
    train_core::text::when(t, zone)
}

/// How long a running build has run ("3m12s"); none for a build not running.
pub fn running_for(b: &Build, now: DateTime<Utc>) -> Option<String> {
    match (b.status, b.started_at) {
        (train_core::BuildStatus::Running, Some(at)) => Some(train_core::text::elapsed(now - at)),
        _ => None,
    }
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

fn countdown(
    id: &str,
    what: &Markup,
    until: DateTime<Utc>,
    zone: Tz,
    now: DateTime<Utc>,
) -> Markup {
    html! {
        p class="countdown" id=(id) {
            (what) " "
            b data-remaining=((until - now).num_seconds()) { (remaining(until - now)) }
            " at " (local(until, zone))
        }
    }
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
                (countdown("countdown", &html! { "Soak ends in" }, *until, zone, now))
            }
            @if let Some(bake) = &t.bake && !t.state.is_terminal() && bake.until > now {
                (countdown(
                    "bake",
                    &html! { "Wave " (bake.wave) " bakes; wave " (bake.next) " starts in" },
                    bake.until,
                    zone,
                    now,
                ))
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

    fn view<'a>(name: &'a str, trains: &'a [TrainView]) -> View<'a> {
        View {
            name,
            origin: "local mode",
            trains,
            schedule: None,
            zone: chrono_tz::UTC,
            now: Utc::now(),
        }
    }

    #[test]
    fn text_from_people_is_escaped_and_nothing_is_loaded_from_elsewhere() {
        for frame in [Frame::Page, Frame::Widget] {
            let page = render(&view("weekly<script>", &[]), frame);
            assert!(page.contains("weekly&lt;script&gt;"), "{page}");
            assert!(!page.contains("weekly<script>"));
            assert!(page.contains("No train yet"));
            for external in ["src=", "href=", "@import", "url("] {
                assert!(!page.contains(external), "{external} in {page}");
            }
        }
    }

    #[test]
    fn the_widget_is_the_page_s_content_without_script_or_document() {
        let v = view("weekly", &[]);
        let page = render(&v, Frame::Page);
        let widget = render(&v, Frame::Widget);
        let div = |s: &str| s[s.find("<div class=\"rt\">").unwrap()..].to_owned();
        let page_div = div(&page);
        let page_div = &page_div[..page_div.find("<script>").unwrap()];
        assert_eq!(div(&widget), page_div, "one renderer, two frames");
        for document in ["<html", "<script", "<meta", "<!DOCTYPE"] {
            assert!(!widget.contains(document), "{document} in the widget");
        }
        assert!(widget.contains("cwdb-no-default-styles"));
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
