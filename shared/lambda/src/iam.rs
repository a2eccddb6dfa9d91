//! The IAM actions each function needs, from the SDK operations its code can call. The
//! template grants each function's role exactly [`function_actions`], and the tests hold
//! both sides to the code: `tests/template.rs` derives each adapter's operations from its
//! source and each function's ports from its handler's calls through the engine, and the
//! end-to-end test checks every operation a function's log reports against its grants.
//!
//! Three tables, each checked against the source:
//! - [`OPERATIONS`]: an SDK operation and the IAM actions it needs;
//! - [`ADAPTERS`]: the engine port, the adapter the functions wire to it, and the SDK
//!   operations that adapter calls;
//! - [`FUNCTIONS`]: the ports each function's handler reaches.

use std::collections::BTreeSet;

/// Each SDK operation the functions call, and the IAM actions it needs. A transaction
/// needs the actions of the item writes inside it: "Permissions for Put, Update, Delete,
/// and Get actions are governed by the permissions used for the underlying `PutItem`,
/// `UpdateItem`, `DeleteItem`, and `GetItem` operations. For the `ConditionCheck` action, you can
/// use the dynamodb:ConditionCheckItem permission" (Amazon DynamoDB Developer Guide, "Using
/// IAM with DynamoDB transactions",
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>).
/// The adapters' transactions hold puts only.
pub const OPERATIONS: &[(&str, &[&str])] = &[
    ("GetItem", &["dynamodb:GetItem"]),
    ("PutItem", &["dynamodb:PutItem"]),
    ("UpdateItem", &["dynamodb:UpdateItem"]),
    ("DeleteItem", &["dynamodb:DeleteItem"]),
    ("Query", &["dynamodb:Query"]),
    ("TransactWriteItems", &["dynamodb:PutItem"]),
    ("StartBuild", &["codebuild:StartBuild"]),
    ("BatchGetBuilds", &["codebuild:BatchGetBuilds"]),
    ("StopBuild", &["codebuild:StopBuild"]),
    ("ListBuildsForProject", &["codebuild:ListBuildsForProject"]),
    ("PutObject", &["s3:PutObject"]),
    ("PutEvents", &["events:PutEvents"]),
    ("DescribeAlarms", &["cloudwatch:DescribeAlarms"]),
];

/// An engine port as the functions wire it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adapter {
    /// The field of `train_engine::Ports` it fills.
    pub port: &'static str,
    /// The type [`crate::Deployment::new`] builds for it.
    pub name: &'static str,
    /// The SDK operations its code calls.
    pub operations: &'static [&'static str],
}

/// What [`crate::Deployment::new`] wires to each port. The builder keeps its start claims
/// in the train's table, so it calls DynamoDB too. Metrics are Embedded Metric Format lines
/// on stdout: no call at all.
pub const ADAPTERS: &[Adapter] = &[
    Adapter {
        port: "store",
        name: "DynamoStore",
        operations: &[
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "TransactWriteItems",
        ],
    },
    Adapter {
        port: "builder",
        name: "CodeBuildBuilder",
        operations: &[
            "StartBuild",
            "BatchGetBuilds",
            "StopBuild",
            "ListBuildsForProject",
            "GetItem",
            "PutItem",
            "TransactWriteItems",
        ],
    },
    Adapter {
        port: "manifests",
        name: "S3Manifests",
        operations: &["PutObject"],
    },
    Adapter {
        port: "events",
        name: "EventBridgeEvents",
        operations: &["PutEvents"],
    },
    Adapter {
        port: "alarms",
        name: "CloudWatchAlarms",
        operations: &["DescribeAlarms"],
    },
    Adapter {
        port: "metrics",
        name: "EmfMetrics",
        operations: &[],
    },
];

/// The ports each function's handler reaches through the engine. Only the scheduled
/// promote/reconcile pass and the events function read the gating alarms (before a train
/// may promote, and when a build event reconciles a train); a cut and an API command
/// commit a decision and run its effects, which never read an alarm.
pub const FUNCTIONS: &[(&str, &[&str])] = &[
    (
        "cut",
        &["store", "builder", "manifests", "events", "metrics"],
    ),
    (
        "promote",
        &[
            "store",
            "builder",
            "manifests",
            "events",
            "metrics",
            "alarms",
        ],
    ),
    (
        "events",
        &[
            "store",
            "builder",
            "manifests",
            "events",
            "metrics",
            "alarms",
        ],
    ),
    (
        "api",
        &["store", "builder", "manifests", "events", "metrics"],
    ),
    ("widget", &["store"]),
];

/// The functions that only read the store (the dashboard's widget): their roles get the
/// store's [`STORE_READS`] and none of its writes.
pub const READ_ONLY: &[&str] = &["widget"];

/// The store operations that only read.
pub const STORE_READS: &[&str] = &["GetItem", "Query"];

/// The ports whose calls go to a member account when `release-train.toml` puts a stage
/// there (`[accounts]`): a function reaching one of them assumes the member roles
/// (`sts:AssumeRole`, made by the credentials provider in `train_aws::accounts`, not by
/// an adapter's own call). The template grants it on exactly the `MemberRoles`, and only
/// when there are any.
pub const MEMBER_PORTS: &[&str] = &["builder", "alarms"];

/// The action that reaches a member account.
pub const ASSUME_MEMBER_ROLE: &str = "sts:AssumeRole";

/// The IAM actions `operation` needs, or `None` for an operation the functions should not
/// be calling.
pub fn actions_for(operation: &str) -> Option<&'static [&'static str]> {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, actions)| *actions)
}

/// The SDK operations `function` can call: those of the adapters on the ports it reaches.
/// Empty for a name that is not one of the functions.
pub fn operations(function: &str) -> BTreeSet<&'static str> {
    let Some((_, ports)) = FUNCTIONS.iter().find(|(f, _)| *f == function) else {
        return BTreeSet::new();
    };
    let read_only = READ_ONLY.contains(&function);
    ADAPTERS
        .iter()
        .filter(|a| ports.contains(&a.port))
        .flat_map(|a| a.operations.iter().copied())
        .filter(|op| !read_only || STORE_READS.contains(op))
        .collect()
}

/// What `function`'s role grants: the actions of every operation it can call, and
/// [`ASSUME_MEMBER_ROLE`] where it reaches a [`MEMBER_PORTS`] port.
pub fn function_actions(function: &str) -> BTreeSet<&'static str> {
    let mut actions: BTreeSet<&'static str> = operations(function)
        .into_iter()
        .filter_map(actions_for)
        .flat_map(|actions| actions.iter().copied())
        .collect();
    let reaches_members = FUNCTIONS
        .iter()
        .any(|(f, ports)| *f == function && ports.iter().any(|p| MEMBER_PORTS.contains(p)));
    if reaches_members {
        actions.insert(ASSUME_MEMBER_ROLE);
    }
    actions
}

/// Every action some function's role grants.
pub fn actions() -> BTreeSet<&'static str> {
    FUNCTIONS
        .iter()
        .flat_map(|(f, _)| function_actions(f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_an_adapter_calls_has_its_actions_listed() {
        for adapter in ADAPTERS {
            for op in adapter.operations {
                assert!(actions_for(op).is_some(), "{}: {op}", adapter.name);
            }
        }
    }

    #[test]
    fn the_widget_may_only_read_the_table() {
        assert_eq!(
            function_actions("widget"),
            BTreeSet::from(["dynamodb:GetItem", "dynamodb:Query"])
        );
    }

    #[test]
    fn only_the_functions_that_read_alarms_are_granted_describe_alarms() {
        assert!(function_actions("promote").contains("cloudwatch:DescribeAlarms"));
        assert!(function_actions("events").contains("cloudwatch:DescribeAlarms"));
        assert!(!function_actions("cut").contains("cloudwatch:DescribeAlarms"));
        assert!(!function_actions("api").contains("cloudwatch:DescribeAlarms"));
        assert!(!function_actions("widget").contains("cloudwatch:DescribeAlarms"));
        assert!(function_actions("nonesuch").is_empty());
    }
}
