//! Builds on CodeBuild: `StartBuild` with the stage's project, the pinned commit as
//! `sourceVersion` for production, the buildspec as an override where the config names one,
//! and the `RELEASE_*` variables; `BatchGetBuilds` to reconcile (a staging build's
//! `resolvedSourceVersion` becomes the pin); `StopBuild` for a cancelled train.
//!
//! # At most one build per key
//!
//! CodeBuild's idempotency token lasts five minutes, and an outbox effect can run again
//! much later than that, so the store decides. Before `StartBuild`, a claim item
//! `BUILD#<key>` is written conditionally. The engine hands over each round of starts
//! first ([`Builder::claim_starts`]): their claims are written together, a hundred per
//! `TransactWriteItems`, so a 1,000-component train costs ten claim writes, not a
//! thousand. A key this builder claimed is started at once. A key that was already
//! claimed means an earlier start may have got as far as CodeBuild: the project's recent
//! builds are searched for the one carrying `RELEASE_BUILD_KEY=<key>` before anything is
//! started, and only if none is found is the build started again (with the same token,
//! which CodeBuild honours if it is still within its five minutes). The build id itself
//! is recorded by the engine, in the train.

use std::fmt::Write as _;

use async_trait::async_trait;
use aws_sdk_codebuild::types::{Build, EnvironmentVariable, EnvironmentVariableType, StatusType};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use tracing::{info, warn};
use train_core::Config;
use train_core::config::RoleArn;
use train_core::train::Changelog;
use train_core::{BuildId, BuildOutcome, BuildRequest, Commit, ComponentName, Revision, Stage};
use train_engine::{Builder, Observed, PortError, Started};

use crate::faults::sdk_fault;

/// Builds per `BatchGetBuilds` call (CodeBuild's limit).
const BATCH: usize = 100;

/// Pages of `ListBuildsForProject` (100 ids each) searched for an earlier start at most: a
/// claim has no time on it only if it predates claim times, and then this bounds the search.
const SEARCH_PAGES: usize = 50;

/// Claims per `TransactWriteItems` (DynamoDB's limit).
const CLAIMS_PER_WRITE: usize = 100;

/// How long a batch claim lets `start` go straight to `StartBuild`. Within one
/// invocation, and far inside CodeBuild's five-minute token: if this builder stalled
/// longer and another invocation found the claim and started the build, a late start of
/// ours would fall outside the token and make a second build, so it searches instead.
const CLAIM_FRESH_FOR: std::time::Duration = std::time::Duration::from_mins(1);

/// The variable a staging buildspec exports with its oldest new commit's time.
pub const OLDEST_COMMIT_AT: &str = "OLDEST_COMMIT_AT";

#[derive(Debug, Clone)]
pub struct CodeBuildBuilder {
    /// The train's own account.
    codebuild: aws_sdk_codebuild::Client,
    /// Member accounts, by the role the configuration names for them.
    members: std::sync::Arc<std::collections::BTreeMap<RoleArn, aws_sdk_codebuild::Client>>,
    /// Where each project the configuration names is (`None`: the train's own account, which
    /// sorts first), sorted once here. A build id (`PROJECT:UUID`) names its project, not
    /// its account, so reads and stops go to the accounts its project is in (a project
    /// unknown here: the train's own).
    homes: std::sync::Arc<std::collections::HashMap<String, Vec<Option<RoleArn>>>>,
    claims: aws_sdk_dynamodb::Client,
    table: String,
    /// Keys this builder claimed in [`Builder::claim_starts`] and has not started yet,
    /// with when.
    claimed:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    /// What each finished build exported as `OLDEST_COMMIT_AT`, as a poll saw it: the
    /// changelog read that follows in the same invocation needs no second `BatchGetBuilds`.
    exported:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Option<DateTime<Utc>>>>>,
}

/// Finished builds whose export is kept for the changelog read; past this the memo is
/// emptied (a miss costs one `BatchGetBuilds`, nothing else).
const EXPORTS_KEPT: usize = 10_000;

/// The commit time a staging build exported, if it did.
fn oldest_commit_at(build: &Build) -> Option<DateTime<Utc>> {
    build
        .exported_environment_variables()
        .iter()
        .find(|v| v.name() == Some(OLDEST_COMMIT_AT))
        .and_then(|v| v.value()?.trim().parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

async fn batch_get(
    client: &aws_sdk_codebuild::Client,
    ids: Vec<String>,
) -> Result<aws_sdk_codebuild::operation::batch_get_builds::BatchGetBuildsOutput, PortError> {
    client
        .batch_get_builds()
        .set_ids(Some(ids))
        .send()
        .await
        .map_err(|e| sdk_fault("codebuild:BatchGetBuilds", e))
}

/// FNV-1a: a stable hash for the idempotency token (the std hasher may change between
/// Rust releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An idempotency token of at most 64 characters, unique per build key.
pub fn token(key: &str) -> String {
    let readable: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    format!("{readable}-{:016x}", fnv1a(key))
}

fn var(name: &str, value: &str) -> Result<EnvironmentVariable, PortError> {
    EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(EnvironmentVariableType::Plaintext)
        .build()
        .map_err(|e| PortError::fatal(e.to_string()))
}

/// The variables every build gets; buildspecs read them (see README).
pub fn variables(req: &BuildRequest) -> Result<Vec<EnvironmentVariable>, PortError> {
    let commit = match &req.revision {
        Revision::Commit(c) => c.to_string(),
        Revision::Branch(_) => String::new(), // staging: CODEBUILD_RESOLVED_SOURCE_VERSION
    };
    [
        ("RELEASE_TRAIN_ID", req.train.to_string()),
        ("RELEASE_STAGE", req.stage.to_string()),
        ("RELEASE_COMPONENT", req.component.to_string()),
        ("RELEASE_COMMIT", commit),
        (
            "PREVIOUS_RELEASE_COMMIT",
            req.previous
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        ("RELEASE_BUILD_KEY", req.idempotency_key.clone()),
    ]
    .iter()
    .map(|(k, v)| var(k, v))
    .collect()
}

fn pinned(req: &BuildRequest) -> Option<Commit> {
    match &req.revision {
        Revision::Commit(c) => Some(c.clone()),
        Revision::Branch(_) => None,
    }
}

/// Where a person reads this build's log: its CloudWatch Logs deep link (`logs.deepLink`,
/// "the URL to an individual build log in CloudWatch Logs", set once the build has a log
/// stream), else its console page in the region its ARN names (`LogsLocation`, AWS CodeBuild
/// API Reference, <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html>).
/// A failed build's reason in the train carries it.
pub fn logs_link(build: &Build) -> Option<String> {
    if let Some(link) = build
        .logs()
        .and_then(|l| l.deep_link())
        .filter(|l| !l.is_empty())
    {
        return Some(link.to_owned());
    }
    // arn:aws:codebuild:REGION:ACCOUNT:build/PROJECT:UUID
    let arn = build.arn()?;
    let mut parts = arn.splitn(6, ':');
    let region = parts.nth(3)?;
    let (project, _) = parts.nth(1)?.strip_prefix("build/")?.split_once(':')?;
    let id = build.id()?.replace(':', "%3A");
    Some(format!(
        "https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{project}/build/{id}/?region={region}"
    ))
}

/// What a finished or running build means for the train.
pub fn observe(build: &Build) -> Observed {
    let status = build
        .build_status()
        .cloned()
        .unwrap_or(StatusType::InProgress);
    let phase = build.current_phase().unwrap_or("?");
    let logs = logs_link(build).unwrap_or_default();
    match status {
        StatusType::Succeeded => Observed::Finished(BuildOutcome::Succeeded {
            commit: build
                .resolved_source_version()
                .and_then(|v| Commit::parse(v).ok()),
        }),
        StatusType::Stopped => Observed::Finished(BuildOutcome::Stopped),
        StatusType::Failed | StatusType::Fault | StatusType::TimedOut => {
            let failed_phase = build
                .phases()
                .iter()
                .find(|p| p.phase_status().is_some_and(|s| s.as_str() != "SUCCEEDED"))
                .map_or(phase.to_owned(), |p| {
                    p.phase_type()
                        .map_or(phase.to_owned(), |t| t.as_str().to_owned())
                });
            let mut reason = format!("{} in phase {failed_phase}", status.as_str());
            if !logs.is_empty() {
                let _ = write!(reason, "; logs: {logs}");
            }
            // FAULT is CodeBuild's own failure, not the buildspec's ("Build phase transitions",
            // https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html;
            // BuildPhase, https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BuildPhase.html):
            // the train builds again instead of blaming the component.
            if status == StatusType::Fault {
                Observed::Finished(BuildOutcome::Fault { reason })
            } else {
                Observed::Finished(BuildOutcome::Failed { reason })
            }
        }
        _ => Observed::Running,
    }
}

impl CodeBuildBuilder {
    /// `table` is the train table; claims live beside the trains.
    pub fn new(
        codebuild: aws_sdk_codebuild::Client,
        claims: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
    ) -> Self {
        Self {
            codebuild,
            members: std::sync::Arc::default(),
            homes: std::sync::Arc::default(),
            claims,
            table: table.into(),
            claimed: std::sync::Arc::default(),
            exported: std::sync::Arc::default(),
        }
    }

    /// Builds in member accounts too: each stage's project in the account of the role the
    /// configuration gives it, through the client `client` makes for that role.
    #[must_use]
    pub fn with_accounts(
        mut self,
        config: &Config,
        mut client: impl FnMut(&RoleArn) -> aws_sdk_codebuild::Client,
    ) -> Self {
        let mut members = std::collections::BTreeMap::new();
        let mut homes: std::collections::HashMap<String, Vec<Option<RoleArn>>> =
            std::collections::HashMap::new();
        for c in &config.components {
            for target in [&c.staging, &c.production] {
                if let Some(role) = &target.role {
                    members.entry(role.clone()).or_insert_with(|| client(role));
                }
                if let Some(project) = &target.project {
                    let places = homes.entry(project.clone()).or_default();
                    if !places.contains(&target.role) {
                        places.push(target.role.clone());
                    }
                }
            }
        }
        for places in homes.values_mut() {
            places.sort();
        }
        self.members = std::sync::Arc::new(members);
        self.homes = std::sync::Arc::new(homes);
        self
    }

    /// The client for the account `role` is in (`None`: the train's own).
    fn client(&self, role: Option<&RoleArn>) -> Result<&aws_sdk_codebuild::Client, PortError> {
        match role {
            None => Ok(&self.codebuild),
            Some(role) => self.members.get(role).ok_or_else(|| {
                PortError::fatal(format!(
                    "no client for role {role}: the builder was built without the configuration that names it"
                ))
            }),
        }
    }

    /// The accounts a build of `build`'s project may be in, the train's own first.
    fn homes(&self, build: &BuildId) -> &[Option<RoleArn>] {
        const OWN: &[Option<RoleArn>] = &[None];
        let project = build.as_str().split(':').next().unwrap_or_default();
        self.homes.get(project).map_or(OWN, Vec::as_slice)
    }

    /// `BatchGetBuilds` for builds anywhere: each account is asked for the builds whose
    /// project is there and that no account answered for yet (one call per hundred builds
    /// per account; a train in one account makes exactly the calls it made before).
    async fn get_builds(&self, builds: &[BuildId]) -> Result<Vec<Build>, PortError> {
        let mut places: Vec<Option<&RoleArn>> = vec![None];
        places.extend(self.members.keys().map(Some));
        let mut pending: Vec<&BuildId> = builds.iter().collect();
        let mut out: Vec<Build> = Vec::new();
        for place in places {
            let here: Vec<&BuildId> = pending
                .iter()
                .copied()
                .filter(|b| self.homes(b).iter().any(|h| h.as_ref() == place))
                .collect();
            if here.is_empty() {
                continue;
            }
            let client = self.client(place)?;
            for chunk in here.chunks(BATCH) {
                let ids = chunk.iter().map(ToString::to_string).collect();
                let got = batch_get(client, ids).await?;
                out.extend(got.builds.unwrap_or_default());
            }
            let answered: std::collections::HashSet<&str> =
                out.iter().filter_map(Build::id).collect();
            pending.retain(|b| !answered.contains(b.as_str()));
        }
        Ok(out)
    }

    fn remember_export(&self, build: &BuildId, at: Option<DateTime<Utc>>) {
        let mut kept = self
            .exported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= EXPORTS_KEPT {
            kept.clear();
        }
        kept.insert(build.to_string(), at);
    }

    /// The build's page in the CodeBuild console.
    fn link(&self, project: &str, build: &BuildId) -> Option<String> {
        let region = self.codebuild.config().region()?.to_string();
        let id = build.as_str().replace(':', "%3A");
        Some(format!(
            "https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{project}/build/{id}/?region={region}"
        ))
    }

    /// The claim item for `key`, kept long after any retry of the effect that claims it.
    fn claim_item(key: &str) -> std::collections::HashMap<String, AttributeValue> {
        std::collections::HashMap::from([
            ("pk".into(), AttributeValue::S(format!("BUILD#{key}"))),
            ("sk".into(), AttributeValue::S("H".into())),
            (
                "claimed_at".into(),
                AttributeValue::S(Utc::now().to_rfc3339()),
            ),
            (
                crate::dynamo::EXPIRES_AT.into(),
                crate::faults::expires_in(90),
            ),
        ])
    }

    /// Claims `key`; false if someone else holds the claim.
    async fn claim_new(&self, key: &str) -> Result<bool, PortError> {
        let out = self
            .claims
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::claim_item(key)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(sdk_fault("dynamodb:PutItem", e)),
        }
    }

    /// Claims up to a hundred keys in one transaction; returns those it claimed. A key
    /// already claimed is left out and the rest tried again.
    async fn claim_batch(&self, keys: &[&str]) -> Result<Vec<String>, PortError> {
        let puts = keys
            .iter()
            .map(|key| {
                let put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::claim_item(key)))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| PortError::fatal(e.to_string()))?;
                Ok(((*key).to_owned(), put))
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        crate::faults::put_where_allowed(&self.claims, puts).await
    }

    /// When `key` was claimed, if the claim says (older claims do not).
    async fn claimed_at(&self, key: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let out = self
            .claims
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("BUILD#{key}")))
            .key("sk", AttributeValue::S("H".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_fault("dynamodb:GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("claimed_at"))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// The project's build carrying `RELEASE_BUILD_KEY=key`, if there is one, searched
    /// newest first back to the claim time (a build started before the key was claimed
    /// cannot be its build).
    ///
    /// No sort order is sent: "If the project has more than 100 builds, setting the sort
    /// order will result in an error", and without one "the results are sorted in
    /// descending order" (`ListBuildsForProject`, AWS CodeBuild API Reference,
    /// <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html>).
    /// Each page holds at most 100 ids, with a `nextToken` for the next.
    async fn find(
        &self,
        client: &aws_sdk_codebuild::Client,
        project: &str,
        key: &str,
    ) -> Result<Option<BuildId>, PortError> {
        // Clock skew between this function and CodeBuild.
        let since = self
            .claimed_at(key)
            .await?
            .map(|t| t - chrono::Duration::minutes(5));
        let mut token: Option<String> = None;
        for _ in 0..SEARCH_PAGES {
            let page = client
                .list_builds_for_project()
                .project_name(project)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_fault("codebuild:ListBuildsForProject", e))?;
            let ids: Vec<String> = page.ids().iter().take(BATCH).cloned().collect();
            if ids.is_empty() {
                return Ok(None);
            }
            let builds = batch_get(client, ids).await?;
            let found = builds
                .builds()
                .iter()
                .find(|b| {
                    b.environment()
                        .map(aws_sdk_codebuild::types::ProjectEnvironment::environment_variables)
                        .unwrap_or_default()
                        .iter()
                        .any(|v| v.name() == "RELEASE_BUILD_KEY" && v.value() == key)
                })
                .and_then(|b| b.id())
                .and_then(|id| BuildId::parse(id).ok());
            if found.is_some() {
                return Ok(found);
            }
            let before_claim = since.is_some_and(|since| {
                builds
                    .builds()
                    .iter()
                    .all(|b| b.start_time().is_some_and(|t| t.secs() < since.timestamp()))
            });
            match page.next_token {
                Some(t) if !t.is_empty() && !before_claim => token = Some(t),
                _ => return Ok(None),
            }
        }
        warn!(
            key,
            project,
            pages = SEARCH_PAGES,
            "gave up searching the project's builds for an earlier start"
        );
        Ok(None)
    }
}

#[async_trait]
impl Builder for CodeBuildBuilder {
    async fn start(&self, req: &BuildRequest) -> Result<Started, PortError> {
        let key = &req.idempotency_key;
        let project = req.target.project.as_deref().ok_or_else(|| {
            let stage = if req.stage == Stage::Staging { "staging" } else { "production" };
            PortError::fatal(format!(
                "component {} has no CodeBuild project for {stage}; set {stage} = {{ project = \"...\" }} in release-train.toml",
                req.component
            ))
        })?;
        let client = self.client(req.target.role.as_ref())?;
        let fresh = self
            .claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key)
            .is_some_and(|at| at.elapsed() < CLAIM_FRESH_FOR);
        if !fresh && !self.claim_new(key).await? {
            // Claimed before: an earlier start may have reached CodeBuild.
            if let Some(build_id) = self.find(client, project, key).await? {
                warn!(key, build = %build_id, "found the build an earlier start began");
                return Ok(Started {
                    link: self.link(project, &build_id),
                    build_id,
                    commit: pinned(req),
                });
            }
        }
        let source_version = source_version(req);
        let minutes =
            i32::try_from(req.timeout.duration().num_minutes().clamp(5, 2160)).unwrap_or(60);
        let out = client
            .start_build()
            .project_name(project)
            .source_version(source_version)
            .set_buildspec_override(req.target.buildspec.clone())
            .set_environment_variables_override(Some(variables(req)?))
            .idempotency_token(token(key))
            .timeout_in_minutes_override(minutes)
            .send()
            .await
            .map_err(|e| sdk_fault("codebuild:StartBuild", e))?;
        let id = out
            .build_value()
            .and_then(|b| b.id())
            .ok_or_else(|| PortError::retryable("StartBuild answered without a build id"))?;
        let build_id = BuildId::parse(id).map_err(|e| PortError::fatal(e.to_string()))?;
        info!(key, build = %build_id, project, role = ?req.target.role.as_ref().map(RoleArn::as_str), "CodeBuild build started");
        Ok(Started {
            link: self.link(project, &build_id),
            build_id,
            commit: pinned(req),
        })
    }

    async fn claim_starts(&self, requests: &[&BuildRequest]) -> Result<(), PortError> {
        let mut keys: Vec<&str> = requests
            .iter()
            .map(|r| r.idempotency_key.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for chunk in keys.chunks(CLAIMS_PER_WRITE) {
            let won = self.claim_batch(chunk).await?;
            let at = std::time::Instant::now();
            let mut claimed = self
                .claimed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            claimed.retain(|_, t| t.elapsed() < CLAIM_FRESH_FOR);
            claimed.extend(won.into_iter().map(|k| (k, at)));
        }
        Ok(())
    }

    async fn poll(&self, builds: &[BuildId]) -> Result<Vec<(BuildId, Observed)>, PortError> {
        let mut out = Vec::new();
        for build in self.get_builds(builds).await? {
            if let Some(id) = build.id().and_then(|i| BuildId::parse(i).ok()) {
                let observed = observe(&build);
                if matches!(observed, Observed::Finished(_)) {
                    self.remember_export(&id, oldest_commit_at(&build));
                }
                out.push((id, observed));
            }
        }
        Ok(out)
    }

    async fn stop(&self, build: &BuildId) -> Result<(), PortError> {
        let homes = self.homes(build);
        let last = homes.len() - 1;
        for (i, place) in homes.iter().enumerate() {
            match self
                .client(place.as_ref())?
                .stop_build()
                .id(build.as_str())
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                // Already finished: nothing to stop.
                Err(e) if e.code() == Some("InvalidInputException") => return Ok(()),
                // The same project name in another account: the build is there.
                Err(e) if e.code() == Some("ResourceNotFoundException") && i < last => {}
                Err(e) => return Err(sdk_fault("codebuild:StopBuild", e)),
            }
        }
        Ok(())
    }

    /// CodeBuild cannot read the repository for us: the staging buildspec writes the
    /// changelog (it gets `PREVIOUS_RELEASE_COMMIT`) as a build artifact, and the train links
    /// that build. The buildspec also exports `OLDEST_COMMIT_AT` (the commit time of the
    /// oldest new commit, in seconds since the epoch), where a release's lead time starts.
    async fn changelog(
        &self,
        _component: &ComponentName,
        _source: &str,
        from: Option<&Commit>,
        to: &Commit,
        build: Option<&BuildId>,
    ) -> Result<Changelog, PortError> {
        let Some(build) = build else {
            return Ok(Changelog::empty(from, to));
        };
        let link = build
            .as_str()
            .split(':')
            .next()
            .and_then(|project| self.link(project, build));
        let seen = self
            .exported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(build.as_str());
        let oldest_commit_at = match (from, seen) {
            (None, _) => None,
            (Some(_), Some(seen)) => seen,
            (Some(_), None) => self
                .get_builds(std::slice::from_ref(build))
                .await?
                .iter()
                .find_map(oldest_commit_at),
        };
        Ok(Changelog {
            link,
            oldest_commit_at,
            ..Changelog::empty(from, to)
        })
    }
}

/// `StartBuild`'s `sourceVersion` for `req`. Staging builds the branch. Production builds the
/// pinned commit, as `refs/heads/BRANCH^{SHA}` where the provider takes a reference and a
/// commit (`CodeCommit`, GitHub, Bitbucket: "CodeBuild does not need to download the entire
/// repository to find the commit", Source version sample,
/// <https://docs.aws.amazon.com/codebuild/latest/userguide/sample-source-version.html>), and
/// as the bare commit for GitLab, which takes only a branch, a commit or a tag, and for a
/// host the train cannot tell (a self-managed server).
pub fn source_version(req: &BuildRequest) -> String {
    match (&req.revision, &req.branch) {
        (Revision::Branch(b), _) => b.clone(),
        (Revision::Commit(c), Some(branch)) if takes_a_ref_and_commit(&req.source) => {
            format!("refs/heads/{branch}^{{{c}}}")
        }
        (Revision::Commit(c), _) => c.to_string(),
    }
}

/// Whether the source's provider takes `refs/heads/BRANCH^{SHA}`: the document lists
/// `CodeCommit`, Bitbucket, GitHub and GitHub Enterprise Server (whose hosts the train cannot
/// tell from a self-managed GitLab's, so only the public hosts count).
fn takes_a_ref_and_commit(source: &str) -> bool {
    let rest = source.split_once("://").map_or(source, |(_, r)| r);
    // The authority, or `git@host:path` for an scp-like URL.
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = authority
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    host == "github.com"
        || host == "bitbucket.org"
        || (host.starts_with("git-codecommit.") && host.ends_with(".amazonaws.com"))
        || source.starts_with("codecommit::")
}

#[cfg(test)]
mod source_version_tests {
    use super::*;
    use train_core::config::StageTarget;
    use train_core::{Span, Stage, TrainId};

    fn request(source: &str, revision: Revision, branch: Option<&str>) -> BuildRequest {
        BuildRequest {
            train: TrainId::parse("weekly-2026-W48").unwrap(),
            component: train_core::ComponentName::parse("api").unwrap(),
            stage: Stage::Production,
            attempt: 1,
            source: source.to_owned(),
            revision,
            target: StageTarget {
                buildspec: None,
                project: Some("api-production".to_owned()),
                role: None,
            },
            timeout: Span::parse("1h").unwrap(),
            idempotency_key: "k".to_owned(),
            previous: None,
            branch: branch.map(str::to_owned),
        }
    }

    /// The forms of "Source version sample with AWS CodeBuild" (CodeBuild User Guide) per
    /// provider.
    #[test]
    fn production_names_the_branch_and_the_commit_where_the_provider_takes_both() {
        let sha = "046e8b67481d53bdc86c3f6affdd5d1afae6d369";
        let commit = || Revision::Commit(Commit::parse(sha).unwrap());
        for (source, expected) in [
            (
                "https://github.com/acme/api.git",
                format!("refs/heads/main^{{{sha}}}"),
            ),
            (
                "git@github.com:acme/api.git",
                format!("refs/heads/main^{{{sha}}}"),
            ),
            (
                "https://bitbucket.org/acme/api",
                format!("refs/heads/main^{{{sha}}}"),
            ),
            (
                "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/api",
                format!("refs/heads/main^{{{sha}}}"),
            ),
            ("https://gitlab.com/acme/api.git", sha.to_owned()),
            ("https://git.internal.example/acme/api.git", sha.to_owned()),
        ] {
            assert_eq!(
                source_version(&request(source, commit(), Some("main"))),
                expected,
                "{source}"
            );
        }
        assert_eq!(
            source_version(&request("https://github.com/acme/api.git", commit(), None)),
            sha,
            "a request stored before branches were carried builds the commit"
        );
        assert_eq!(
            source_version(&request(
                "https://github.com/acme/api.git",
                Revision::Branch("release".into()),
                Some("release")
            )),
            "release",
            "staging builds the branch"
        );
    }
}
