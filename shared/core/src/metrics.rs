//! Every metric the core emits, in one list: the EMF writer, the dashboard and its alarms
//! are built from it, so a renamed metric cannot leave a dead widget. The train emits by
//! [`MetricName`], so a name outside the list does not compile.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::TrainId;
use crate::train::{Metric, Unit};

/// The CloudWatch namespace of the train's metrics.
pub const NAMESPACE: &str = "ReleaseTrain";

/// Declares [`MetricName`] and [`MetricName::ALL`] together, so `ALL` lists every name.
macro_rules! metric_names {
    ($($name:ident),+ $(,)?) => {
        /// The name of every metric the core emits: the train emits by these, so a name
        /// outside the list does not compile, and a test holds [`ALL`](self::ALL) to one
        /// definition for each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum MetricName {
            $($name),+
        }

        impl MetricName {
            pub const ALL: &'static [Self] = &[$(Self::$name),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name)),+
                }
            }
        }
    };
}

metric_names! {
    TrainsCut,
    BuildDuration,
    BuildFailures,
    SoakTime,
    TimeToRelease,
    Releases,
    LeadTime,
    ChangeFailures,
    TimeToRestore,
    TrainsFailed,
    Cancellations,
    Holds,
    PromotionsDeferred,
    Rollbacks,
    TimeInState,
    FiringsMissed,
}

impl std::fmt::Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric: its name, unit, the dimension sets it is published under and what it
/// measures. A metric with several sets is also published rolled up (e.g. build failures
/// per component and stage, and per stage alone for the alarm on production failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: MetricName,
    pub unit: Unit,
    pub dimensions: &'static [&'static [&'static str]],
    pub what: &'static str,
}

const NONE: &[&[&str]] = &[&[]];
const BY_CAUSE: &[&[&str]] = &[&["Cause"]];
const BY_CAUSE_AND_ALL: &[&[&str]] = &[&["Cause"], &[]];
const BY_SCHEDULE: &[&[&str]] = &[&["Schedule"]];
/// Builds by stage only. The component is a property of the line, not a dimension: one
/// series per component and stage would be four custom metrics per component ($0.30 a
/// metric-month each, prorated by the hour it is sent) for what Logs Insights reads from
/// the same lines and the dashboard's widget shows per component.
const BY_BUILD: &[&[&str]] = &[&["Stage"]];

pub const ALL: &[MetricDef] = &[
    MetricDef {
        name: MetricName::TrainsCut,
        unit: Unit::Count,
        dimensions: NONE,
        what: "trains cut",
    },
    MetricDef {
        name: MetricName::BuildDuration,
        unit: Unit::Seconds,
        dimensions: BY_BUILD,
        what: "build duration per stage (the component is the line's Component property)",
    },
    MetricDef {
        name: MetricName::BuildFailures,
        unit: Unit::Count,
        dimensions: BY_BUILD,
        what: "failed or stopped builds",
    },
    MetricDef {
        name: MetricName::SoakTime,
        unit: Unit::Seconds,
        dimensions: NONE,
        what: "actual soak time, from the last green staging build to the promotion",
    },
    MetricDef {
        name: MetricName::TimeToRelease,
        unit: Unit::Seconds,
        dimensions: NONE,
        what: "time from cut to release",
    },
    MetricDef {
        name: MetricName::Releases,
        unit: Unit::Count,
        dimensions: NONE,
        what: "released trains; their sum per week is the deployment frequency",
    },
    MetricDef {
        name: MetricName::LeadTime,
        unit: Unit::Seconds,
        dimensions: NONE,
        what: "lead time: from the oldest commit a train ships to its release",
    },
    MetricDef {
        name: MetricName::ChangeFailures,
        unit: Unit::Count,
        dimensions: BY_CAUSE_AND_ALL,
        what: "released trains that failed (rolled back, or followed by an expedited fix); over Releases, the change failure rate",
    },
    MetricDef {
        name: MetricName::TimeToRestore,
        unit: Unit::Seconds,
        dimensions: BY_CAUSE_AND_ALL,
        what: "time to restore: from the rollback request to the rollback, or from the expedite to the fix's release",
    },
    MetricDef {
        name: MetricName::TrainsFailed,
        unit: Unit::Count,
        dimensions: NONE,
        what: "failed trains",
    },
    MetricDef {
        name: MetricName::Cancellations,
        unit: Unit::Count,
        dimensions: BY_CAUSE,
        what: "cancellations by cause (person, superseded, alarm)",
    },
    MetricDef {
        name: MetricName::Holds,
        unit: Unit::Count,
        dimensions: BY_CAUSE,
        what: "holds by cause (person, alarm)",
    },
    MetricDef {
        name: MetricName::PromotionsDeferred,
        unit: Unit::Count,
        dimensions: BY_CAUSE,
        what: "promotions deferred by cause (freeze, approval, alarm)",
    },
    MetricDef {
        name: MetricName::Rollbacks,
        unit: Unit::Count,
        dimensions: NONE,
        what: "rolled back releases",
    },
    MetricDef {
        name: MetricName::FiringsMissed,
        unit: Unit::Count,
        dimensions: BY_SCHEDULE,
        what: "schedule firings never delivered and too old to make up for (Schedule: cut)",
    },
    MetricDef {
        name: MetricName::TimeInState,
        unit: Unit::Seconds,
        dimensions: &[&["State"]],
        what: "how long each unsettled train has been in its state (each reconcile pass)",
    },
];

/// The definition of `name`, if the core emits it.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|m| m.name.as_str() == name)
}

/// One metric as a CloudWatch Embedded Metric Format document: the value and the
/// dimensions as top-level keys, the train as a property (too many values to be a
/// dimension; Logs Insights can still filter on it). The functions print these lines;
/// local mode appends them to `metrics.jsonl`.
pub fn emf_line(train: &TrainId, metric: &Metric, at: DateTime<Utc>) -> Value {
    let unit = match metric.unit {
        Unit::Count => "Count",
        Unit::Seconds => "Seconds",
    };
    let sets: Vec<Vec<&str>> = match find(&metric.name) {
        Some(def) => def
            .dimensions
            .iter()
            .map(|set| set.to_vec())
            .filter(|set| set.iter().all(|d| metric.dimensions.contains_key(*d)))
            .collect(),
        None => vec![metric.dimensions.keys().map(String::as_str).collect()],
    };
    let mut doc = serde_json::Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": [{ "Name": metric.name, "Unit": unit }],
            }],
        }),
    );
    for (k, v) in &metric.dimensions {
        doc.insert(k.clone(), Value::from(v.as_str()));
    }
    doc.insert(metric.name.clone(), Value::from(metric.value));
    doc.insert("Train".into(), Value::from(train.as_str()));
    Value::Object(doc)
}

/// What the dashboard names that only the deployment knows. The template passes `${...}`
/// placeholders that CloudFormation's `!Sub` fills in.
#[derive(Debug, Clone)]
pub struct DashboardNames {
    pub region: String,
    /// (label, function name) for each function.
    pub functions: Vec<(String, String)>,
    pub dead_letter_queue: String,
    /// The ARNs of the alarms the dashboard shows.
    pub alarms: Vec<String>,
    /// The ARN of the function that draws the current train (a custom widget).
    pub widget: String,
    /// The log groups the metric lines are in, for Logs Insights widgets.
    pub log_groups: Vec<String>,
}

impl DashboardNames {
    /// The names as `!Sub` placeholders for `infra/template.yaml`.
    pub fn template() -> Self {
        let sub = |s: &str| format!("${{{s}}}");
        Self {
            region: sub("AWS::Region"),
            functions: ["Cut", "Promote", "Events", "Api", "Widget"]
                .iter()
                .map(|f| ((*f).to_owned(), sub(&format!("{f}Function"))))
                .collect(),
            dead_letter_queue: sub("DeadLetterQueue.QueueName"),
            alarms: STUCK_ALARMS
                .iter()
                .map(|(name, _)| *name)
                .chain(OPERATIONS_ALARMS.iter().copied())
                .map(|a| sub(&format!("{a}.Arn")))
                .collect(),
            widget: sub("WidgetFunction.Arn"),
            log_groups: ["Cut", "Promote", "Events", "Api"]
                .iter()
                .map(|f| sub(&format!("{f}Logs")))
                .collect(),
        }
    }
}

/// The template's alarms on the functions and their builds, beside the stuck-train ones.
/// No alarm on the functions' `Errors`: one on every function would be an alarm metric per
/// function ($0.10 a month each) for what the dead-letter queue's alarm already says once
/// retries are spent (a failure a retry fixed needs nobody); the errors are on the
/// dashboard.
pub const OPERATIONS_ALARMS: &[&str] = &[
    "ProductionBuildFailedAlarm",
    "FiringsMissedAlarm",
    "DeadLetterAlarm",
];

/// The template's stuck-train alarms: (resource name, state), one per state a train can
/// be stuck in.
pub const STUCK_ALARMS: &[(&str, crate::train::State)] = &[
    ("TrainStuckBuildingAlarm", crate::train::State::Building),
    ("TrainStuckSoakingAlarm", crate::train::State::Soaking),
    ("TrainStuckHeldAlarm", crate::train::State::Held),
    ("TrainStuckPromotingAlarm", crate::train::State::Promoting),
    (
        "TrainStuckRollingBackAlarm",
        crate::train::State::RollingBack,
    ),
];

const DAY: u32 = 86_400;
const WEEK: u32 = 7 * DAY;

/// A widget's metric line: `[namespace, name, dim, value, ..., options]`.
fn line(name: &str, dims: &[(&str, &str)], options: Value) -> Value {
    let mut out = vec![json!(NAMESPACE), json!(name)];
    for (k, v) in dims {
        out.push(json!(k));
        out.push(json!(v));
    }
    out.push(options);
    Value::Array(out)
}

/// A search over every value of a metric's dimensions (components, causes, states).
fn search(name: &str, dims: &[&str], stat: &str, period: u32, id: &str) -> Value {
    let schema = std::iter::once(NAMESPACE)
        .chain(dims.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    json!([{
        "expression": format!("SEARCH('{{{schema}}} MetricName=\"{name}\"', '{stat}', {period})"),
        "id": id,
    }])
}

/// One graph: its title, its view and its metric lines.
fn graph(title: &str, view: &str, metrics: Vec<Value>) -> (String, String, Vec<Value>) {
    (title.to_owned(), view.to_owned(), metrics)
}

/// The delivery figures, then the trains, then causes, builds and the functions.
fn rows(names: &DashboardNames) -> Vec<Vec<(String, String, Vec<Value>)>> {
    let sum = |period: u32| json!({ "stat": "Sum", "period": period });
    let avg = |period: u32| json!({ "stat": "Average", "period": period });
    let weekly = |stat: &str, label: &str| json!({ "stat": stat, "period": WEEK, "label": label });
    let hidden = |id: &str| json!({ "stat": "Sum", "period": WEEK, "id": id, "visible": false });
    vec![
        vec![
            graph("Deployment frequency (releases per week)", "timeSeries", vec![
                line("Releases", &[], weekly("Sum", "releases")),
            ]),
            graph("Lead time (oldest commit to release, s)", "timeSeries", vec![
                line("LeadTime", &[], weekly("Average", "average")),
                line("LeadTime", &[], weekly("Maximum", "longest")),
            ]),
            graph("Change failure rate (%)", "timeSeries", vec![
                json!([{ "expression": "100 * FILL(failures, 0) / releases", "label": "failed releases %", "id": "rate" }]),
                line("ChangeFailures", &[], hidden("failures")),
                line("Releases", &[], hidden("releases")),
            ]),
            graph("Time to restore (s)", "timeSeries", vec![
                line("TimeToRestore", &[], weekly("Average", "average")),
            ]),
        ],
        vec![
            graph("Trains per day", "bar", ["TrainsCut", "Releases", "TrainsFailed", "Rollbacks"]
                .iter()
                .map(|m| line(m, &[], sum(DAY)))
                .chain([line("FiringsMissed", &[("Schedule", "cut")], sum(DAY))])
                .collect()),
            graph("Soak and cut-to-release time (s)", "timeSeries", vec![
                line("SoakTime", &[], avg(DAY)),
                line("TimeToRelease", &[], avg(DAY)),
            ]),
        ],
        vec![
            graph("Cancellations and holds by cause", "bar", vec![
                search("Cancellations", &["Cause"], "Sum", DAY, "cancellations"),
                search("Holds", &["Cause"], "Sum", DAY, "holds"),
            ]),
            graph("Promotions deferred by cause", "bar", vec![
                search("PromotionsDeferred", &["Cause"], "Sum", DAY, "deferred"),
            ]),
            graph("Time in state, unsettled trains (s)", "timeSeries", vec![
                search("TimeInState", &["State"], "Maximum", 300, "state"),
            ]),
        ],
        vec![
            graph("Build duration by stage (s)", "timeSeries", ["staging", "production"]
                .iter()
                .map(|s| line("BuildDuration", &[("Stage", s)], avg(DAY)))
                .collect()),
            graph("Build failures by stage", "bar", ["staging", "production"]
                .iter()
                .map(|s| line("BuildFailures", &[("Stage", s)], sum(DAY)))
                .collect()),
        ],
        vec![
            graph("Function errors", "timeSeries", names
                .functions
                .iter()
                .map(|(label, f)| json!(["AWS/Lambda", "Errors", "FunctionName", f, { "stat": "Sum", "period": 300, "label": label }]))
                .collect()),
            graph("Dead-letter queue (messages)", "timeSeries", vec![
                json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names.dead_letter_queue, { "stat": "Maximum", "period": 300 }]),
            ]),
        ],
    ]
}

/// The CloudWatch dashboard, built from [`ALL`]: a test checks that it names only metrics
/// the core emits, under dimensions they are published with, and every one of them.
/// The current train comes first, drawn by the widget function (the local status page's
/// renderer); each row's graphs share the 24-column width; the alarms close the last row.
pub fn dashboard(names: &DashboardNames) -> Value {
    const HEIGHT: usize = 6;
    const TRAIN: usize = 14;
    let mut widgets = vec![
        json!({
            "type": "custom", "x": 0, "y": 0, "width": 24, "height": TRAIN,
            "properties": {
                "title": "Current train",
                "endpoint": names.widget,
                "updateOn": { "refresh": true, "resize": false, "timeRange": false },
            }
        }),
        json!({
            "type": "text", "x": 0, "y": TRAIN, "width": 24, "height": 2,
            "properties": { "markdown": "# Release train\nEvery metric is in the `ReleaseTrain` namespace; each log line's `Train` property names its train (CloudWatch Logs Insights: `filter Train = \"weekly-2026-W48\"`). The widget above shows the current train and why it waits (read-only: act with `trainctl`); its events are on the train bus." }
        }),
    ];
    let rows = rows(names);
    let last = rows.len() - 1;
    for (i, row) in rows.into_iter().enumerate() {
        let y = TRAIN + 2 + i * HEIGHT;
        let cells = row.len() + usize::from(i == last);
        let width = 24 / cells;
        for (j, (title, view, metrics)) in row.into_iter().enumerate() {
            widgets.push(json!({
                "type": "metric", "x": j * width, "y": y, "width": width, "height": HEIGHT,
                "properties": { "title": title, "region": names.region, "view": view, "metrics": metrics },
            }));
        }
        if i == last {
            widgets.push(json!({
                "type": "alarm", "x": (cells - 1) * width, "y": y, "width": width, "height": HEIGHT,
                "properties": { "title": "Alarms", "alarms": names.alarms },
            }));
        }
    }
    // Per component: from the metric lines' properties (Logs Insights), not from a metric
    // series per component.
    let sources = names.log_groups.iter().fold(String::new(), |mut s, g| {
        let _ = write!(s, "SOURCE '{g}' | ");
        s
    });
    widgets.push(json!({
        "type": "log", "x": 0, "y": TRAIN + 2 + (last + 1) * HEIGHT, "width": 24, "height": HEIGHT,
        "properties": {
            "title": "Builds by component (from the metric lines in the logs)",
            "region": names.region,
            "view": "table",
            "query": format!("{sources}filter ispresent(BuildDuration) or ispresent(BuildFailures) | stats count(BuildDuration) as builds, avg(BuildDuration) as average_s, max(BuildDuration) as longest_s, sum(BuildFailures) as failed by Component, Stage | sort average_s desc | limit 100"),
        },
    }));
    json!({ "start": "-P30D", "widgets": widgets })
}

/// [`dashboard`] as the template holds it: one widget per line, so a change reads as a
/// one-line diff.
pub fn dashboard_text(names: &DashboardNames) -> String {
    let board = dashboard(names);
    let widgets: Vec<String> = board["widgets"]
        .as_array()
        .map(|w| w.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    format!(
        "{{\"start\": {}, \"widgets\": [\n  {}\n]}}",
        board["start"],
        widgets.join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metric names the train's source emits (`MetricName::X` in its calls).
    fn emitted() -> Vec<String> {
        let source = concat!(
            include_str!("train/mod.rs"),
            include_str!("train/announce.rs"),
            include_str!("train/builds.rs"),
            include_str!("train/commands.rs"),
            include_str!("train/events.rs"),
            include_str!("train/gates.rs"),
            include_str!("train/model.rs"),
            include_str!("train/promotion.rs"),
            include_str!("train/rollback.rs"),
            include_str!("catchup.rs"),
        );
        source
            .split("MetricName::")
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect()
            })
            .collect()
    }

    /// Each name has one definition (the compiler already refuses an emitted name that is
    /// not a `MetricName`), and every definition is emitted somewhere: a metric nobody
    /// emits would be a dead widget on the dashboard.
    #[test]
    fn every_metric_name_is_defined_once_and_emitted() {
        for &name in MetricName::ALL {
            assert_eq!(
                ALL.iter().filter(|d| d.name == name).count(),
                1,
                "{name} must have exactly one definition in metrics::ALL"
            );
        }
        assert_eq!(ALL.len(), MetricName::ALL.len());
        let emitted = emitted();
        for m in ALL {
            assert!(
                emitted.iter().any(|e| e == m.name.as_str()),
                "{} is listed but never emitted",
                m.name
            );
        }
    }

    /// The `ReleaseTrain` metrics a dashboard references: (name, dimension names).
    fn referenced(dashboard: &Value) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for widget in dashboard["widgets"].as_array().unwrap() {
            let Some(lines) = widget["properties"]["metrics"].as_array() else {
                continue;
            };
            for line in lines {
                let items = line.as_array().unwrap();
                if items[0] == NAMESPACE {
                    let dims = items[2..]
                        .iter()
                        .take_while(|v| v.is_string())
                        .step_by(2)
                        .map(|d| d.as_str().unwrap().to_owned())
                        .collect();
                    out.push((items[1].as_str().unwrap().to_owned(), dims));
                } else if let Some(expr) = items[0]["expression"].as_str()
                    && let Some(rest) = expr.strip_prefix("SEARCH('{")
                {
                    let (schema, rest) = rest.split_once('}').unwrap();
                    let mut parts = schema.split(',');
                    assert_eq!(parts.next(), Some(NAMESPACE), "{expr}");
                    let name = rest
                        .split("MetricName=\"")
                        .nth(1)
                        .and_then(|n| n.split('"').next())
                        .unwrap();
                    out.push((name.to_owned(), parts.map(str::to_owned).collect()));
                }
            }
        }
        out
    }

    #[test]
    fn the_dashboard_shows_every_emitted_metric_and_only_those() {
        let board = dashboard(&DashboardNames::template());
        let text = serde_json::to_string(&board).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert!(reparsed["widgets"].as_array().unwrap().len() >= 10);
        let referenced = referenced(&reparsed);
        for (name, dims) in &referenced {
            let def = find(name).unwrap_or_else(|| panic!("dashboard names {name}, never emitted"));
            assert!(
                def.dimensions.iter().any(|set| set.len() == dims.len()
                    && set.iter().all(|d| dims.contains(&(*d).to_owned()))),
                "{name} is shown under {dims:?}, published under {:?}",
                def.dimensions
            );
        }
        for def in ALL {
            assert!(
                referenced.iter().any(|(n, _)| n == def.name.as_str()),
                "{} is emitted but not on the dashboard",
                def.name
            );
        }
        // Widgets stay on the 24-column grid and do not overlap.
        let mut cells = std::collections::HashSet::new();
        for w in reparsed["widgets"].as_array().unwrap() {
            let n = |k: &str| w[k].as_u64().unwrap();
            assert!(n("x") + n("width") <= 24, "{w}");
            for x in n("x")..n("x") + n("width") {
                for y in n("y")..n("y") + n("height") {
                    assert!(cells.insert((x, y)), "widgets overlap at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn a_renamed_metric_would_leave_the_dashboard_check_failing() {
        // The check above is only worth something if it notices a dead widget.
        let mut board = dashboard(&DashboardNames::template());
        let first = board["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .position(|w| w["type"] == "metric")
            .unwrap();
        board["widgets"][first]["properties"]["metrics"][0][1] = json!("ReleasesRenamed");
        let referenced = referenced(&board);
        assert!(referenced.iter().any(|(n, _)| find(n).is_none()));
    }

    /// The EMF specification's rules, checked on a line for every metric the core emits.
    #[test]
    fn every_metric_becomes_an_emf_document_cloudwatch_accepts() {
        let train = TrainId::parse("weekly-2026-W48").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for def in ALL {
            let keys: std::collections::BTreeSet<&str> = def
                .dimensions
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            let metric = Metric {
                name: def.name.as_str().to_owned(),
                value: 42.5,
                unit: def.unit,
                dimensions: keys
                    .iter()
                    .map(|d| ((*d).to_owned(), "x".to_owned()))
                    .collect(),
            };
            let doc = emf_line(&train, &metric, at);
            let aws = &doc["_aws"];
            assert_eq!(aws["Timestamp"], 1_795_593_600_000_i64, "{doc}");
            let directive = &aws["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "ReleaseTrain");
            let sets = directive["Dimensions"].as_array().unwrap();
            assert_eq!(sets.len(), def.dimensions.len(), "{doc}");
            for set in sets {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30);
                for d in set {
                    assert!(
                        doc[d.as_str().unwrap()].is_string(),
                        "dimension {d} is a top-level string: {doc}"
                    );
                }
            }
            let metrics = directive["Metrics"].as_array().unwrap();
            assert_eq!(metrics.len(), 1);
            let name = metrics[0]["Name"].as_str().unwrap();
            assert_eq!(doc[name], 42.5, "the value is a top-level number: {doc}");
            let unit = metrics[0]["Unit"].as_str().unwrap();
            assert_eq!(
                unit,
                if def.unit == Unit::Count {
                    "Count"
                } else {
                    "Seconds"
                }
            );
            assert_eq!(doc["Train"], "weekly-2026-W48");
        }
    }
}
