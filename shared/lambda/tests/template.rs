//! The SAM template and the code agree: functions, environment, table, bus, schedules, rules
//! and IAM grants. Each check reads `infra/template.yaml` and the code's own declarations,
//! so a rename on either side fails here, not in a deployment.

mod common;

use std::collections::BTreeSet;

use serde_norway::Value as Yaml;
use serde_norway::value::TaggedValue;
use train_core::Config;

fn template() -> Yaml {
    let text = std::fs::read_to_string(common::repo_root().join("infra/template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resources(t: &Yaml) -> &serde_norway::Mapping {
    t["Resources"].as_mapping().unwrap()
}

fn of_type<'a>(t: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

/// `!Ref X` / `!GetAtt X.Arn` as (tag, value).
fn tagged(v: &Yaml) -> Option<(String, String)> {
    match v {
        Yaml::Tagged(t) => {
            let TaggedValue { tag, value } = &**t;
            Some((
                tag.to_string(),
                value.as_str().unwrap_or_default().to_owned(),
            ))
        }
        _ => None,
    }
}

trait IsTagged {
    fn is_tagged_value(&self) -> bool;
}

impl IsTagged for Yaml {
    fn is_tagged_value(&self) -> bool {
        tagged(self).is_some()
    }
}

fn strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) => items.iter().flat_map(strings).collect(),
        Yaml::Tagged(_) => tagged(v).map(|(_, s)| s).into_iter().collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_function_crate_is_in_the_template_and_nothing_else() {
    let t = template();
    let in_template: BTreeSet<String> = of_type(&t, "AWS::Serverless::Function")
        .iter()
        .map(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(common::repo_root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "trainctl")
        .collect();
    assert_eq!(in_template, crates);
    assert_eq!(
        crates,
        common::FUNCTIONS.iter().map(|f| (*f).to_owned()).collect()
    );
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
    }
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
}

#[test]
fn the_template_sets_exactly_the_environment_the_functions_read() {
    let t = template();
    let vars = t["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    let names: BTreeSet<&str> = vars.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, train_lambda::env::ALL.into_iter().collect());
    let refs = |name: &str| tagged(&vars[name]).unwrap();
    assert_eq!(refs(train_lambda::env::TABLE).1, "TrainTable");
    assert_eq!(refs(train_lambda::env::BUCKET).1, "ManifestBucket");
    assert_eq!(refs(train_lambda::env::BUS).1, "TrainBus");
    assert_eq!(resources(&t)["TrainBus"]["Type"], "AWS::Events::EventBus");
    // The config layer's content lands in /opt.
    let config_path = vars[train_lambda::env::CONFIG].as_str().unwrap();
    let layer = &resources(&t)["ConfigLayer"]["Properties"];
    let dir = common::repo_root()
        .join("infra")
        .join(layer["ContentUri"].as_str().unwrap());
    let file = config_path.strip_prefix("/opt/").unwrap();
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    Config::parse(&text).expect("the deployed configuration is valid");
}

#[test]
fn each_function_is_granted_exactly_the_actions_its_calls_need_on_named_resources() {
    let t = template();
    let expected: BTreeSet<String> = train_lambda::iam::actions()
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let mut granted = BTreeSet::new();
        for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                assert_eq!(statement["Effect"], "Allow");
                granted.extend(strings(&statement["Action"]));
                assert!(
                    !strings(&statement["Resource"])
                        .iter()
                        .any(|r| r.contains('*') && !r.ends_with("/*")),
                    "{name}: a wildcard resource in {statement:?}"
                );
                assert!(!statement["Resource"].is_null(), "{name}: {statement:?}");
            }
        }
        assert_eq!(granted, expected, "{name}");
    }
}

#[test]
fn every_operation_the_grants_are_derived_from_is_called_by_the_adapters() {
    let source: String = std::fs::read_dir(common::repo_root().join("shared/aws/src"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for (operation, _) in train_lambda::iam::OPERATIONS {
        let mut method = String::new();
        for (i, c) in operation.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                method.push('_');
            }
            method.push(c.to_ascii_lowercase());
        }
        assert!(
            source.contains(&format!(".{method}()")),
            "{operation} is granted but never called"
        );
    }
}

#[test]
fn the_schedules_come_from_the_configuration_and_deliver_what_the_functions_parse() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    let text = std::fs::read_to_string(common::repo_root().join("infra/config/release-train.toml"))
        .unwrap();
    let from_config = Config::parse(&text).unwrap().template_parameters().unwrap();
    let given: BTreeSet<&str> = from_config.iter().map(|(k, _)| *k).collect();
    for (key, p) in params {
        let key = key.as_str().unwrap();
        assert!(
            given.contains(key) || !p["Default"].is_null(),
            "parameter {key} has no default and `trainctl infra-params` does not set it"
        );
    }
    for key in &given {
        assert!(
            params.contains_key(*key),
            "trainctl infra-params sets {key}, which the template lacks"
        );
    }

    let events = |function: &str| resources(&t)[function]["Properties"]["Events"].clone();
    for (function, event, parameter, action) in [
        ("CutFunction", "Cut", Some("CutSchedule"), None),
        ("PromoteFunction", "Promote", Some("PromoteSchedule"), None),
        (
            "PromoteFunction",
            "Reconcile",
            None,
            Some(train_lambda::scheduled::RECONCILE),
        ),
    ] {
        let e = &events(function)[event];
        assert_eq!(e["Type"], "ScheduleV2", "{event}");
        let p = &e["Properties"];
        if let Some(parameter) = parameter {
            assert_eq!(tagged(&p["ScheduleExpression"]).unwrap().1, parameter);
            assert_eq!(
                tagged(&p["ScheduleExpressionTimezone"]).unwrap().1,
                "ScheduleTimeZone"
            );
        }
        assert!(
            p["DeadLetterConfig"]["Arn"].is_tagged_value(),
            "{event}: a dead-letter queue"
        );
        assert!(
            p["RetryPolicy"]["MaximumRetryAttempts"].is_u64(),
            "{event}: a retry policy"
        );
        // The input, as Scheduler fills it in, is a payload the function accepts.
        let input = tagged(&p["Input"]).unwrap().1;
        let filled = input
            .replace("<aws.scheduler.scheduled-time>", "2026-11-23T08:00:00Z")
            .replace("<aws.scheduler.execution-id>", "e-1")
            .replace(
                "<aws.scheduler.schedule-arn>",
                "arn:aws:scheduler:us-east-1:123456789012:schedule/default/x",
            )
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${AWS::Region}", "us-east-1");
        let payload: serde_json::Value = serde_json::from_str(&filled).unwrap();
        let time = train_lambda::scheduled::scheduled_time(&payload).unwrap();
        assert_eq!(time.to_rfc3339(), "2026-11-23T08:00:00+00:00");
        assert_eq!(
            payload.pointer("/detail/action").and_then(|a| a.as_str()),
            action
        );
    }
}

#[test]
fn the_rules_deliver_the_event_types_the_events_function_handles() {
    let t = template();
    let rules = &resources(&t)["EventsFunction"]["Properties"]["Events"];
    let mut types = BTreeSet::new();
    for (_, rule) in rules.as_mapping().unwrap() {
        assert_eq!(rule["Type"], "EventBridgeRule");
        types.extend(strings(&rule["Properties"]["Pattern"]["detail-type"]));
        assert!(rule["Properties"]["DeadLetterConfig"]["Arn"].is_tagged_value());
        assert!(rule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"].is_u64());
    }
    assert_eq!(
        types,
        [
            train_lambda::events::BUILD_STATE_CHANGE,
            train_lambda::events::ALARM_STATE_CHANGE
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
}

#[test]
fn every_api_route_requires_iam_authorization() {
    let t = template();
    let auth = &resources(&t)["TrainApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "AWS_IAM");
    let routes = &resources(&t)["ApiFunction"]["Properties"]["Events"];
    let mut seen = BTreeSet::new();
    for (_, route) in routes.as_mapping().unwrap() {
        assert_eq!(route["Type"], "HttpApi");
        assert!(
            route["Properties"]["Auth"].is_null(),
            "no route overrides the IAM authorizer"
        );
        seen.insert(format!(
            "{} {}",
            route["Properties"]["Method"].as_str().unwrap(),
            route["Properties"]["Path"].as_str().unwrap()
        ));
    }
    let expected: BTreeSet<String> = [
        "GET /trains",
        "GET /trains/{id}",
        "POST /trains/{id}/{action}",
        "GET /schedule",
        "POST /schedule/{command}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(seen, expected);
}

/// An index: name, key schema, projection.
type Index = (String, Vec<(String, String)>, String);

/// The table as the template declares it matches the table the store's code creates (on
/// the emulator): keys, attribute types, indexes and their projections, TTL.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one comparison per table property, in the template's order
async fn the_table_in_the_template_is_the_table_the_store_uses() {
    let t = template();
    let table = &resources(&t)["TrainTable"]["Properties"];
    let sdk = train_aws::emulator_config(&common::endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = format!("template-{}", std::process::id());
    train_aws::DynamoStore::create_table(&client, &name)
        .await
        .unwrap();
    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let d = described.table().unwrap();

    let keys = |schema: &Yaml| -> Vec<(String, String)> {
        schema
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let code_keys =
        |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
            schema
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect()
        };
    assert_eq!(keys(&table["KeySchema"]), code_keys(d.key_schema()));

    let attrs: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let code_attrs: BTreeSet<(String, String)> = d
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(attrs, code_attrs);

    let indexes: BTreeSet<Index> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().to_owned(),
                keys(&i["KeySchema"]),
                i["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let code_indexes: BTreeSet<Index> = d
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap().to_owned(),
                code_keys(i.key_schema()),
                i.projection()
                    .and_then(|p| p.projection_type())
                    .unwrap()
                    .as_str()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(indexes, code_indexes);

    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let ttl_attr = ttl
        .time_to_live_description()
        .and_then(|t| t.attribute_name())
        .unwrap();
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(ttl_attr)
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["DeletionProtectionEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}

/// The `!Sub` string of a tagged value.
fn sub_text(v: &Yaml) -> String {
    let (tag, text) = tagged(v).expect("a !Sub value");
    assert_eq!(tag, "!Sub");
    text
}

#[test]
fn the_dashboard_is_the_one_generated_from_the_metrics_the_code_emits() {
    use train_core::metrics::{DashboardNames, dashboard};
    let t = template();
    let (_, board) = of_type(&t, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()
        .expect("a dashboard in the template");
    let body = sub_text(&board["Properties"]["DashboardBody"]);
    let in_template: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        in_template,
        dashboard(&DashboardNames::template()),
        "infra/template.yaml's dashboard is stale: replace its DashboardBody with the output of `cargo run -p trainctl -- dashboard`"
    );
    // Every `${...}` the body leaves to !Sub names a pseudo parameter or a resource here.
    let names = resources(&t);
    for placeholder in body.split("${").skip(1) {
        let name = placeholder.split('}').next().unwrap();
        let resource = name.split('.').next().unwrap();
        assert!(
            name.starts_with("AWS::") || names.contains_key(resource),
            "the dashboard names ${{{name}}}, which the template does not define"
        );
    }
}

#[test]
fn every_alarm_watches_a_metric_that_is_emitted_and_notifies_the_alarm_topic() {
    use train_core::metrics::{STUCK_ALARMS, find};
    use train_core::train::State;
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 8, "{}", alarms.len());
    for (name, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            strings(&p["AlarmActions"]),
            ["AlarmTopic"],
            "{name} notifies the alarm topic"
        );
        if p["Namespace"].as_str() == Some("ReleaseTrain") {
            let metric = p["MetricName"].as_str().unwrap();
            let def =
                find(metric).unwrap_or_else(|| panic!("{name} watches {metric}, never emitted"));
            let dims: Vec<&str> = p["Dimensions"]
                .as_sequence()
                .map(|d| d.iter().map(|d| d["Name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            assert!(
                def.dimensions
                    .iter()
                    .any(|set| set.len() == dims.len() && set.iter().all(|d| dims.contains(d))),
                "{name} reads {metric} by {dims:?}; it is published by {:?}",
                def.dimensions
            );
        }
    }
    // One stuck-train alarm for every state a train can wait in, on that state's gauge.
    let waiting: Vec<State> = State::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .collect();
    assert_eq!(STUCK_ALARMS.len(), waiting.len());
    for state in waiting {
        let (resource, _) = STUCK_ALARMS
            .iter()
            .find(|(_, s)| *s == state)
            .unwrap_or_else(|| panic!("no stuck-train alarm for {state}"));
        let p = &resources(&t)[*resource]["Properties"];
        assert_eq!(p["MetricName"].as_str(), Some("TimeInState"), "{resource}");
        assert_eq!(
            p["Dimensions"][0]["Value"].as_str(),
            Some(state.as_str()),
            "{resource}"
        );
        assert_eq!(p["TreatMissingData"].as_str(), Some("notBreaching"));
    }
    for watched in train_core::metrics::OPERATIONS_ALARMS {
        assert!(resources(&t).contains_key(*watched), "{watched}");
    }
    let errors = &resources(&t)["FunctionErrorsAlarm"]["Properties"]["Metrics"];
    let functions: BTreeSet<String> = errors
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| tagged(&m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]))
        .map(|(_, f)| f)
        .collect();
    let all: BTreeSet<String> = of_type(&t, "AWS::Serverless::Function")
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(functions, all, "errors of every function count");
}

/// A train event with every optional field set, as the bus carries them.
fn every_field_set() -> train_core::Announcement {
    train_core::Announcement {
        train: train_core::TrainId::parse("weekly-2026-W48").unwrap(),
        from: Some(train_core::State::Soaking),
        to: train_core::State::Held,
        actor: train_core::Actor::system(),
        reason: Some("why".into()),
        at: chrono::Utc::now(),
        captain: Some("alice".into()),
        action: Some("promotion deferred".into()),
        excluded: [(
            train_core::ComponentName::parse("web").unwrap(),
            "failed".to_owned(),
        )]
        .into_iter()
        .collect(),
    }
}

#[test]
fn the_example_rule_routes_the_train_s_own_events_to_sns_with_fields_they_carry() {
    let t = template();
    let rule = &resources(&t)["TrainEventsToSnsRule"]["Properties"];
    assert_eq!(strings(&rule["EventBusName"]), ["TrainBus"]);
    assert_eq!(
        strings(&rule["EventPattern"]["source"]),
        [train_aws::events::SOURCE]
    );
    assert_eq!(
        strings(&rule["EventPattern"]["detail-type"]),
        [train_aws::events::DETAIL_TYPE]
    );
    let target = &rule["Targets"][0];
    assert_eq!(strings(&target["Arn"]), ["TrainEventsTopic"]);
    assert_eq!(
        resources(&t)["TrainEventsTopic"]["Type"].as_str(),
        Some("AWS::SNS::Topic")
    );
    // The paths the message reads are fields of the event's detail.
    let announcement = serde_json::to_value(every_field_set()).unwrap();
    for (_, path) in target["InputTransformer"]["InputPathsMap"]
        .as_mapping()
        .unwrap()
    {
        let field = path.as_str().unwrap().strip_prefix("$.detail.").unwrap();
        assert!(
            announcement.get(field).is_some(),
            "the rule reads detail.{field}, which the train's events do not carry"
        );
    }
}

#[test]
fn the_readme_documents_every_metric_and_every_field_of_the_events() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    for def in train_core::metrics::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", def.name)),
            "README.md's metric table lacks {}",
            def.name
        );
    }
    let announcement = serde_json::to_value(every_field_set()).unwrap();
    for field in announcement.as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("| `detail.{field}` |")),
            "README.md's event table lacks detail.{field}"
        );
    }
}
