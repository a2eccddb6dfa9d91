//! What a month of the train costs on AWS, counted rather than guessed: a month of the
//! configured train runs through the core ([`crate::Train::on`], every build succeeding
//! after [`Assumptions::build_minutes`], the reconcile pass ticking as the template's
//! schedule does), and every effect it decides is counted: each metric series and the hours
//! it is sent in, the events, the manifests, the builds, the bytes each commit writes. The
//! schedules give the invocations; the request profile of each invocation was measured on
//! the functions (the constants below say where); everything is priced at the published
//! us-east-1 rates in [`PRICES`]. `trainctl cost --config FILE` prints the table.
//!
//! Not in the bill: the builds themselves (CodeBuild minutes are the teams' own, with or
//! without a train), data transfer (the functions talk to regional endpoints), and free
//! tiers (shown apart: the account's first three dashboards, ten alarm metrics and so on).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::metrics::{self, OPERATIONS_ALARMS, STUCK_ALARMS};
use crate::train::{BuildOutcome, BuildRequest, Effect, Event, Metric, Pending};
use crate::{BuildId, Commit, Config, Train};

/// A published price: what it is for, its unit, the rate, and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub item: &'static str,
    pub unit: &'static str,
    pub usd: f64,
    pub source: &'static str,
}

/// The us-east-1 rates the bill uses (read 2026-12; the AWS pricing pages and the AWS
/// Pricing whitepaper "How AWS Pricing Works").
pub const PRICES: &[Price] = &[
    Price {
        item: "custom metric",
        unit: "metric-month (730 h, prorated by the hour it is sent)",
        usd: 0.30,
        source: "Amazon CloudWatch pricing: custom metrics, first 10,000; \"All custom metrics are prorated by the hour\" (CloudWatch User Guide, cloudwatch_billing)",
    },
    Price {
        item: "alarm metric",
        unit: "alarm metric-month, standard resolution",
        usd: 0.10,
        source: "Amazon CloudWatch pricing: alarms",
    },
    Price {
        item: "dashboard",
        unit: "dashboard-month",
        usd: 3.00,
        source: "Amazon CloudWatch pricing: dashboards (the first 3 of an account are free)",
    },
    Price {
        item: "log ingestion",
        unit: "GB",
        usd: 0.50,
        source: "Amazon CloudWatch pricing: logs, standard ingestion (EMF lines are logs: \"Charges are incurred for logs ingestion and archival, and custom metrics that are generated\")",
    },
    Price {
        item: "log storage",
        unit: "GB-month",
        usd: 0.03,
        source: "Amazon CloudWatch pricing: logs, archival",
    },
    Price {
        item: "Logs Insights",
        unit: "GB scanned",
        usd: 0.005,
        source: "Amazon CloudWatch pricing: Logs Insights queries",
    },
    Price {
        item: "Lambda requests",
        unit: "million requests",
        usd: 0.20,
        source: "AWS Lambda pricing",
    },
    Price {
        item: "Lambda duration, arm64",
        unit: "GB-second",
        usd: 0.000_013_333_4,
        source: "AWS Lambda pricing, Arm",
    },
    Price {
        item: "DynamoDB writes",
        unit: "million write request units",
        usd: 0.625,
        source: "Amazon DynamoDB on-demand pricing (November 2024 rates)",
    },
    Price {
        item: "DynamoDB reads",
        unit: "million read request units",
        usd: 0.125,
        source: "Amazon DynamoDB on-demand pricing (November 2024 rates)",
    },
    Price {
        item: "DynamoDB storage",
        unit: "GB-month",
        usd: 0.25,
        source: "Amazon DynamoDB pricing: storage (first 25 GB free)",
    },
    Price {
        item: "DynamoDB backups (PITR)",
        unit: "GB-month",
        usd: 0.20,
        source: "Amazon DynamoDB pricing: continuous backups",
    },
    Price {
        item: "S3 PUT",
        unit: "1,000 requests",
        usd: 0.005,
        source: "Amazon S3 pricing: S3 Standard PUT, COPY, POST, LIST",
    },
    Price {
        item: "S3 storage",
        unit: "GB-month",
        usd: 0.023,
        source: "Amazon S3 pricing: S3 Standard",
    },
    Price {
        item: "EventBridge custom events",
        unit: "million events",
        usd: 1.00,
        source: "Amazon EventBridge pricing: custom events published (AWS service events to the default bus are free)",
    },
    Price {
        item: "Scheduler invocations",
        unit: "million invocations",
        usd: 1.00,
        source: "Amazon EventBridge Scheduler pricing (the first 14 million a month are free)",
    },
    Price {
        item: "SNS publishes",
        unit: "million requests",
        usd: 0.50,
        source: "Amazon SNS pricing: publishes (first million free)",
    },
    Price {
        item: "SNS email",
        unit: "100,000 notifications",
        usd: 2.00,
        source: "Amazon SNS pricing: email deliveries (first 1,000 free)",
    },
    Price {
        item: "API Gateway HTTP API",
        unit: "million requests",
        usd: 1.00,
        source: "Amazon API Gateway pricing: HTTP APIs, first 300 million",
    },
    Price {
        item: "CodePipeline V1",
        unit: "active pipeline-month",
        usd: 1.00,
        source: "AWS CodePipeline pricing: V1, a pipeline with at least one code change that month",
    },
    Price {
        item: "CodePipeline V2",
        unit: "action execution minute",
        usd: 0.002,
        source: "AWS CodePipeline pricing: V2 (100 free minutes a month)",
    },
];

fn price(item: &str) -> f64 {
    PRICES
        .iter()
        .find(|p| p.item == item)
        .map_or(0.0, |p| p.usd)
}

/// What the bill assumes beyond the configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// The month counted starts here (the first hour of a calendar month).
    pub start: DateTime<Utc>,
    /// CloudWatch's metric-month.
    pub hours: i64,
    /// How long each build runs.
    pub build_minutes: u32,
    /// The template's `ReconcileSchedule` (default `rate(5 minutes)`).
    pub reconcile_minutes: i64,
    /// Operator commands and status reads through the API each week.
    pub api_calls_per_week: u32,
    /// Times someone opens the dashboard each day (the widget and the Logs Insights table
    /// run on each view).
    pub dashboard_views_per_day: u32,
    /// Each function's memory (the template's 256 MB).
    pub memory_mb: u32,
    /// The template's `LogRetentionDays`.
    pub log_retention_days: u32,
    /// An address subscribed with `NotifyEmail`.
    pub email: bool,
}

impl Assumptions {
    pub fn for_month(start: DateTime<Utc>) -> Self {
        Self {
            start,
            hours: 730,
            build_minutes: 10,
            reconcile_minutes: 5,
            api_calls_per_week: 20,
            dashboard_views_per_day: 10,
            memory_mb: 256,
            log_retention_days: 90,
            email: true,
        }
    }
}

/// What the functions do per invocation. The reads were measured: the DynamoDB calls each
/// kind of invocation made through the functions' handlers on the emulator, a 30-component
/// week (`shared/lambda/tests/cost.rs` holds these figures to what the code does, and fails
/// when they drift). The durations (at 256 MB, rounded up) and the log bytes (Lambda's
/// START/END/REPORT lines in JSON and the invocation's own line; the metric lines are
/// counted one by one) are estimates from the end-to-end tests' logs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    pub kind: &'static str,
    /// DynamoDB reads of a few small items (an index page, a header, a component): about
    /// one read unit each.
    pub reads: f64,
    /// Whole-train reads (one read unit per 4 KB of the train's items).
    pub train_reads: f64,
    pub milliseconds: f64,
    pub log_bytes: f64,
}

/// The profiles (see [`Profile`]); the widget lists the newest 20 trains
/// (`train_page::TRAINS`), one whole-train read each once a year of trains is stored.
pub const PROFILES: &[Profile] = &[
    Profile {
        kind: "reconcile pass",
        reads: 3.0,
        train_reads: 0.0,
        milliseconds: 60.0,
        log_bytes: 1_400.0,
    },
    Profile {
        kind: "reconcile pass, a train on its way",
        reads: 4.0,
        train_reads: 1.0,
        milliseconds: 90.0,
        log_bytes: 1_600.0,
    },
    Profile {
        kind: "cut firing",
        reads: 4.0,
        train_reads: 1.0,
        milliseconds: 600.0,
        log_bytes: 1_800.0,
    },
    Profile {
        kind: "promote firing",
        reads: 5.0,
        train_reads: 2.0,
        milliseconds: 600.0,
        log_bytes: 1_800.0,
    },
    Profile {
        kind: "build event",
        reads: 1.1,
        train_reads: 0.1,
        milliseconds: 60.0,
        log_bytes: 1_400.0,
    },
    Profile {
        kind: "API call",
        reads: 0.0,
        train_reads: 1.0,
        milliseconds: 100.0,
        log_bytes: 1_500.0,
    },
    Profile {
        kind: "widget view",
        reads: 2.0,
        train_reads: 20.0,
        milliseconds: 150.0,
        log_bytes: 1_300.0,
    },
];

fn profile(kind: &str) -> Profile {
    PROFILES
        .iter()
        .copied()
        .find(|p| p.kind == kind)
        .unwrap_or(PROFILES[0])
}

/// What a simulated month of the train did, as counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub trains: u32,
    pub builds: u32,
    pub commits: u32,
    /// Bytes each commit wrote (changed components, audit records, outbox pages).
    pub bytes_written: u64,
    /// The size of a whole train's items, largest seen.
    pub train_bytes: u64,
    pub events: u32,
    pub event_bytes: u64,
    pub manifests: u32,
    /// Each metric series (name and dimension values) and the hours it was sent in.
    pub series: BTreeMap<String, BTreeSet<i64>>,
    pub metric_lines: u32,
    pub metric_line_bytes: u64,
    pub invocations: BTreeMap<&'static str, u32>,
}

impl Counts {
    pub fn metric_hours(&self) -> usize {
        self.series.values().map(BTreeSet::len).sum()
    }
}

/// One line of the bill.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub service: &'static str,
    pub what: String,
    pub quantity: f64,
    pub unit: &'static str,
    pub usd: f64,
}

/// The month's bill: the lines of the service, the dashboard apart (an account's first
/// three are free), and what the anchor (`CodePipeline`) would cost for the same components.
#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub assumptions: Assumptions,
    pub counts: Counts,
    pub lines: Vec<Line>,
    pub dashboard: Line,
    pub anchors: Vec<Line>,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.usd).sum()
    }
}

/// Runs the month and prices it.
pub fn month(config: &Config, a: &Assumptions) -> Bill {
    let counts = Month::new(config, a).run();
    let mut lines = cloudwatch(a, &counts);
    lines.extend(compute(a, &counts));
    lines.extend(storage_and_messages(a, &counts));
    let dashboard = Line {
        service: "CloudWatch",
        what: "dashboard (free for an account's first three)".into(),
        quantity: 1.0,
        unit: "dashboard",
        usd: price("dashboard"),
    };
    let components = f64::from(u32::try_from(config.components.len()).unwrap_or(u32::MAX));
    let action_minutes = f64::from(counts.builds) * f64::from(a.build_minutes);
    let anchors = vec![
        Line {
            service: "CodePipeline V1",
            what: format!(
                "one pipeline per component ({components}), each with a change that month"
            ),
            quantity: components,
            unit: "active pipeline",
            usd: components * price("CodePipeline V1"),
        },
        Line {
            service: "CodePipeline V2",
            what: format!(
                "the same {} builds as actions of {} minutes",
                counts.builds, a.build_minutes
            ),
            quantity: action_minutes,
            unit: "action minute",
            usd: action_minutes * price("CodePipeline V2"),
        },
    ];
    Bill {
        assumptions: a.clone(),
        counts,
        lines,
        dashboard,
        anchors,
    }
}

/// What happens next in the simulated month.
#[derive(Debug)]
enum Due {
    Started(BuildRequest),
    Finished(BuildRequest),
    Promote,
    Tick,
}

/// The month's events in time order (in the order they were queued at the same time).
#[derive(Debug, Default)]
struct Queue {
    due: BTreeMap<(DateTime<Utc>, u64), Due>,
    queued: u64,
}

impl Queue {
    fn push(&mut self, at: DateTime<Utc>, due: Due) {
        self.queued += 1;
        self.due.insert((at, self.queued), due);
    }

    fn pop(&mut self) -> Option<(DateTime<Utc>, Due)> {
        self.due.pop_first().map(|((at, _), due)| (at, due))
    }
}

/// The serialized size of a part of the train, as the store writes it.
fn size<T: Serialize>(value: &T) -> u64 {
    serde_json::to_string(value).map_or(0, |s| s.len() as u64)
}

/// A month of the train, run through the core, counted.
struct Month<'a> {
    config: &'a Config,
    a: &'a Assumptions,
    end: DateTime<Utc>,
    commit: Commit,
    counts: Counts,
}

impl<'a> Month<'a> {
    fn new(config: &'a Config, a: &'a Assumptions) -> Self {
        Self {
            config,
            a,
            end: a.start + Duration::hours(a.hours),
            commit: Commit::parse(&"c0ffee".repeat(7)[..40]).unwrap_or_else(|_| unreachable!()),
            counts: Counts::default(),
        }
    }

    fn hour(&self, t: DateTime<Utc>) -> i64 {
        (t - self.a.start).num_hours()
    }

    fn run(mut self) -> Counts {
        let schedule = &self.config.train;
        let mut cut = schedule.cut.next_after(self.a.start - Duration::seconds(1));
        while let Some(at) = cut.filter(|t| *t < self.end) {
            let next = schedule
                .cut
                .next_after(at)
                .unwrap_or(self.end)
                .min(self.end);
            self.train(at, next);
            cut = schedule.cut.next_after(at);
        }
        let c = &mut self.counts;
        let minutes = self.a.reconcile_minutes.max(1);
        let weeks = u32::try_from(self.a.hours / (24 * 7)).unwrap_or(4);
        let days = u32::try_from(self.a.hours / 24).unwrap_or(30);
        let promotes = firings(&schedule.promote, self.a.start, self.end);
        for (kind, n) in [
            ("promote firing", promotes),
            (
                "reconcile pass",
                u32::try_from(self.a.hours * 60 / minutes).unwrap_or(0),
            ),
            ("API call", self.a.api_calls_per_week * weeks),
            ("widget view", self.a.dashboard_views_per_day * days),
        ] {
            *c.invocations.entry(kind).or_default() += n;
        }
        self.counts
    }

    /// One train, from its cut to the next cut (or the month's end).
    fn train(&mut self, cut: DateTime<Utc>, until: DateTime<Utc>) {
        self.counts.trains += 1;
        *self.counts.invocations.entry("cut firing").or_default() += 1;
        let first = Train::cut(self.config, cut, cut);
        let mut train = first.train;
        let mut queue = Queue::default();
        self.counts.commits += 1;
        self.counts.bytes_written += size(&train);
        self.record(&train, &first.effects, cut, &mut queue);
        let schedule = &self.config.train;
        let mut promote = schedule.promote.next_after(cut);
        while let Some(p) = promote.filter(|p| *p < until) {
            queue.push(p, Due::Promote);
            promote = schedule.promote.next_after(p);
        }
        let tick = Duration::minutes(self.a.reconcile_minutes.max(1));
        let mut t = cut + tick;
        while t < until {
            queue.push(t, Due::Tick);
            t += tick;
        }
        while let Some((now, due)) = queue.pop() {
            if train.is_terminal() && matches!(due, Due::Tick) {
                continue;
            }
            let event = self.event(&train, due, now);
            let Ok(next) = train.on(&event, now) else {
                continue;
            };
            if next.changed(&train) {
                self.counts.commits += 1;
                self.counts.bytes_written += written(&train, &next.train, &next.effects);
            }
            self.record(&next.train, &next.effects, now, &mut queue);
            train = next.train;
        }
    }

    fn event(&mut self, train: &Train, due: Due, now: DateTime<Utc>) -> Event {
        let build_id = |req: &BuildRequest| {
            BuildId::parse(&format!("{}:{}", req.idempotency_key, req.attempt))
                .unwrap_or_else(|_| unreachable!("a key is a build id"))
        };
        match due {
            Due::Started(req) => Event::BuildStarted {
                build_id: build_id(&req),
                component: req.component,
                stage: req.stage,
                attempt: req.attempt,
                commit: Some(self.commit.clone()),
                link: None,
            },
            Due::Finished(req) => {
                *self.counts.invocations.entry("build event").or_default() += 1;
                Event::BuildFinished {
                    build_id: build_id(&req),
                    component: req.component,
                    stage: req.stage,
                    attempt: req.attempt,
                    outcome: BuildOutcome::Succeeded {
                        commit: Some(self.commit.clone()),
                    },
                }
            }
            Due::Promote => Event::PromotionDue { scheduled: now },
            Due::Tick => {
                // The reconcile pass measures each unsettled train (`TimeInState`).
                let hour = self.hour(now);
                let c = &mut self.counts;
                c.series
                    .entry(format!("TimeInState State={}", train.state()))
                    .or_default()
                    .insert(hour);
                c.metric_lines += 1;
                c.metric_line_bytes += TIME_IN_STATE_LINE;
                Event::Tick
            }
        }
    }

    /// Counts what a transition decided, and queues the builds it starts.
    fn record(
        &mut self,
        train: &Train,
        effects: &[Pending],
        now: DateTime<Utc>,
        queue: &mut Queue,
    ) {
        let hour = self.hour(now);
        let c = &mut self.counts;
        for p in effects {
            match &p.effect {
                Effect::StartBuild(req) => {
                    c.builds += 1;
                    queue.push(now, Due::Started(req.clone()));
                    let done = now + Duration::minutes(i64::from(self.a.build_minutes));
                    queue.push(done, Due::Finished(req.clone()));
                }
                Effect::Publish(announcement) => {
                    c.events += 1;
                    c.event_bytes += size(&announcement.detail()) + EVENT_ENVELOPE;
                }
                Effect::WriteManifest { .. } => c.manifests += 1,
                Effect::EmitMetric(m) => metric_line(c, &train.id, m, now, hour),
                _ => {}
            }
        }
        c.train_bytes = c.train_bytes.max(size(train));
    }
}

/// The bytes of a `TimeInState` line (the functions' EMF line with its JSON log wrapper).
const TIME_IN_STATE_LINE: u64 = 420;

/// An EventBridge event's envelope around its detail.
const EVENT_ENVELOPE: u64 = 300;

fn firings(schedule: &crate::Schedule, start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
    let mut n = 0;
    let mut at = schedule.next_after(start - Duration::seconds(1));
    while let Some(t) = at.filter(|t| *t < end) {
        n += 1;
        at = schedule.next_after(t);
    }
    n
}

/// One metric line: its series (name and the values of each dimension set it is published
/// under) in the hour it is sent, and its bytes.
fn metric_line(c: &mut Counts, train: &crate::TrainId, m: &Metric, now: DateTime<Utc>, hour: i64) {
    let line = metrics::emf_line(train, m, now);
    c.metric_lines += 1;
    c.metric_line_bytes += size(&line);
    let sets = line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for set in sets {
        let dims: Vec<String> = set
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .map(|d| format!("{d}={}", line[d].as_str().unwrap_or("")))
            .collect();
        c.series
            .entry(format!("{} {}", m.name, dims.join(",")).trim().to_owned())
            .or_default()
            .insert(hour);
    }
}

/// The bytes a commit writes: the components that changed, the new audit records and the
/// outbox page of its effects.
fn written(before: &Train, after: &Train, effects: &[Pending]) -> u64 {
    let components: u64 = after
        .components
        .iter()
        .filter(|(k, v)| before.components.get(*k) != Some(*v))
        .map(|(_, v)| size(v))
        .sum();
    let records: u64 = after
        .history
        .iter()
        .skip(before.history.len())
        .map(size)
        .sum();
    let outbox: u64 = effects.iter().map(size).sum();
    components + records + outbox + 200
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

fn count(c: &Counts, kind: &str) -> f64 {
    f64::from(c.invocations.get(kind).copied().unwrap_or(0))
}

/// Log bytes: every invocation's own lines, and the metric lines.
#[allow(clippy::cast_precision_loss)]
fn log_bytes(c: &Counts) -> f64 {
    let invocations: f64 = c
        .invocations
        .iter()
        .map(|(kind, n)| f64::from(*n) * profile(kind).log_bytes)
        .sum();
    invocations + c.metric_line_bytes as f64
}

#[allow(clippy::cast_precision_loss)]
fn cloudwatch(a: &Assumptions, c: &Counts) -> Vec<Line> {
    let metric_hours = c.metric_hours() as f64;
    let alarms = (STUCK_ALARMS.len() + OPERATIONS_ALARMS.len()) as f64;
    let logs = log_bytes(c);
    let stored = logs * f64::from(a.log_retention_days) / 30.0;
    let views = count(c, "widget view");
    vec![
        Line {
            service: "CloudWatch",
            what: format!(
                "custom metrics: {} series, sent in {metric_hours} series-hours",
                c.series.len()
            ),
            quantity: metric_hours,
            unit: "metric-hour",
            usd: metric_hours / 730.0 * price("custom metric"),
        },
        Line {
            service: "CloudWatch",
            what: "the template's alarms (one metric each)".into(),
            quantity: alarms,
            unit: "alarm",
            usd: alarms * price("alarm metric"),
        },
        Line {
            service: "CloudWatch",
            what: format!("log ingestion ({} metric lines among them)", c.metric_lines),
            quantity: logs / GB,
            unit: "GB",
            usd: logs / GB * price("log ingestion"),
        },
        Line {
            service: "CloudWatch",
            what: format!("log storage ({} days kept)", a.log_retention_days),
            quantity: stored / GB,
            unit: "GB-month",
            usd: stored / GB * price("log storage"),
        },
        Line {
            service: "CloudWatch",
            what: "Logs Insights (the builds-by-component table scans the month's logs per view)"
                .into(),
            quantity: views * logs / GB,
            unit: "GB scanned",
            usd: views * logs / GB * price("Logs Insights"),
        },
    ]
}

fn compute(a: &Assumptions, c: &Counts) -> Vec<Line> {
    let invocations: f64 = c.invocations.values().map(|n| f64::from(*n)).sum();
    let gb_seconds: f64 = c
        .invocations
        .iter()
        .map(|(kind, n)| {
            f64::from(*n) * profile(kind).milliseconds / 1000.0 * f64::from(a.memory_mb) / 1024.0
        })
        .sum();
    let firings = count(c, "cut firing") + count(c, "promote firing") + count(c, "reconcile pass");
    vec![
        Line {
            service: "Lambda",
            what: format!("{invocations} invocations"),
            quantity: invocations / 1e6,
            unit: "million requests",
            usd: invocations / 1e6 * price("Lambda requests"),
        },
        Line {
            service: "Lambda",
            what: format!("duration at {} MB, arm64", a.memory_mb),
            quantity: gb_seconds,
            unit: "GB-s",
            usd: gb_seconds * price("Lambda duration, arm64"),
        },
        Line {
            service: "EventBridge Scheduler",
            what: "cut, promote and reconcile firings (14 million a month are free)".into(),
            quantity: firings / 1e6,
            unit: "million invocations",
            usd: firings / 1e6 * price("Scheduler invocations"),
        },
    ]
}

#[allow(clippy::cast_precision_loss)]
fn storage_and_messages(a: &Assumptions, c: &Counts) -> Vec<Line> {
    // Transactional writes cost 2 units per KB; marking a commit's effects done, 1.
    let write_units = 2.0 * (c.bytes_written as f64 / 1024.0).ceil() + 3.0 * f64::from(c.commits);
    let train_units = (c.train_bytes as f64 / 4096.0).ceil().max(1.0);
    let read_units: f64 = c
        .invocations
        .iter()
        .map(|(kind, n)| {
            let p = profile(kind);
            f64::from(*n) * (p.reads + p.train_reads * train_units)
        })
        .sum();
    // Every train is kept: a year of them, with point-in-time recovery.
    let table_gb = 52.0 * c.train_bytes as f64 / GB;
    let events = f64::from(c.events);
    let api = count(c, "API call");
    let mut lines = vec![
        Line {
            service: "DynamoDB",
            what: format!(
                "writes: {} commits, {} KB",
                c.commits,
                c.bytes_written / 1024
            ),
            quantity: write_units / 1e6,
            unit: "million WRU",
            usd: write_units / 1e6 * price("DynamoDB writes"),
        },
        Line {
            service: "DynamoDB",
            what: format!("reads (a whole train is {} KB)", c.train_bytes / 1024),
            quantity: read_units / 1e6,
            unit: "million RRU",
            usd: read_units / 1e6 * price("DynamoDB reads"),
        },
        Line {
            service: "DynamoDB",
            what: "storage and continuous backups (a year of trains)".into(),
            quantity: table_gb,
            unit: "GB-month",
            usd: table_gb * (price("DynamoDB storage") + price("DynamoDB backups (PITR)")),
        },
        Line {
            service: "S3",
            what: format!("{} manifests", c.manifests),
            quantity: f64::from(c.manifests) / 1000.0,
            unit: "1,000 PUT",
            usd: f64::from(c.manifests) / 1000.0 * price("S3 PUT"),
        },
        Line {
            service: "EventBridge",
            what: format!("{} train events on the bus", c.events),
            quantity: events / 1e6,
            unit: "million events",
            usd: events / 1e6 * price("EventBridge custom events"),
        },
        Line {
            service: "SNS",
            what: "each event to the email and chat topics".into(),
            quantity: 2.0 * events / 1e6,
            unit: "million publishes",
            usd: 2.0 * events / 1e6 * price("SNS publishes"),
        },
        Line {
            service: "API Gateway",
            what: "HTTP API requests".into(),
            quantity: api / 1e6,
            unit: "million requests",
            usd: api / 1e6 * price("API Gateway HTTP API"),
        },
    ];
    if a.email {
        lines.push(Line {
            service: "SNS",
            what: "email deliveries (the first 1,000 a month are free)".into(),
            quantity: events / 1e5,
            unit: "100,000 emails",
            usd: events / 1e5 * price("SNS email"),
        });
    }
    lines
}

/// The bill as the table README shows.
pub fn table(bill: &Bill) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "| service | what | quantity | unit | a month |\n| --- | --- | ---: | --- | ---: |\n",
    );
    for l in &bill.lines {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | ${:.4} |",
            l.service,
            l.what,
            quantity(l.quantity),
            l.unit,
            l.usd
        );
    }
    let _ = writeln!(out, "| **total** | | | | **${:.2}** |", bill.total());
    let d = &bill.dashboard;
    let _ = writeln!(
        out,
        "| {} | {} | 1 | {} | ${:.2} |",
        d.service, d.what, d.unit, d.usd
    );
    for l in &bill.anchors {
        let _ = writeln!(
            out,
            "| *{}* | *{}* | {} | {} | *${:.2}* |",
            l.service,
            l.what,
            quantity(l.quantity),
            l.unit,
            l.usd
        );
    }
    out
}

fn quantity(q: f64) -> String {
    if q >= 100.0 || (q - q.trunc()).abs() < f64::EPSILON {
        format!("{q:.0}")
    } else if q >= 1.0 {
        format!("{q:.2}")
    } else {
        format!("{q:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::fmt::Write as _;

    fn config(components: usize) -> Config {
        let mut text = String::from(
            "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"cron(0 9 ? * MON *)\"\npromote = \"cron(0 9 ? * WED *)\"\nsoak = \"48h\"\n",
        );
        for i in 0..components {
            let _ = write!(
                text,
                "[[component]]\nname = \"c{i:02}\"\nsource = \"r\"\nstaging = {{ project = \"c{i:02}-staging\" }}\nproduction = {{ project = \"c{i:02}-production\" }}\n"
            );
        }
        Config::parse(&text).unwrap()
    }

    #[test]
    fn a_month_of_a_weekly_train_releases_every_train_it_cuts() {
        let start = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let bill = month(&config(30), &Assumptions::for_month(start));
        let c = &bill.counts;
        assert_eq!(
            c.trains, 4,
            "January 2027 has four Mondays after the 1st: {c:?}"
        );
        assert_eq!(c.builds, 4 * 60, "each train builds every component twice");
        assert_eq!(c.invocations["build event"], 4 * 60);
        assert_eq!(c.invocations["reconcile pass"], 730 * 12);
        // No series per component: builds are counted per stage.
        assert!(
            c.series.keys().all(|s| !s.contains("Component")),
            "{:?}",
            c.series.keys()
        );
        assert!(
            c.series.contains_key("BuildDuration Stage=staging"),
            "{:?}",
            c.series.keys()
        );
        assert!(bill.total() < 1.5, "{:#?}", bill.lines);
    }
}
