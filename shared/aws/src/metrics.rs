//! The metrics port on AWS: CloudWatch Embedded Metric Format lines on stdout.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use train_core::{Metric, TrainId};
use train_engine::{Metrics, PortError};

/// Metrics as CloudWatch Embedded Metric Format lines on stdout: CloudWatch Logs turns each
/// into a metric in the `ReleaseTrain` namespace, with no `PutMetricData` call.
#[derive(Debug, Clone, Copy)]
pub struct EmfMetrics;

#[async_trait]
impl Metrics for EmfMetrics {
    async fn emit(
        &self,
        train: &TrainId,
        metric: &Metric,
        at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        println!("{}", train_core::metrics::emf_line(train, metric, at));
        Ok(())
    }
}
