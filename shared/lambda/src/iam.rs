//! The IAM actions the functions need, from the SDK operations the adapters call. The
//! template grants exactly [`actions`] to each function, and the tests check both sides:
//! every operation a function's log reports maps to a granted action, and every operation
//! listed here is one the adapters' code calls.

use std::collections::BTreeSet;

/// Each SDK operation the functions call, and the IAM actions it needs. A transaction
/// needs the actions of the item writes inside it (puts and updates).
pub const OPERATIONS: &[(&str, &[&str])] = &[
    ("GetItem", &["dynamodb:GetItem"]),
    ("PutItem", &["dynamodb:PutItem"]),
    ("UpdateItem", &["dynamodb:UpdateItem"]),
    ("DeleteItem", &["dynamodb:DeleteItem"]),
    ("Query", &["dynamodb:Query"]),
    (
        "TransactWriteItems",
        &["dynamodb:PutItem", "dynamodb:UpdateItem"],
    ),
    ("StartBuild", &["codebuild:StartBuild"]),
    ("BatchGetBuilds", &["codebuild:BatchGetBuilds"]),
    ("StopBuild", &["codebuild:StopBuild"]),
    ("ListBuildsForProject", &["codebuild:ListBuildsForProject"]),
    ("PutObject", &["s3:PutObject"]),
    ("PutEvents", &["events:PutEvents"]),
    ("DescribeAlarms", &["cloudwatch:DescribeAlarms"]),
];

/// The IAM actions `operation` needs, or `None` for an operation the functions should not
/// be calling.
pub fn actions_for(operation: &str) -> Option<&'static [&'static str]> {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, actions)| *actions)
}

/// Everything a function's role grants.
pub fn actions() -> BTreeSet<&'static str> {
    OPERATIONS
        .iter()
        .flat_map(|(_, actions)| actions.iter().copied())
        .collect()
}
