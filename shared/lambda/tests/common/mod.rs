//! The end-to-end rig: the functions' release binaries behind a Runtime API on loopback,
//! moto (started by `tests/run.sh`) as AWS, and the documented event payloads from
//! `aws_lambda_events`' fixtures.
#![allow(dead_code)]

pub mod proxy;
pub mod runtime;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_codebuild::types::{
    ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment,
    ProjectSource, SourceType,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use train_aws::DynamoStore;

#[allow(unused_imports)] // each test crate uses what it needs
pub use runtime::{Answer, Function};

/// The functions, as `functions/<name>` crates build them.
pub const FUNCTIONS: [&str; 5] = ["cut", "promote", "events", "api", "widget"];

pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set: run `bash tests/run.sh`, which installs and starts the AWS emulator (moto) on 127.0.0.1")
    })
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `sam build` puts each function (`<dir>/<LogicalId>/bootstrap`): `FUNCTIONS_DIR`,
/// which `tests/run.sh` sets, else the build directory `tests/run.sh` builds into.
pub const SAM_BUILD_DIR: &str = "tests/.work/sam-build";

/// The template's logical id of each function.
fn logical_id(function: &str) -> String {
    let mut id = function[..1].to_uppercase();
    id.push_str(&function[1..]);
    id + "Function"
}

/// The functions as `sam build` (cargo-lambda) builds them for deployment: the tests run
/// what would be deployed, with the template's build metadata and the workspace's release
/// profile. Never another build: a missing or stale one stops the test with the command
/// that builds it.
pub fn release_binaries() -> Vec<PathBuf> {
    static FOUND: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let dir = std::env::var_os("FUNCTIONS_DIR")
                .map_or_else(|| repo_root().join(SAM_BUILD_DIR), PathBuf::from);
            let how = "bash tests/run.sh, or: CARGO_LAMBDA_COMPILER=cargo PATH=$PWD/.venv-infra/bin:$PATH .venv-infra/bin/sam build --template infra/template.yaml --build-dir tests/.work/sam-build --parameter-overrides Architecture=x86_64";
            let newest_source = newest_source();
            FUNCTIONS
                .iter()
                .map(|f| {
                    let path = dir.join(logical_id(f)).join("bootstrap");
                    let built = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .unwrap_or_else(|e| {
                            panic!("{}: {e}; build the functions: {how}", path.display())
                        });
                    assert!(
                        built >= newest_source,
                        "{} is older than the source: build the functions again: {how}",
                        path.display()
                    );
                    path
                })
                .collect()
        })
        .clone()
}

/// The newest modification among what the functions are built from: their crates and the
/// shared crates they link (not trainctl, local mode or any tests).
fn newest_source() -> std::time::SystemTime {
    fn walk(path: &Path, newest: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            if path.ends_with("tests") || path.ends_with("examples") {
                return;
            }
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            || path.ends_with("Cargo.toml")
            || path.ends_with("Cargo.lock")
        {
            *newest = (*newest).max(meta.modified().unwrap_or(std::time::UNIX_EPOCH));
        }
    }
    let root = repo_root();
    let mut newest = std::time::UNIX_EPOCH;
    let crates = FUNCTIONS.iter().map(|f| format!("functions/{f}"));
    let shared = [
        "shared/core",
        "shared/engine",
        "shared/aws",
        "shared/lambda",
    ];
    for part in crates.chain(shared.map(str::to_owned)) {
        walk(&root.join(part), &mut newest);
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        walk(&root.join(file), &mut newest);
    }
    newest
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a deployment provisions on the emulator: its table, bucket, bus and CodeBuild
/// projects (driven: the tests finish their builds), and the configuration file.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub table: String,
    pub bucket: String,
    pub bus: String,
    pub components: Vec<String>,
    /// Appended to CodeBuild project names: projects are account-wide on the emulator.
    pub projects: String,
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub config: PathBuf,
    observer: std::sync::OnceLock<train_lambda::Deployment>,
}

/// A [`Stack`] with the four functions running behind the Runtime API.
pub struct Deployment {
    pub stack: Stack,
    pub cut: Function,
    pub promote: Function,
    pub events: Function,
    pub api: Function,
    pub widget: Function,
}

impl std::ops::Deref for Deployment {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

pub const CUT: &str = "cron(0 9 ? * MON *)";
pub const PROMOTE: &str = "cron(0 9 ? * WED *)";

/// The configuration the functions read: a weekly train with a short soak, so a test
/// waits seconds, not days (the soak is measured on the functions' real clock).
pub fn config_text(components: &[String], soak: &str, projects: &str) -> String {
    config_text_paced(components, soak, projects, &Pace::default())
}

/// A train's order and pace: each component's wave (1 when absent) and more `[train]` lines.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    pub waves: Vec<u32>,
    pub train: String,
}

pub fn config_text_paced(components: &[String], soak: &str, projects: &str, pace: &Pace) -> String {
    let mut text = format!(
        "[train]\nname = \"weekly\"\ntime_zone = \"Europe/Berlin\"\ncut = \"{CUT}\"\npromote = \"{PROMOTE}\"\nsoak = \"{soak}\"\non_component_failure = \"halt\"\n{}\n",
        pace.train
    );
    for (i, c) in components.iter().enumerate() {
        let wave = pace.waves.get(i).copied().unwrap_or(1);
        let _ = write!(
            text,
            "\n[[component]]\nname = \"{c}\"\nsource = \"https://git.example.invalid/{c}.git\"\nstaging = {{ project = \"{c}-staging{projects}\", buildspec = \"buildspecs/staging.yml\" }}\nproduction = {{ project = \"{c}-production{projects}\", buildspec = \"buildspecs/production.yml\" }}\nwave = {wave}\n"
        );
    }
    text
}

impl Stack {
    pub async fn provision(components: &[&str], soak: &str) -> Self {
        Self::provision_paced(components, soak, &Pace::default()).await
    }

    pub async fn provision_paced(components: &[&str], soak: &str, pace: &Pace) -> Self {
        let endpoint = endpoint();
        let sdk = train_aws::emulator_config(&endpoint).await;
        let dir = tempfile::tempdir().unwrap();
        let table = unique("trains");
        let bucket = unique("manifests");
        let bus = unique("release-train");
        let components: Vec<String> = components.iter().map(|c| (*c).to_owned()).collect();
        let projects = format!("-{}", unique("p"));

        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        DynamoStore::create_table(&dynamo, &table).await.unwrap();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        events.create_event_bus().name(&bus).send().await.unwrap();
        let config = dir.path().join("release-train.toml");
        std::fs::write(
            &config,
            config_text_paced(&components, soak, &projects, pace),
        )
        .unwrap();
        let stack = Self {
            dir,
            table,
            bucket,
            bus,
            components,
            projects,
            endpoint,
            sdk,
            config,
            observer: std::sync::OnceLock::new(),
        };
        let codebuild = stack.codebuild();
        for (_, project) in stack.all_projects() {
            create_project(&codebuild, &project).await;
            drive(&stack.endpoint, &project);
        }
        stack
    }

    /// Every CodeBuild project of the stack, as `("component/stage", project name)`.
    pub fn all_projects(&self) -> Vec<(String, String)> {
        self.components
            .iter()
            .flat_map(|c| {
                ["staging", "production"]
                    .map(|stage| (format!("{c}/{stage}"), self.project(c, stage)))
            })
            .collect()
    }

    /// One deployment straight to the emulator, built once, for a test to read what is
    /// stored without going through faults.
    pub fn observer(&self) -> &train_lambda::Deployment {
        self.observer.get_or_init(|| self.deployment(&self.sdk))
    }

    /// What the functions read from their environment.
    pub fn settings(&self) -> train_lambda::Settings {
        train_lambda::Settings {
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            bus: self.bus.clone(),
            config_path: self.config.clone(),
            external_id: EXTERNAL_ID.to_owned(),
            account: EMULATOR_ACCOUNT.to_owned(),
        }
    }

    /// The engine and clients the in-process tests invoke every handler with, on `sdk`
    /// (the emulator's, or one that reaches it through a proxy): every port wired (the
    /// promote function's wiring), so one deployment serves cut, promote and events. The
    /// end-to-end tests run each function's own binary, with its own wiring.
    pub fn deployment(&self, sdk: &aws_config::SdkConfig) -> train_lambda::Deployment {
        self.deployment_of(sdk, &train_lambda::Wiring::PROMOTE)
    }

    /// One function's deployment, as its `main` builds it.
    pub fn deployment_of(
        &self,
        sdk: &aws_config::SdkConfig,
        wiring: &train_lambda::Wiring,
    ) -> train_lambda::Deployment {
        let settings = self.settings();
        let config = settings.load_config().unwrap();
        train_lambda::Deployment::new(&settings, std::sync::Arc::new(config), sdk, wiring)
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            (train_lambda::env::TABLE, self.table.as_str()),
            (train_lambda::env::BUCKET, self.bucket.as_str()),
            (train_lambda::env::BUS, self.bus.as_str()),
            (train_lambda::env::CONFIG, self.config.to_str().unwrap()),
            (train_lambda::env::EXTERNAL_ID, EXTERNAL_ID),
            (train_lambda::env::ACCOUNT, EMULATOR_ACCOUNT),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    pub fn project(&self, component: &str, stage: &str) -> String {
        format!("{component}-{stage}{}", self.projects)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    pub fn codebuild(&self) -> aws_sdk_codebuild::Client {
        aws_sdk_codebuild::Client::new(&self.sdk)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// Deletes what [`Stack::provision`] made (table, bucket with its objects, bus,
    /// projects): the emulator keeps everything in memory, and a long reliability run
    /// provisions a stack every 25 trials.
    pub async fn teardown(self) {
        let dynamo = aws_sdk_dynamodb::Client::new(&self.sdk);
        dynamo
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
        let s3 = self.s3();
        // A listing holds at most 1,000 versions: list again until nothing is left.
        loop {
            let listed = s3
                .list_object_versions()
                .bucket(&self.bucket)
                .send()
                .await
                .unwrap();
            if listed.versions().is_empty() {
                break;
            }
            for v in listed.versions() {
                s3.delete_object()
                    .bucket(&self.bucket)
                    .set_key(v.key().map(str::to_owned))
                    .set_version_id(v.version_id().map(str::to_owned))
                    .send()
                    .await
                    .unwrap();
            }
        }
        s3.delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        aws_sdk_eventbridge::Client::new(&self.sdk)
            .delete_event_bus()
            .name(&self.bus)
            .send()
            .await
            .unwrap();
        let codebuild = self.codebuild();
        for (_, project) in self.all_projects() {
            codebuild
                .delete_project()
                .name(project)
                .send()
                .await
                .unwrap();
        }
    }

    /// Plays CodeBuild's build environment: the build ends with `status` at `commit`.
    pub fn finish_build(&self, build_id: &str, status: &str, commit: Option<&str>) {
        post_control(
            &self.endpoint,
            "/_release_train/codebuild/finish",
            &json!({ "build_id": build_id, "status": status, "resolved_source_version": commit }),
        );
    }
}

impl Deployment {
    pub async fn start(components: &[&str], soak: &str) -> Self {
        Self::start_paced(components, soak, &Pace::default()).await
    }

    pub async fn start_paced(components: &[&str], soak: &str, pace: &Pace) -> Self {
        let stack = Stack::provision_paced(components, soak, pace).await;
        let env = stack.env();
        let paths = release_binaries();
        let dir = stack.dir.path();
        let (cut, promote, events, api, widget) = tokio::join!(
            Function::start("cut", &paths[0], &env, dir),
            Function::start("promote", &paths[1], &env, dir),
            Function::start("events", &paths[2], &env, dir),
            Function::start("api", &paths[3], &env, dir),
            Function::start("widget", &paths[4], &env, dir),
        );
        Self {
            stack,
            cut,
            promote,
            events,
            api,
            widget,
        }
    }

    /// `GET` or `POST` through the `api` function, as API Gateway delivers it.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        caller: Option<&str>,
    ) -> (u16, Value) {
        let answer = self.api.ok(http_request(method, path, body, caller)).await;
        let status = u16::try_from(answer["statusCode"].as_u64().unwrap()).unwrap();
        let body = answer["body"].as_str().unwrap_or("null");
        (status, serde_json::from_str(body).unwrap())
    }

    pub async fn train(&self, id: &str) -> Value {
        let (status, body) = self
            .http("GET", &format!("/trains/{id}"), None, Some(ALICE))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The build ids of a train's components for a stage, from `GET /trains/{id}`.
    pub async fn builds(&self, id: &str, stage: &str) -> Vec<(String, String)> {
        let train = self.train(id).await;
        train["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                let build = c[stage]["build_id"].as_str()?;
                Some((c["name"].as_str().unwrap().to_owned(), build.to_owned()))
            })
            .collect()
    }

    pub async fn stop(self) {
        for f in [self.cut, self.promote, self.events, self.api, self.widget] {
            f.stop().await;
        }
        self.stack.teardown().await;
    }

    pub fn functions(&self) -> [&Function; 5] {
        [
            &self.cut,
            &self.promote,
            &self.events,
            &self.api,
            &self.widget,
        ]
    }
}

pub const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

pub async fn create_project(client: &aws_sdk_codebuild::Client, name: &str) {
    create_project_in(client, name, EMULATOR_ACCOUNT).await;
}

/// A project in `account`, whose service role is that account's (CodeBuild refuses a
/// service role of another account).
pub async fn create_project_in(client: &aws_sdk_codebuild::Client, name: &str, account: &str) {
    client
        .create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::Codecommit)
                .location("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/example")
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role(format!("arn:aws:iam::{account}:role/codebuild"))
        .send()
        .await
        .unwrap();
}

pub fn drive(endpoint: &str, project: &str) {
    post_control(
        endpoint,
        "/_release_train/codebuild/drive",
        &json!({ "project": project }),
    );
}

fn post_control(endpoint: &str, path: &str, body: &Value) {
    let url = format!("{endpoint}{path}");
    let response = ureq::post(&url).send_json(body).unwrap();
    assert_eq!(response.status(), 200, "{url}");
}

fn fixture(name: &str) -> Value {
    let dir = std::env::var("RELEASE_TRAIN_EVENT_FIXTURES")
        .map_or_else(|_| fixtures_dir(), PathBuf::from);
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("fixture {name} in {}: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

/// `aws_lambda_events`' own example payloads, from the crate's source that cargo unpacked
/// (the version in `Cargo.lock`).
fn fixtures_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).unwrap();
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"aws_lambda_events\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_owned())
            .expect("aws_lambda_events in Cargo.lock");
        let home = std::env::var_os("CARGO_HOME").map_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
            PathBuf::from,
        );
        let crate_dir = format!("aws_lambda_events-{version}");
        std::fs::read_dir(home.join("registry/src"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|registry| registry.path().join(&crate_dir).join("src/fixtures"))
            .find(|dir| dir.is_dir())
            .unwrap_or_else(|| panic!("{crate_dir} is not unpacked under {}", home.display()))
    })
    .clone()
}

/// A metric alarm named `name` (its metric is never fed: tests set its state).
pub async fn create_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Shop")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

/// Puts alarm `name` in `state`, as CloudWatch would when its metric crosses the threshold.
pub async fn set_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
    state: aws_sdk_cloudwatch::types::StateValue,
) {
    cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .unwrap();
}

/// The account the emulator acts in for the static test credentials (moto's default).
pub const EMULATOR_ACCOUNT: &str = "123456789012";

/// The external id the functions pass when they assume a member account's role.
pub const EXTERNAL_ID: &str = "release-train-test-external-id";

/// The scheduled event (the shape the template's Scheduler input reproduces), at `time`.
pub fn scheduled_event(time: DateTime<Utc>, detail: Value) -> Value {
    let mut event = fixture("example-eventbridge-schedule.json");
    event["time"] = json!(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event["detail"] = detail;
    event
}

/// A CodeBuild build state change for `build_id` (`project:uuid`) of `train`, carrying the
/// variables the builder set on the build.
pub fn build_state_change(build_id: &str, status: &str, train: &str, component: &str) -> Value {
    let mut event = fixture("example-codebuild-state-change.json");
    let project = build_id.split(':').next().unwrap();
    let arn = format!("arn:aws:codebuild:us-east-1:123456789012:build/{build_id}");
    event["resources"] = json!([arn]);
    event["detail"]["build-status"] = json!(status);
    event["detail"]["project-name"] = json!(project);
    event["detail"]["build-id"] = json!(arn);
    event["detail"]["additional-information"]["environment"]["environment-variables"] = json!([
        { "name": "RELEASE_TRAIN_ID", "type": "PLAINTEXT", "value": train },
        { "name": "RELEASE_COMPONENT", "type": "PLAINTEXT", "value": component },
    ]);
    event
}

/// An HTTP API (payload format 2.0) request with an IAM authorizer context for `caller`,
/// or none.
pub fn http_request(method: &str, path: &str, body: Option<Value>, caller: Option<&str>) -> Value {
    let mut event = fixture("example-apigw-v2-request-iam.json");
    let (path, query) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
    event["routeKey"] = json!("$default");
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["queryStringParameters"] = Value::Null;
    event["pathParameters"] = Value::Null;
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["routeKey"] = json!("$default");
    event["requestContext"]["stage"] = json!("$default");
    match caller {
        Some(arn) => event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn),
        None => event["requestContext"]["authorizer"] = Value::Null,
    }
    match body {
        Some(b) => {
            event["body"] = json!(b.to_string());
            event["isBase64Encoded"] = json!(false);
            event["headers"]["content-type"] = json!("application/json");
        }
        None => {
            event["body"] = Value::Null;
        }
    }
    event
}

/// The SDK operations each function's log says it called.
pub fn calls_logged(function: &Function) -> std::collections::BTreeSet<String> {
    function
        .log_lines()
        .iter()
        .filter_map(|line| line["fields"]["aws_calls"].as_str().map(str::to_owned))
        .filter_map(|calls| serde_json::from_str::<serde_json::Map<String, Value>>(&calls).ok())
        .flat_map(|m| m.into_iter().map(|(k, _)| k))
        .collect()
}

/// Debian's `chromium`, which the test command installs, headless and without the
/// background traffic it would send off this machine.
pub fn chromium(user_data: &Path, args: &[&str]) -> std::process::Output {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    std::process::Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", user_data.display()))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{binary} does not run ({e}); install Debian's chromium (tests/run.sh does)")
        })
}
