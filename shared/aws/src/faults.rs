//! Which AWS errors are worth retrying, read from the error codes the services document,
//! in one table every adapter shares; and the conditional-write helpers that tell a lost
//! condition (an outcome) from a fault: [`is_condition_failure`], [`put_where_allowed`].
//! Every fault keeps the SDK error as its `source`.
//!
//! A retryable fault leaves the effect in the outbox for the next pass (and Lambda retries
//! the invocation); a fatal one needs a person, so its message says what to do: for a
//! denied call, the IAM action the function's role lacks. A lost condition
//! (`ConditionalCheckFailed`, S3's 412) is an outcome the caller matches on
//! ([`classify`] says so), never an error it reports.
//!
//! The documents each code comes from:
//! - [`COMMON_ERRORS`]: the errors common to all AWS services (throttling, `InternalFailure`,
//!   `ServiceUnavailable`, `AccessDeniedException`, `ValidationError`).
//! - [`CLOUDWATCH_ERRORS`]: CloudWatch's common errors (query protocol: `Throttling`).
//! - [`DYNAMODB_ERRORS`]: the DynamoDB developer guide's "Error handling with DynamoDB".
//! - [`DYNAMODB_TRANSACT`]: the `TransactWriteItems` API reference (cancellation reasons).
//! - [`S3_ERRORS`] and [`S3_CONDITIONAL`]: S3's error responses and conditional writes.
//! - [`CODEBUILD_ERRORS`]: the CodeBuild API reference's errors (`InvalidInputException`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::Utc;
use train_engine::PortError;

/// "Common Errors", AWS API references (the same list in every service's reference).
pub const COMMON_ERRORS: &str =
    "Common Errors, https://docs.aws.amazon.com/cloudwatch/latest/APIReference/CommonErrors.html";
/// "Common Errors", Amazon CloudWatch API Reference (query protocol codes).
pub const CLOUDWATCH_ERRORS: &str = "Amazon CloudWatch API Reference, Common Errors, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html";
/// "Error handling with DynamoDB", Amazon DynamoDB Developer Guide.
pub const DYNAMODB_ERRORS: &str = "Error handling with DynamoDB, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html";
/// "`TransactWriteItems`", Amazon DynamoDB API Reference (`TransactionCanceledException`).
pub const DYNAMODB_TRANSACT: &str = "TransactWriteItems, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html";
/// "Error responses", Amazon S3 API Reference.
pub const S3_ERRORS: &str =
    "Error responses, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html";
/// "How to prevent object overwrites with conditional writes", Amazon S3 User Guide.
pub const S3_CONDITIONAL: &str = "Conditional writes, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html";
/// "Common Errors" and the per-operation errors, AWS CodeBuild API Reference.
pub const CODEBUILD_ERRORS: &str =
    "AWS CodeBuild API Reference, https://docs.aws.amazon.com/codebuild/latest/APIReference/";
/// "Using IAM with DynamoDB transactions", Amazon DynamoDB Developer Guide.
pub const DYNAMODB_TRANSACT_IAM: &str = "Using IAM with DynamoDB transactions, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html";

/// What an error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Throttling, a conflict with a concurrent request, a server fault: try again later.
    Retry,
    /// A condition the request set did not hold: an outcome, not a fault.
    LostCondition,
    /// The caller's role lacks the permission: a person must grant it.
    AccessDenied,
    /// The request is wrong (validation, a missing resource): retrying sends it again.
    Fatal,
}

use Class::{AccessDenied, Fatal, LostCondition, Retry};

/// Error codes, what they mean, and the document that says so.
pub const CODES: &[(&str, Class, &str)] = &[
    ("ThrottlingException", Retry, COMMON_ERRORS),
    ("Throttling", Retry, CLOUDWATCH_ERRORS),
    ("TooManyRequestsException", Retry, COMMON_ERRORS),
    ("RequestLimitExceeded", Retry, DYNAMODB_ERRORS),
    (
        "ProvisionedThroughputExceededException",
        Retry,
        DYNAMODB_ERRORS,
    ),
    // DynamoDB: too many concurrent control-plane operations (CreateTable, UpdateTimeToLive).
    ("LimitExceededException", Retry, DYNAMODB_ERRORS),
    // CodeBuild: an account limit such as concurrent builds, which frees up as builds end.
    ("AccountLimitExceededException", Retry, CODEBUILD_ERRORS),
    ("TransactionConflictException", Retry, DYNAMODB_ERRORS),
    ("TransactionInProgressException", Retry, DYNAMODB_ERRORS),
    ("InternalServerError", Retry, DYNAMODB_ERRORS),
    ("InternalFailure", Retry, COMMON_ERRORS),
    ("InternalError", Retry, S3_ERRORS),
    ("ServiceUnavailable", Retry, COMMON_ERRORS),
    ("ServiceUnavailableException", Retry, COMMON_ERRORS),
    ("SlowDown", Retry, S3_ERRORS),
    ("RequestTimeout", Retry, S3_ERRORS),
    // "If a conflicting operation occurs during the upload, S3 returns a 409
    // ConditionalRequestConflict response ... retry the upload."
    ("ConditionalRequestConflict", Retry, S3_CONDITIONAL),
    (
        "ConditionalCheckFailedException",
        LostCondition,
        DYNAMODB_ERRORS,
    ),
    ("PreconditionFailed", LostCondition, S3_CONDITIONAL),
    ("AccessDeniedException", AccessDenied, COMMON_ERRORS),
    ("AccessDenied", AccessDenied, S3_ERRORS),
    ("ValidationException", Fatal, DYNAMODB_ERRORS),
    ("ValidationError", Fatal, COMMON_ERRORS),
    ("InvalidInputException", Fatal, CODEBUILD_ERRORS),
    ("ResourceNotFoundException", Fatal, DYNAMODB_ERRORS),
];

/// `TransactionCanceledException`'s cancellation reason codes.
pub const CANCELLATION_REASONS: &[(&str, Class, &str)] = &[
    ("TransactionConflict", Retry, DYNAMODB_TRANSACT),
    ("ThrottlingError", Retry, DYNAMODB_TRANSACT),
    ("ProvisionedThroughputExceeded", Retry, DYNAMODB_TRANSACT),
    ("ConditionalCheckFailed", LostCondition, DYNAMODB_TRANSACT),
    ("ItemCollectionSizeLimitExceeded", Fatal, DYNAMODB_TRANSACT),
    ("ValidationError", Fatal, DYNAMODB_TRANSACT),
];

/// The class of an error code, with the HTTP status for codes the table does not name:
/// a 5xx or a 429 is retried ("Error retries and exponential backoff" in
/// [`DYNAMODB_ERRORS`]; 503 `SlowDown` in [`S3_ERRORS`]), anything else is fatal.
pub fn class_of(code: Option<&str>, status: Option<u16>) -> Class {
    if let Some(class) = code.and_then(|c| CODES.iter().find(|(k, ..)| *k == c)) {
        return class.1;
    }
    match status {
        Some(s) if s >= 500 || s == 429 => Retry,
        Some(403) => AccessDenied,
        _ => Fatal,
    }
}

/// A cancelled transaction, from its reasons: one item that can never be written makes it
/// fatal; otherwise a conflict or throttling makes it worth another try; a transaction
/// that failed only on its conditions lost them.
pub fn class_of_cancellation<'a>(reasons: impl IntoIterator<Item = Option<&'a str>>) -> Class {
    let mut class = Fatal;
    let mut any = false;
    for reason in reasons.into_iter().flatten() {
        let Some((_, c, _)) = CANCELLATION_REASONS.iter().find(|(k, ..)| *k == reason) else {
            continue; // "None": this item was fine
        };
        match (c, any) {
            (Fatal, _) => return Fatal,
            (Retry, _) => class = Retry,
            (LostCondition, false) => class = LostCondition,
            _ => {}
        }
        any = true;
    }
    class
}

/// The class of any SDK error.
pub fn classify<E: ProvideErrorMetadata, R: HasStatus>(e: &SdkError<E, R>) -> Class {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Retry
        }
        SdkError::ServiceError(se) => class_of(se.err().code(), se.raw().status()),
        _ => Fatal,
    }
}

/// The HTTP status of a raw response, where the type has one.
pub trait HasStatus {
    fn status(&self) -> Option<u16>;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// The permission to grant for `action` (`service:Operation`): the action itself, except
/// where IAM authorizes the call by other actions.
fn permission(action: &str) -> String {
    match action {
        // "Permissions for Put, Update, Delete, and Get actions are governed by the
        // permissions used for the underlying PutItem, UpdateItem, DeleteItem, and GetItem
        // operations" (DYNAMODB_TRANSACT_IAM).
        "dynamodb:TransactWriteItems" => {
            "dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem and dynamodb:ConditionCheckItem (a transaction is authorized by the actions of its items)".to_owned()
        }
        other => other.to_owned(),
    }
}

fn fault(action: &str, class: Class, code: &str, msg: &str, detail: &str) -> PortError {
    let message = match class {
        AccessDenied => format!(
            "{action} was denied ({code} {msg}); grant {} to the function's role, on the resource the message names",
            permission(action)
        ),
        _ => format!("{action}: {code} {msg} ({detail})"),
    };
    let message: String = message.chars().take(600).collect();
    if class == Retry {
        PortError::retryable(message)
    } else {
        PortError::fatal(message)
    }
}

/// A port error for a failed call of `action` (the IAM action, `service:Operation`).
/// A lost condition reaching here was not expected by the caller: it is fatal.
pub fn sdk_fault<E, R>(action: &str, e: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    fault(
        action,
        classify(&e),
        e.code().unwrap_or(""),
        e.message().unwrap_or(""),
        &format!("{e:?}"),
    )
    .caused_by(e)
}

/// A port error for a failed `TransactWriteItems`, classified by its cancellation reasons.
pub fn transact_fault<R: HasStatus + std::fmt::Debug + Send + Sync + 'static>(
    e: SdkError<TransactWriteItemsError, R>,
) -> PortError {
    let action = "dynamodb:TransactWriteItems";
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            let reasons = c.cancellation_reasons();
            let class = class_of_cancellation(reasons.iter().map(|r| r.code()));
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            fault(
                action,
                class,
                "TransactionCanceledException",
                &format!("reasons [{}]", codes.join(", ")),
                &format!("{e:?}"),
            )
            .caused_by(e)
        }
        _ => sdk_fault(action, e),
    }
}

// Conditional writes: a condition that did not hold is an outcome, told apart here.

/// Whether `e` is a DynamoDB condition that did not hold: an outcome the caller handles
/// (a lost race), never a fault.
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// Writes `puts` (at most 100) in one transaction. A put whose condition fails is dropped
/// and the others written again; returns the tags of the puts that were written.
pub(crate) async fn put_where_allowed<T>(
    client: &Client,
    mut puts: Vec<(T, Put)>,
) -> Result<Vec<T>, PortError> {
    while !puts.is_empty() {
        let items = puts
            .iter()
            .map(|(_, put)| TransactWriteItem::builder().put(put.clone()).build())
            .collect();
        let Err(e) = client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        else {
            return Ok(puts.into_iter().map(|(tag, _)| tag).collect());
        };
        let failed = cancelled_items(&e);
        let before = puts.len();
        puts = puts
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains(i))
            .map(|(_, p)| p)
            .collect();
        if puts.len() == before {
            return Err(transact_fault(e));
        }
    }
    Ok(Vec::new())
}

/// The indexes of the items a cancelled transaction failed on because of their condition.
pub(crate) fn cancelled_items<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Vec<usize> {
    let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) =
        e.as_service_error()
    else {
        return Vec::new();
    };
    c.cancellation_reasons()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect()
}

/// `days` from now, as DynamoDB's TTL wants it.
pub(crate) fn expires_in(days: i64) -> AttributeValue {
    AttributeValue::N(
        (Utc::now() + chrono::Duration::days(days))
            .timestamp()
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    /// The error the SDK hands back for a service answer with `code` and `status`.
    fn service_error(code: &str, status: u16) -> SdkError<PutItemError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("from the service")
            .build();
        SdkError::service_error(PutItemError::generic(meta), response(status))
    }

    fn cancelled(reasons: &[&str]) -> SdkError<TransactWriteItemsError, HttpResponse> {
        let err = TransactionCanceledException::builder()
            .message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
            )
            .set_cancellation_reasons(Some(
                reasons
                    .iter()
                    .map(|r| CancellationReason::builder().code(*r).build())
                    .collect(),
            ))
            .meta(
                ErrorMetadata::builder()
                    .code("TransactionCanceledException")
                    .build(),
            )
            .build();
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(err),
            response(400),
        )
    }

    fn retryable(code: &str, status: u16) -> bool {
        sdk_fault("dynamodb:PutItem", service_error(code, status)).retryable
    }

    // Throttling: "ThrottlingException ... The request was denied due to request
    // throttling. HTTP Status Code: 400" (COMMON_ERRORS).
    #[test]
    fn throttling_exception_is_retried() {
        assert!(retryable("ThrottlingException", 400));
    }

    // CloudWatch's query protocol names it `Throttling` (CLOUDWATCH_ERRORS).
    #[test]
    fn query_protocol_throttling_is_retried() {
        assert!(retryable("Throttling", 400));
    }

    #[test]
    fn too_many_requests_is_retried() {
        assert!(retryable("TooManyRequestsException", 429));
    }

    // DynamoDB: "RequestLimitExceeded ... Throughput exceeds the current throughput limit
    // for your account ... OK to retry? Yes" (DYNAMODB_ERRORS).
    #[test]
    fn request_limit_exceeded_is_retried() {
        assert!(retryable("RequestLimitExceeded", 400));
    }

    // DynamoDB: "ProvisionedThroughputExceededException ... OK to retry? Yes".
    #[test]
    fn provisioned_throughput_exceeded_is_retried() {
        assert!(retryable("ProvisionedThroughputExceededException", 400));
    }

    #[test]
    fn dynamodb_transaction_conflict_exception_is_retried() {
        assert!(retryable("TransactionConflictException", 400));
    }

    // DynamoDB: "5xx error (server) ... OK to retry? Yes" (InternalServerError 500,
    // ServiceUnavailable 503); S3: 500 InternalError, 503 SlowDown (S3_ERRORS).
    #[test]
    fn server_faults_are_retried_by_code_and_by_status() {
        for (code, status) in [
            ("InternalServerError", 500),
            ("ServiceUnavailable", 503),
            ("InternalError", 500),
            ("SlowDown", 503),
            ("InternalFailure", 500),
            ("SomethingNewAndUnlisted", 502),
            ("", 500),
        ] {
            assert!(retryable(code, status), "{code} {status}");
        }
    }

    // S3: "If a conflicting operation occurs during the upload S3 returns a 409
    // ConditionalRequestConflict response. On a 409 failure you should retry the upload"
    // (S3_CONDITIONAL, and PutObject's If-None-Match in the S3 API Reference).
    #[test]
    fn s3_conditional_request_conflict_is_retried() {
        assert!(retryable("ConditionalRequestConflict", 409));
    }

    // TransactWriteItems: "TransactionConflict: the transaction was rejected because of a
    // conflicting ongoing transaction" (DYNAMODB_TRANSACT, cancellation reason codes).
    #[test]
    fn a_transaction_cancelled_by_a_conflict_is_retried() {
        let e = transact_fault(cancelled(&["None", "TransactionConflict"]));
        assert!(e.retryable, "{e}");
        assert!(e.message.contains("TransactionConflict"), "{e}");
    }

    #[test]
    fn a_transaction_cancelled_by_throttling_is_retried() {
        assert!(transact_fault(cancelled(&["ThrottlingError"])).retryable);
        assert!(transact_fault(cancelled(&["ProvisionedThroughputExceeded"])).retryable);
    }

    // A condition that did not hold is an outcome the caller handles (put_where_allowed
    // drops those items), not a fault to retry.
    #[test]
    fn a_transaction_cancelled_only_by_its_conditions_lost_them() {
        assert_eq!(
            class_of_cancellation([Some("ConditionalCheckFailed"), Some("None")]),
            LostCondition
        );
        assert!(!transact_fault(cancelled(&["ConditionalCheckFailed"])).retryable);
        assert_eq!(
            class_of_cancellation([Some("ConditionalCheckFailed"), Some("TransactionConflict")]),
            Retry,
            "a conflict on another item may pass next time"
        );
    }

    #[test]
    fn a_transaction_with_an_item_that_can_never_be_written_is_fatal() {
        assert!(!transact_fault(cancelled(&["TransactionConflict", "ValidationError"])).retryable);
        assert!(!transact_fault(cancelled(&["ItemCollectionSizeLimitExceeded"])).retryable);
    }

    #[test]
    fn conditional_check_failed_is_a_lost_condition() {
        assert_eq!(
            classify(&service_error("ConditionalCheckFailedException", 400)),
            LostCondition
        );
        assert_eq!(
            classify(&service_error("PreconditionFailed", 412)),
            LostCondition
        );
    }

    // "ValidationError: The input fails to satisfy the constraints specified by an AWS
    // service. HTTP Status Code: 400" (COMMON_ERRORS); DynamoDB's ValidationException,
    // CodeBuild's InvalidInputException.
    #[test]
    fn validation_errors_are_fatal() {
        for code in [
            "ValidationException",
            "ValidationError",
            "InvalidInputException",
            "ResourceNotFoundException",
        ] {
            assert!(!retryable(code, 400), "{code}");
        }
    }

    // "AccessDeniedException: You do not have sufficient access to perform this action"
    // (COMMON_ERRORS); S3 answers 403 AccessDenied (S3_ERRORS).
    #[test]
    fn access_denied_is_fatal_and_names_the_missing_permission() {
        let denied = service_error("AccessDeniedException", 400);
        let e = sdk_fault("codebuild:StartBuild", denied);
        assert!(!e.retryable);
        assert!(e.message.contains("grant codebuild:StartBuild"), "{e}");
        let e = sdk_fault("s3:PutObject", service_error("AccessDenied", 403));
        assert!(!e.retryable);
        assert!(e.message.contains("grant s3:PutObject"), "{e}");
        let e = sdk_fault("events:PutEvents", service_error("", 403));
        assert!(e.message.contains("grant events:PutEvents"), "{e}");
    }

    #[test]
    fn a_denied_transaction_names_the_item_actions_that_authorize_it() {
        let meta = ErrorMetadata::builder()
            .code("AccessDeniedException")
            .build();
        let e = SdkError::service_error(TransactWriteItemsError::generic(meta), response(400));
        let e = transact_fault(e);
        assert!(!e.retryable);
        let source = std::error::Error::source(&e).expect("the SDK error is kept as the source");
        assert!(
            format!("{source:?}").contains("AccessDeniedException"),
            "{source:?}"
        );
        assert!(e.message.contains("dynamodb:PutItem"), "{e}");
        assert!(e.message.contains("dynamodb:ConditionCheckItem"), "{e}");
    }

    #[test]
    fn timeouts_and_dropped_connections_are_retried() {
        let e: SdkError<PutItemError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert_eq!(classify(&e), Retry);
    }

    #[test]
    fn every_code_in_the_table_names_its_document() {
        for (code, _, doc) in CODES.iter().chain(CANCELLATION_REASONS) {
            assert!(doc.contains("https://docs.aws.amazon.com/"), "{code}");
        }
    }
}
