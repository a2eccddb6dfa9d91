//! The SAM template and the code agree: functions, environment, table, bus, schedules, rules
//! and IAM grants. Each check reads `infra/template.yaml` and the code's own declarations,
//! so a rename on either side fails here, not in a deployment.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

// ---- Reading the source. Each function's role is derived from its code: which ports its
// handler reaches through the engine (`functions/*/src/main.rs` -> `shared/lambda/src` ->
// `shared/engine/src`), and which SDK operations the adapter on each port calls
// (`shared/aws/src`). Text, not a Rust parser: a function's body by brace matching (string
// and char literals and comments skipped), a call by its name and what stands before it.

/// A source file without its unit tests (what the tests call is not what ships).
fn source(path: &str) -> String {
    without_tests(module_text(&common::repo_root().join(path)))
}

/// A module's text without its tests: `X.rs` and the files of its submodules in `X/` (the
/// code moved there is still the module's, e.g. `service/cut.rs`, `dynamo/commit.rs`).
fn module_text(path: &Path) -> String {
    let mut text = without_tests(
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let mut parts: Vec<PathBuf> = std::fs::read_dir(path.with_extension(""))
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    parts.sort();
    for part in parts {
        text.push('\n');
        text.push_str(&without_tests(std::fs::read_to_string(&part).unwrap()));
    }
    text
}

fn without_tests(mut text: String) -> String {
    if let Some(at) = text.find("#[cfg(test)]") {
        text.truncate(at);
    }
    text
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The index just past the `}` that closes the `{` at `open`.
fn matching_brace(src: &str, open: usize) -> usize {
    let b = src.as_bytes();
    let (mut depth, mut i) = (0usize, open);
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i += src[i..].find('\n').unwrap_or(src.len() - i);
            }
            b'r' if src[i..].starts_with("r#\"") && (i == 0 || !is_ident(b[i - 1])) => {
                i += 3 + src[i + 3..].find("\"#").unwrap() + 1;
            }
            b'"' => {
                i += 1;
                while b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            // A char literal ('{', '"', '\n'); a lifetime ('a) has no closing quote there.
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\\') && b.get(i + 3) == Some(&b'\'') => i += 3,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced braces from byte {open}");
}

/// Every `fn NAME` in `src` with its body; the bodies of functions sharing a name are
/// joined (several `new`s: reaching one counts as reaching all, erring towards a grant).
fn bodies(src: &str) -> BTreeMap<String, String> {
    let b = src.as_bytes();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut from = 0;
    while let Some(at) = src[from..].find("fn ") {
        let start = from + at;
        from = start + 3;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let name: String = src[from..]
            .bytes()
            .take_while(|c| is_ident(*c))
            .map(char::from)
            .collect();
        let after = src[from + name.len()..].chars().next();
        if name.is_empty() || !matches!(after, Some('(' | '<')) {
            continue;
        }
        let Some(open) = src[from..].find(['{', ';']) else {
            break;
        };
        if b[from + open] == b';' {
            continue; // a declaration without a body
        }
        let open = from + open;
        let body = &src[open..matching_brace(src, open)];
        out.entry(name).or_default().push_str(body);
    }
    out
}

/// A call in a body: what stands before its name (`self`, `engine`, a module, or nothing)
/// and the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    Bare(String),
    Method { receiver: String, name: String },
    Path { module: String, name: String },
}

/// `body` with the white space around each `.` dropped, so a method chain split over lines
/// (`self\n    .ports\n    .store`) reads as one.
fn joined_chains(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut run = String::from(c);
            while let Some(w) = chars.next_if(|w| w.is_whitespace()) {
                run.push(w);
            }
            if !out.ends_with('.') && chars.peek() != Some(&'.') {
                out.push_str(&run);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn calls(body: &str) -> Vec<Call> {
    let body = &joined_chains(body);
    let b = body.as_bytes();
    let ident_before = |end: usize| {
        let start = body[..end]
            .bytes()
            .rev()
            .take_while(|c| is_ident(*c))
            .count();
        body[end - start..end].to_owned()
    };
    let mut out = Vec::new();
    for (i, _) in body.match_indices('(') {
        let name = ident_before(i);
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            continue;
        }
        let before = i - name.len();
        out.push(if before > 0 && b[before - 1] == b'.' {
            Call::Method {
                receiver: ident_before(before - 1),
                name,
            }
        } else if body[..before].ends_with("::") {
            Call::Path {
                module: ident_before(before - 2),
                name,
            }
        } else {
            Call::Bare(name)
        });
    }
    out
}

/// The source files a handler's calls lead into, by the module name they are called by.
const MODULES: &[(&str, &str)] = &[
    ("scheduled", "shared/lambda/src/scheduled.rs"),
    ("events", "shared/lambda/src/events.rs"),
    ("http", "shared/lambda/src/http.rs"),
    ("widget", "shared/lambda/src/widget.rs"),
    ("api", "shared/engine/src/api.rs"),
    ("train_page", "shared/page/src/lib.rs"),
];
const ENGINE: &str = "shared/engine/src/service.rs";

/// Every port of `train_engine::Ports`, as its source declares them.
fn all_ports() -> BTreeSet<String> {
    let src = source("shared/engine/src/ports.rs");
    let start = src.find("pub struct Ports {").unwrap();
    let end = start + src[start..].find('}').unwrap();
    src[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub ")?.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

/// The ports a function's `main` reaches: its handler's calls, followed through the
/// handler modules, the engine API and the engine's methods, to `self.ports.PORT`.
fn ports_reached(function: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let main = format!("functions/{function}/src/main.rs");
    for path in MODULES
        .iter()
        .map(|(_, p)| *p)
        .chain([ENGINE, main.as_str()])
    {
        files.insert(path.to_owned(), bodies(&source(path)));
    }
    let mut ports = BTreeSet::new();
    let mut engine_entries = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![(main.clone(), "main".to_owned())];
    while let Some((file, name)) = todo.pop() {
        let Some(body) = files.get(&file).and_then(|f| f.get(&name)) else {
            continue;
        };
        if !seen.insert((file.clone(), name.clone())) {
            continue;
        }
        if file == ENGINE {
            let body = joined_chains(body);
            for (i, _) in body.match_indices("ports.") {
                let port: String = body[i + 6..]
                    .bytes()
                    .take_while(|c| is_ident(*c))
                    .map(char::from)
                    .collect();
                ports.insert(port);
            }
        }
        // A handler that takes the ports out of the engine could reach any of them.
        if file != ENGINE && body.contains(".ports()") {
            ports.extend(all_ports());
        }
        for call in calls(body) {
            let next = match call {
                Call::Bare(n) => (file.clone(), n),
                Call::Method { receiver, name } if receiver == "self" => (file.clone(), name),
                Call::Path { module, name } if module == "Self" => (file.clone(), name),
                Call::Method { receiver, name } if receiver == "engine" => {
                    if file != ENGINE {
                        engine_entries.insert(name.clone());
                    }
                    (ENGINE.to_owned(), name)
                }
                Call::Path { module, name } => match MODULES.iter().find(|(m, _)| *m == module) {
                    Some((_, path)) => ((*path).to_owned(), name),
                    None => continue,
                },
                Call::Method { .. } => continue,
            };
            todo.push(next);
        }
    }
    (ports, engine_entries)
}

#[test]
fn each_function_s_ports_are_the_ones_its_handler_reaches_through_the_engine() {
    let known = all_ports();
    for function in common::FUNCTIONS {
        let (reached, entries) = ports_reached(function);
        assert!(
            !entries.is_empty(),
            "{function}: found no engine call from its main (has the handler moved?)"
        );
        assert!(reached.is_subset(&known), "{function}: {reached:?}");
        let (_, table) = train_lambda::iam::FUNCTIONS
            .iter()
            .find(|(f, _)| *f == function)
            .unwrap_or_else(|| panic!("iam::FUNCTIONS lacks {function}"));
        let table: BTreeSet<String> = table.iter().map(|p| (*p).to_owned()).collect();
        assert_eq!(
            reached, table,
            "{function} reaches these ports through {entries:?}: update iam::FUNCTIONS (and so its role)"
        );
        if train_lambda::iam::READ_ONLY.contains(&function) {
            // A read-only role: the engine entries it reaches only read the store.
            let reads: BTreeSet<String> = ["list", "schedule_controls", "config"]
                .into_iter()
                .map(str::to_owned)
                .collect();
            assert!(
                entries.is_subset(&reads),
                "{function} is read-only but calls {entries:?}"
            );
        }
    }
    let ports: BTreeSet<String> = train_lambda::iam::ADAPTERS
        .iter()
        .map(|a| a.port.to_owned())
        .collect();
    assert_eq!(ports, known, "iam::ADAPTERS names one adapter per port");
}

/// Where the SDK crates' sources are: each operation is a module `src/operation/NAME`.
fn sdk_operations() -> BTreeMap<String, String> {
    let lock = source("Cargo.lock");
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let registry = home.join("registry/src");
    let mut ops = BTreeMap::new();
    for krate in [
        "aws-sdk-dynamodb",
        "aws-sdk-codebuild",
        "aws-sdk-s3",
        "aws-sdk-eventbridge",
        "aws-sdk-cloudwatch",
        "aws-sdk-sqs",
    ] {
        let Some(version) = lock
            .split("[[package]]")
            .find(|p| p.contains(&format!("name = \"{krate}\"\n")))
            .and_then(|p| p.split("version = \"").nth(1))
            .and_then(|v| v.split('"').next())
        else {
            continue; // not a dependency: nothing can call it
        };
        let dir = std::fs::read_dir(&registry)
            .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
            .map(|e| {
                e.unwrap()
                    .path()
                    .join(format!("{krate}-{version}/src/operation"))
            })
            .find(|d| d.is_dir())
            .unwrap_or_else(|| {
                panic!(
                    "{krate} {version}'s source is not under {}",
                    registry.display()
                )
            });
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let snake = path.file_name().unwrap().to_str().unwrap().to_owned();
                let pascal: String = snake
                    .split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect();
                ops.insert(snake, pascal);
            }
        }
    }
    ops
}

/// Functions of the adapters' files that the deployed functions never call: the template
/// creates the table, `create_table` is for the tests and local tooling.
const SETUP_ONLY: &[(&str, &str)] = &[("dynamo.rs", "create_table")];

#[test]
fn each_adapter_calls_exactly_the_sdk_operations_its_grants_are_derived_from() {
    let ops = sdk_operations();
    let dir = common::repo_root().join("shared/aws/src");
    let sources: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, without_tests(module_text(&p)))
        })
        .collect();
    let files: BTreeMap<String, BTreeMap<String, String>> = sources
        .iter()
        .map(|(name, text)| (name.clone(), bodies(text)))
        .collect();
    for adapter in train_lambda::iam::ADAPTERS {
        let declared: BTreeSet<&str> = adapter.operations.iter().copied().collect();
        let Some((file, _)) = sources
            .iter()
            .find(|(_, s)| s.contains(&format!("pub struct {} ", adapter.name)))
        else {
            // Not an AWS adapter (metrics are log lines): it must call nothing.
            assert!(declared.is_empty(), "{}: {declared:?}", adapter.name);
            let metrics = source("shared/aws/src/metrics.rs");
            assert!(metrics.contains(&format!("pub struct {};", adapter.name)));
            continue;
        };
        // Every function of its file, then what they call in the other adapter files.
        let mut todo: Vec<(String, String)> = files[file]
            .keys()
            .filter(|f| !SETUP_ONLY.contains(&(file.as_str(), f.as_str())))
            .map(|f| (file.clone(), f.clone()))
            .collect();
        let mut seen = BTreeSet::new();
        let mut called = BTreeSet::new();
        while let Some((f, name)) = todo.pop() {
            let Some(body) = files[&f].get(&name) else {
                continue;
            };
            if !seen.insert((f.clone(), name.clone())) {
                continue;
            }
            for (snake, pascal) in &ops {
                if body.contains(&format!(".{snake}()")) {
                    called.insert(pascal.as_str());
                }
            }
            for call in calls(body) {
                if let Call::Path { module, name } = call
                    && files.contains_key(&format!("{module}.rs"))
                {
                    todo.push((format!("{module}.rs"), name));
                }
            }
        }
        assert_eq!(
            called, declared,
            "{} ({file}) calls these SDK operations: update iam::ADAPTERS (and so the roles)",
            adapter.name
        );
    }
    // The setup-only functions are never reached from the functions' code.
    for path in ["shared/lambda/src/lib.rs", ENGINE] {
        for (_, name) in SETUP_ONLY {
            assert!(!source(path).contains(name), "{path} calls {name}");
        }
    }
    // A transaction needs the action of each kind of item write inside it.
    let all: String = sources.values().cloned().collect();
    let in_transactions: BTreeSet<&str> = [
        ("Put::builder", "dynamodb:PutItem"),
        ("Update::builder", "dynamodb:UpdateItem"),
        ("Delete::builder", "dynamodb:DeleteItem"),
        ("ConditionCheck::builder", "dynamodb:ConditionCheckItem"),
    ]
    .into_iter()
    .filter(|(kind, _)| all.contains(kind))
    .map(|(_, action)| action)
    .collect();
    let listed: BTreeSet<&str> = train_lambda::iam::actions_for("TransactWriteItems")
        .unwrap()
        .iter()
        .copied()
        .collect();
    assert_eq!(listed, in_transactions);
}

/// Every resource name a value refers to: `!Ref X`, `!GetAtt X.Arn`, `${X...}` in a `!Sub`.
fn names_referred(v: &Yaml) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    match v {
        Yaml::String(s) => {
            for part in s.split("${").skip(1) {
                let name = part.split(['}', '.']).next().unwrap();
                out.insert(name.to_owned());
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|i| out.extend(names_referred(i))),
        Yaml::Mapping(m) => m.values().for_each(|i| out.extend(names_referred(i))),
        Yaml::Tagged(t) => {
            let TaggedValue { tag, value } = &**t;
            if (tag == "!Ref" || tag == "!GetAtt")
                && let Some(s) = value.as_str()
            {
                out.insert(s.split('.').next().unwrap().to_owned());
            } else if tag == "!Sub"
                && let Some(local) = value[1].as_mapping()
            {
                // `!Sub [text, {Name: value}]`: the names the mapping defines are local.
                out.extend(names_referred(&value[0]));
                for (k, v) in local {
                    out.remove(k.as_str().unwrap());
                    out.extend(names_referred(v));
                }
            } else {
                out.extend(names_referred(value));
            }
        }
        _ => {}
    }
    out.retain(|n| !n.starts_with("AWS::"));
    out
}

/// The resource each service's actions may act on: this stack's own.
const RESOURCE_OF: &[(&str, &str)] = &[
    ("dynamodb", "TrainTable"),
    ("codebuild", "BuildProjects"),
    ("s3", "ManifestBucket"),
    ("events", "TrainBus"),
    ("sts", "MemberRoles"),
];

/// The one wildcard form a project grant may take: CloudFormation allows no function in a
/// `Fn::Join` delimiter, so project ARNs are built as `arn:*:codebuild:*:*:project/NAME`,
/// and the statement pins the region with `aws:RequestedRegion` (the template's comment
/// cites both documents).
fn project_wildcards_are_pinned(statement: &Yaml, text: &str) -> bool {
    let pinned = tagged(&statement["Condition"]["StringEquals"]["aws:RequestedRegion"])
        == Some(("!Ref".to_owned(), "AWS::Region".to_owned()));
    let rest = text.replace("arn:*:codebuild:*:*:project/", "");
    pinned && !rest.contains('*')
}

/// A statement, or the one inside `!If [CONDITION, statement, !Ref AWS::NoValue]` (present
/// only under that condition).
fn unconditional(statement: &Yaml) -> (Option<String>, &Yaml) {
    if let Yaml::Tagged(t) = statement
        && t.tag == "!If"
    {
        let parts = t.value.as_sequence().unwrap();
        assert_eq!(
            tagged(&parts[2]),
            Some(("!Ref".to_owned(), "AWS::NoValue".to_owned()))
        );
        return (parts[0].as_str().map(str::to_owned), &parts[1]);
    }
    (None, statement)
}

/// AWS requires resource `*` for this action to see composite alarms: "To retrieve
/// information about composite alarms, your cloudwatch:DescribeAlarms permission must have
/// a * scope" (Amazon CloudWatch permissions reference,
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html>).
const STAR_REQUIRED: &[&str] = &["cloudwatch:DescribeAlarms"];

#[test]
fn each_function_s_role_grants_exactly_the_actions_its_code_can_call_on_its_own_resources() {
    let t = template();
    let mut roles = BTreeMap::new();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let mut granted = BTreeSet::new();
        for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                let (condition, statement) = unconditional(statement);
                if let Some(condition) = condition {
                    // Only the member roles are conditional: a single-account train has none.
                    assert_eq!(condition, "HasMembers", "{name}: {statement:?}");
                    assert_eq!(
                        strings(&statement["Action"]),
                        [train_lambda::iam::ASSUME_MEMBER_ROLE]
                    );
                }
                assert_eq!(statement["Effect"], "Allow");
                let actions = strings(&statement["Action"]);
                let services: BTreeSet<&str> = actions
                    .iter()
                    .map(|a| a.split(':').next().unwrap())
                    .collect();
                assert_eq!(services.len(), 1, "{name}: one service per statement");
                let service = *services.first().unwrap();
                let resource = &statement["Resource"];
                assert!(!resource.is_null(), "{name}: {statement:?}");
                if resource.as_str() == Some("*") {
                    assert!(
                        actions.iter().all(|a| STAR_REQUIRED.contains(&a.as_str())),
                        "{name}: resource * for {actions:?}, which AWS lets us narrow"
                    );
                } else {
                    let (_, own) = RESOURCE_OF
                        .iter()
                        .find(|(s, _)| *s == service)
                        .unwrap_or_else(|| panic!("{name}: {service} on what?"));
                    assert_eq!(
                        names_referred(resource),
                        BTreeSet::from([(*own).to_owned()]),
                        "{name}: {service} actions on {resource:?}"
                    );
                    let text = serde_norway::to_string(resource).unwrap();
                    assert!(
                        !text.contains('*')
                            || text.contains("/index/*")
                            || text.contains("/trains/*")
                            || (service == "codebuild"
                                && project_wildcards_are_pinned(statement, &text)),
                        "{name}: a wildcard in {text}"
                    );
                }
                granted.extend(actions);
            }
        }
        let expected: BTreeSet<String> = train_lambda::iam::function_actions(binary)
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(granted, expected, "{name} ({binary})");
        roles.insert(binary.to_owned(), granted);
    }
    // Least privilege is visible: the cut and the API cannot read alarms.
    assert!(!roles["cut"].contains("cloudwatch:DescribeAlarms"));
    assert!(roles["promote"].contains("cloudwatch:DescribeAlarms"));
    assert!(roles["cut"].contains(train_lambda::iam::ASSUME_MEMBER_ROLE));
    // The widget reads the table and nothing else.
    assert_eq!(
        roles["widget"],
        BTreeSet::from(["dynamodb:GetItem".to_owned(), "dynamodb:Query".to_owned()])
    );
    assert_eq!(roles.len(), 5);
}

// ---- Names CloudFormation builds from the stack's name or id.

/// A rendered intrinsic: a string or a list of them.
#[derive(Debug, Clone, PartialEq)]
enum Rendered {
    Text(String),
    List(Vec<String>),
}

impl Rendered {
    fn text(self) -> String {
        match self {
            Rendered::Text(s) => s,
            Rendered::List(l) => panic!("a list where a string belongs: {l:?}"),
        }
    }
}

fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').unwrap() + at;
        let name = &rest[at + 2..end];
        out.push_str(
            vars.get(name)
                .unwrap_or_else(|| panic!("${{{name}}} is not known here")),
        );
        rest = &rest[end + 1..];
    }
    out + rest
}

/// What CloudFormation makes of `v` with these parameters: `!Sub` (both forms), `!Ref`,
/// `!Select`, `!Split`, `!Join`; enough for the names in the template.
fn render(v: &Yaml, vars: &BTreeMap<String, String>) -> Rendered {
    match v {
        Yaml::String(s) => Rendered::Text(s.clone()),
        Yaml::Number(n) => Rendered::Text(n.to_string()),
        Yaml::Sequence(items) => {
            Rendered::List(items.iter().map(|i| render(i, vars).text()).collect())
        }
        Yaml::Tagged(t) => {
            let TaggedValue { tag, value } = &**t;
            let arg = |i: usize| render(&value[i], vars);
            match tag.to_string().as_str() {
                "!Ref" => Rendered::Text(vars[value.as_str().unwrap()].clone()),
                "!Sub" if value.is_string() => {
                    Rendered::Text(substitute(value.as_str().unwrap(), vars))
                }
                "!Sub" => {
                    let mut local = vars.clone();
                    for (k, v) in value[1].as_mapping().unwrap() {
                        local.insert(k.as_str().unwrap().to_owned(), render(v, vars).text());
                    }
                    Rendered::Text(substitute(value[0].as_str().unwrap(), &local))
                }
                "!Select" => {
                    let index: usize = arg(0).text().parse().unwrap();
                    let Rendered::List(list) = arg(1) else {
                        panic!("!Select from a string")
                    };
                    Rendered::Text(list[index].clone())
                }
                "!Split" => Rendered::List(
                    arg(1)
                        .text()
                        .split(&arg(0).text())
                        .map(str::to_owned)
                        .collect(),
                ),
                "!Join" => {
                    let Rendered::List(list) = arg(1) else {
                        panic!("!Join of a string")
                    };
                    Rendered::Text(list.join(&arg(0).text()))
                }
                other => panic!("{other} is not rendered here"),
            }
        }
        other => panic!("cannot render {other:?}"),
    }
}

/// The pseudo parameters of a stack called `name` with id `uuid`.
fn stack(name: &str, uuid: &str) -> BTreeMap<String, String> {
    [
        ("AWS::StackName", name.to_owned()),
        (
            "AWS::StackId",
            format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/{uuid}"),
        ),
        ("AWS::Region", "us-east-1".to_owned()),
        ("AWS::AccountId", "123456789012".to_owned()),
        ("AWS::Partition", "aws".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Every schedule's name as CloudFormation renders it for a stack.
fn schedule_names(t: &Yaml, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (function, f) in of_type(t, "AWS::Serverless::Function") {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event, e) in events {
            if e["Type"] == "ScheduleV2" {
                let schedule = format!("{function}.{}", event.as_str().unwrap());
                let name = &e["Properties"]["Name"];
                // Without one SAM names it by its logical id, the same in every stack.
                assert!(!name.is_null(), "{schedule}: no Name");
                out.push((schedule, render(name, vars).text()));
            }
        }
    }
    out
}

/// EventBridge Scheduler's `CreateSchedule` takes a `Name` of "Length Constraints: Minimum
/// length of 1. Maximum length of 64. Pattern: `^[0-9a-zA-Z-_.]+$`" (Amazon EventBridge
/// Scheduler API Reference, `CreateSchedule`,
/// <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html>),
/// unique within its schedule group; a stack name "can contain only alphanumeric characters
/// (case sensitive) and hyphens. It must start with an alphabetical character and can't be
/// longer than 128 characters" (AWS CloudFormation API Reference, `CreateStack`,
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html>).
#[test]
fn every_schedule_name_fits_scheduler_s_rules_for_any_stack_name_and_differs_between_stacks() {
    let t = template();
    let longest = format!("r{}", "-x".repeat(63) + "9");
    assert_eq!(longest.len(), 128);
    let one = schedule_names(&t, &stack(&longest, "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"));
    let other = schedule_names(&t, &stack(&longest, "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"));
    let short = schedule_names(&t, &stack("rt", "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"));
    assert_eq!(one.len(), 3, "{one:?}");
    for (schedule, name) in one.iter().chain(&short) {
        assert!(
            (1..=64).contains(&name.len()),
            "{schedule}: {name:?} is {} characters",
            name.len()
        );
        assert!(
            name.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)),
            "{schedule}: {name:?}"
        );
    }
    let distinct: BTreeSet<&String> = one.iter().map(|(_, n)| n).collect();
    assert_eq!(distinct.len(), one.len(), "{one:?}");
    // Two stacks of one template in one account and region (the default group) never
    // collide, whatever their names.
    for ((_, a), (_, b)) in one.iter().zip(&other) {
        assert_ne!(a, b);
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
    // No alarm per function's Errors (each would be a billed alarm metric): the functions'
    // failures that retries do not fix reach the dead-letter queue, whose alarm is here, and
    // every function's errors are on the dashboard.
    assert!(!resources(&t).contains_key("FunctionErrorsAlarm"));
    assert_eq!(
        resources(&t)["DeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"],
        serde_norway::from_str::<Yaml>("!GetAtt DeadLetterQueue.QueueName").unwrap()
    );
    let graphed: BTreeSet<String> = train_core::metrics::DashboardNames::template()
        .functions
        .iter()
        .map(|(label, _)| format!("{label}Function"))
        .collect();
    let all: BTreeSet<String> = of_type(&t, "AWS::Serverless::Function")
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(
        graphed, all,
        "the errors of every function are on the dashboard"
    );
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
    let announcement = every_field_set().detail();
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
    let announcement = every_field_set().detail();
    for field in announcement.as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("| `detail.{field}` |")),
            "README.md's event table lacks detail.{field}"
        );
    }
}

// ---- The member account's stack (infra/member-account.yaml) and the train stack's side of it.

fn member_template() -> Yaml {
    let path = common::repo_root().join("infra/member-account.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A train with staging and production in member accounts (the fixture `trainctl`'s tests
/// and the test command's SAM check use too).
fn multi_account() -> Config {
    let text = std::fs::read_to_string(common::repo_root().join("tests/fixtures/accounts.toml"));
    Config::parse(&text.unwrap()).unwrap()
}

#[test]
fn the_member_stack_takes_what_the_config_and_the_train_stack_give_it() {
    let member = member_template();
    let params: BTreeSet<&str> = member["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let config = multi_account();
    let mut given: BTreeSet<&str> = config
        .member_parameters("production")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let train = template();
    for (output, param) in train_core::config::MEMBER_FROM_TRAIN_STACK {
        assert!(
            !train["Outputs"][output].is_null(),
            "the train stack outputs {output}"
        );
        given.insert(param);
    }
    assert_eq!(params, given);
    // And the train stack takes what infra-params prints for a multi-account config.
    let train_params = train["Parameters"].as_mapping().unwrap();
    for (key, _) in config.template_parameters().unwrap() {
        assert!(train_params.contains_key(key), "{key}");
    }
}

#[test]
fn the_member_role_trusts_the_function_roles_with_the_external_id_and_grants_the_builder_s_calls() {
    let member = member_template();
    let role = &member["Resources"]["TrainRole"]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        tagged(&trust["Principal"]["AWS"]),
        Some(("!Ref".to_owned(), "TrainFunctionRoles".to_owned()))
    );
    assert_eq!(strings(&trust["Action"]), ["sts:AssumeRole"]);
    assert_eq!(
        tagged(&trust["Condition"]["StringEquals"]["sts:ExternalId"]),
        Some(("!Ref".to_owned(), "ExternalId".to_owned()))
    );
    // What the functions call in a member account: the builder's CodeBuild operations and
    // the alarm gate's DescribeAlarms, nothing else.
    let expected: BTreeSet<String> = train_lambda::iam::function_actions("promote")
        .into_iter()
        .filter(|a| a.starts_with("codebuild:") || a.starts_with("cloudwatch:"))
        .map(str::to_owned)
        .collect();
    let mut granted = BTreeSet::new();
    for policy in role["Policies"].as_sequence().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            let (_, statement) = unconditional(statement);
            let actions = strings(&statement["Action"]);
            let text = serde_norway::to_string(&statement["Resource"]).unwrap();
            if actions.iter().all(|a| a.starts_with("codebuild:")) {
                assert_eq!(
                    names_referred(&statement["Resource"]),
                    BTreeSet::from(["BuildProjects".to_owned()])
                );
                assert!(project_wildcards_are_pinned(statement, &text), "{text}");
            } else {
                assert_eq!(actions, ["cloudwatch:DescribeAlarms"], "{statement:?}");
            }
            granted.extend(actions);
        }
    }
    assert_eq!(granted, expected);
}

#[test]
fn member_accounts_forward_exactly_the_events_the_events_function_reads_from_them() {
    use train_lambda::events::{ALARM_STATE_CHANGE, BUILD_STATE_CHANGE};
    let member = member_template();
    let mut forwarded = BTreeSet::new();
    for (name, rule) in of_type(&member, "AWS::Events::Rule") {
        let p = &rule["Properties"];
        forwarded.extend(strings(&p["EventPattern"]["detail-type"]));
        let target = &p["Targets"][0];
        assert_eq!(
            tagged(&target["Arn"]),
            Some(("!Ref".to_owned(), "TrainBusArn".to_owned())),
            "{name}"
        );
        let filter = if strings(&p["EventPattern"]["detail-type"]) == [BUILD_STATE_CHANGE] {
            &p["EventPattern"]["detail"]["project-name"]
        } else {
            &p["EventPattern"]["detail"]["alarmName"]
        };
        assert!(
            tagged(filter).is_some(),
            "{name}: only the configured projects or alarms"
        );
    }
    let handled = BTreeSet::from([BUILD_STATE_CHANGE.to_owned(), ALARM_STATE_CHANGE.to_owned()]);
    assert_eq!(forwarded, handled);

    // The train bus takes them from exactly the member accounts, and its rules hand them to
    // the events function.
    let train = template();
    let policy = &resources(&train)["TrainBusMemberAccounts"]["Properties"];
    assert_eq!(
        tagged(&policy["Statement"]["Principal"]["AWS"]),
        Some(("!Ref".to_owned(), "MemberAccounts".to_owned()))
    );
    let events = &resources(&train)["EventsFunction"]["Properties"]["Events"];
    let mut on_bus = BTreeSet::new();
    for (_, event) in events.as_mapping().unwrap() {
        let p = &event["Properties"];
        if tagged(&p["EventBusName"]) == Some(("!Ref".to_owned(), "TrainBus".to_owned())) {
            assert_eq!(
                tagged(&p["Pattern"]["account"]),
                Some(("!Ref".to_owned(), "MemberAccounts".to_owned()))
            );
            on_bus.extend(strings(&p["Pattern"]["detail-type"]));
        }
    }
    assert_eq!(on_bus, handled);
}

#[test]
fn an_email_address_subscribes_to_the_train_events_and_the_alarms_without_code() {
    let t = template();
    assert_eq!(t["Parameters"]["NotifyEmail"]["Default"], "");
    let mut topics = BTreeSet::new();
    for (name, sub) in of_type(&t, "AWS::SNS::Subscription") {
        assert_eq!(
            sub["Condition"], "HasNotifyEmail",
            "{name}: only with an address"
        );
        let p = &sub["Properties"];
        assert_eq!(p["Protocol"], "email", "{name}");
        assert_eq!(
            tagged(&p["Endpoint"]),
            Some(("!Ref".to_owned(), "NotifyEmail".to_owned()))
        );
        topics.extend(strings(&p["TopicArn"]));
    }
    assert_eq!(
        topics,
        BTreeSet::from(["AlarmTopic".to_owned(), "TrainEventsTopic".to_owned()])
    );
}

/// Slack through AWS Chatbot, from two parameters and no code: only with both ids, the
/// train's events go to a chat topic as Chatbot custom notifications (the detail's
/// `notification`, passed whole with `InputPath`), the alarms' topic goes to the same channel,
/// and the channel's guardrail is read-only (the resource's default, when none is given, is
/// `AdministratorAccess`: "The AWS managed '`AdministratorAccess`' policy is applied as a
/// default if this is not set", AWS CDK reference, `CfnSlackChannelConfigurationProps`).
#[test]
fn a_slack_channel_hears_the_train_and_its_alarms_through_chatbot_without_code() {
    let t = template();
    for p in ["SlackWorkspaceId", "SlackChannelId"] {
        assert_eq!(t["Parameters"][p]["Default"], "", "{p}: Slack is optional");
    }
    let r = resources(&t);
    for name in [
        "ChatTopic",
        "ChatTopicPolicy",
        "TrainEventsToChatRule",
        "ChatbotRole",
        "SlackChannel",
    ] {
        assert_eq!(r[name]["Condition"], "HasSlack", "{name}: only with Slack");
    }
    let channel = &r["SlackChannel"]["Properties"];
    assert_eq!(
        r["SlackChannel"]["Type"],
        "AWS::Chatbot::SlackChannelConfiguration"
    );
    assert_eq!(
        names_referred(&channel["SnsTopicArns"]),
        BTreeSet::from(["ChatTopic".to_owned(), "AlarmTopic".to_owned()])
    );
    let guardrails = serde_norway::to_string(&channel["GuardrailPolicies"]).unwrap();
    assert!(
        guardrails.contains("policy/CloudWatchReadOnlyAccess") && !guardrails.contains("Admin"),
        "{guardrails}"
    );
    let target = &r["TrainEventsToChatRule"]["Properties"]["Targets"][0];
    assert_eq!(target["InputPath"], "$.detail.notification");
    assert!(target["InputTransformer"].is_null());
    assert_eq!(
        names_referred(&target["Arn"]),
        BTreeSet::from(["ChatTopic".to_owned()])
    );
    let trust = &r["ChatbotRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "chatbot.amazonaws.com");
    // The configuration name: 1 to 128 of [A-Za-z0-9-_] (the resource's schema), for the
    // longest stack id.
    let name = serde_norway::to_string(&channel["ConfigurationName"]).unwrap();
    assert!(name.contains("release-train-${StackUuid}"), "{name}");
}
