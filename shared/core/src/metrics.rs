//! Every metric the core emits, in one list: the EMF writer, the dashboard and its alarms
//! are built from it, so a renamed metric cannot leave a dead widget. A test reads the
//! core's source and checks that each emitted name is listed here.

use crate::train::Unit;

/// The CloudWatch namespace of the train's metrics.
pub const NAMESPACE: &str = "ReleaseTrain";

/// One metric: its name, unit, the dimensions it carries and what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
    pub what: &'static str,
}

pub const ALL: &[MetricDef] = &[
    MetricDef {
        name: "TrainsCut",
        unit: Unit::Count,
        dimensions: &[],
        what: "trains cut",
    },
    MetricDef {
        name: "BuildDuration",
        unit: Unit::Seconds,
        dimensions: &["Component", "Stage"],
        what: "build duration per component and stage",
    },
    MetricDef {
        name: "BuildFailures",
        unit: Unit::Count,
        dimensions: &["Component", "Stage"],
        what: "failed or stopped builds",
    },
    MetricDef {
        name: "SoakTime",
        unit: Unit::Seconds,
        dimensions: &[],
        what: "actual soak time before promotion",
    },
    MetricDef {
        name: "TimeToRelease",
        unit: Unit::Seconds,
        dimensions: &[],
        what: "time from cut to release",
    },
    MetricDef {
        name: "Releases",
        unit: Unit::Count,
        dimensions: &[],
        what: "released trains",
    },
    MetricDef {
        name: "TrainsFailed",
        unit: Unit::Count,
        dimensions: &[],
        what: "failed trains",
    },
    MetricDef {
        name: "Cancellations",
        unit: Unit::Count,
        dimensions: &["Cause"],
        what: "cancellations by cause",
    },
    MetricDef {
        name: "Holds",
        unit: Unit::Count,
        dimensions: &["Cause"],
        what: "holds by cause",
    },
    MetricDef {
        name: "PromotionsDeferred",
        unit: Unit::Count,
        dimensions: &["Cause"],
        what: "promotions deferred (freeze)",
    },
    MetricDef {
        name: "Rollbacks",
        unit: Unit::Count,
        dimensions: &[],
        what: "rolled back releases",
    },
];

/// The definition of `name`, if the core emits it.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `metric("Name", ...)` calls in the core's source.
    fn emitted() -> Vec<String> {
        let source = include_str!("train.rs");
        let mut names = Vec::new();
        let mut rest = source;
        while let Some(i) = rest.find("metric(") {
            rest = &rest[i + "metric(".len()..];
            let trimmed = rest.trim_start();
            if let Some(body) = trimmed.strip_prefix('"')
                && let Some(end) = body.find('"')
            {
                names.push(body[..end].to_owned());
            }
        }
        names
    }

    #[test]
    fn every_emitted_metric_is_listed_once_and_every_listed_one_is_emitted() {
        let emitted = emitted();
        assert!(emitted.len() >= 10, "{emitted:?}");
        for name in &emitted {
            assert!(
                find(name).is_some(),
                "{name} is emitted but not listed in metrics::ALL"
            );
        }
        for m in ALL {
            assert!(
                emitted.iter().any(|e| e == m.name),
                "{} is listed but never emitted",
                m.name
            );
            assert_eq!(ALL.iter().filter(|o| o.name == m.name).count(), 1);
        }
    }
}
