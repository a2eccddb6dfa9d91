//! Manifests in S3: `<prefix><train>/<state>.json` in a versioned bucket, each key written
//! once. `If-None-Match: *` makes the write conditional, so a retried effect finds the
//! first manifest in place (412) instead of replacing it.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use train_core::{State, TrainId};
use train_engine::ports::Written;
use train_engine::{Manifests, PortError};

use crate::faults::sdk_fault;

#[derive(Debug, Clone)]
pub struct S3Manifests {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Manifests {
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    pub fn key(&self, train: &TrainId, state: State) -> String {
        format!("{}{train}/{state}.json", self.prefix)
    }
}

#[async_trait]
impl Manifests for S3Manifests {
    async fn put(&self, train: &TrainId, state: State, body: &[u8]) -> Result<Written, PortError> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(train, state))
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Written::Created),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Ok(Written::AlreadyExists)
            }
            Err(e) => Err(sdk_fault("s3:PutObject", e)),
        }
    }
}
