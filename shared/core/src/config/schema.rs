//! A JSON Schema (draft 2020-12) of `release-train.toml`, for editors that validate TOML
//! against one (`trainctl schema`; README, "Configuration"). It describes the file's shape
//! and the fields' documented values; the parser stays the judge of everything the schema
//! cannot say (schedules, spans, zones, ARNs), and a test holds the schema's fields equal
//! to the ones the parser accepts.

use serde_json::{Value, json};

fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn texts(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

fn flag(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

fn one_of(values: &[&str], description: &str) -> Value {
    json!({ "enum": values, "description": description })
}

fn stage_target(stage: &str) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": format!("Where the {stage} build runs: a buildspec in the repository and/or a CodeBuild project."),
        "properties": {
            "buildspec": text("A buildspec path in the repository, e.g. \"buildspec.yml\""),
            "project": text("The CodeBuild project (on AWS every stage names one)"),
            "role": role(),
        },
        "anyOf": [{ "required": ["buildspec"] }, { "required": ["project"] }],
    })
}

fn role() -> Value {
    json!({
        "type": "string",
        "pattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:role/",
        "description": "The IAM role the functions assume for this stage's calls, e.g. \"arn:aws:iam::111111111111:role/release-train-builds\"",
    })
}

/// The schema, as `trainctl schema` prints it.
pub fn json_schema() -> Value {
    let schedule = "An EventBridge Scheduler expression: cron(...), rate(...) or at(...)";
    let span = "A duration such as \"48h\", \"2d\" or \"90m\"";
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "release-train.toml",
        "type": "object",
        "additionalProperties": false,
        "required": ["train", "component"],
        "properties": {
            "train": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "time_zone", "cut", "promote", "soak"],
                "properties": {
                    "name": { "type": "string", "pattern": "^[a-z][a-z0-9-]*$", "description": "Part of every train id, e.g. \"weekly\"" },
                    "time_zone": text("An IANA zone, e.g. \"Europe/Berlin\"; schedules and freezes are in it"),
                    "cut": text(schedule),
                    "promote": text(schedule),
                    "soak": text(span),
                    "on_component_failure": one_of(&["halt", "exclude"], "A failed build fails the train, or leaves its component on its last release"),
                    "build_timeout": text(span),
                    "approvals": { "type": "integer", "minimum": 0, "maximum": 10, "description": "Approvals from different people before promotion" },
                    "captains": texts("The release captain rotation, one a week"),
                    "alarms": texts("Gating CloudWatch alarms; \"production:NAME\" for one in the production account"),
                    "on_alarm": one_of(&["hold", "cancel"], "What an alarm in ALARM does before promotion"),
                    "restart_soak_after_alarm": flag("When an alarm's hold lifts, soak the full window again"),
                    "staging_order": one_of(&["waves", "parallel"], "Staging wave by wave like production, or all at once"),
                    "wave_bake": text(span),
                    "expedite_skips_bake": flag("Whether an expedite skips the bakes between waves"),
                    "approvers": texts("Who may approve: IAM principal patterns on AWS, OS user names in local mode"),
                    "catch_up": text(span),
                    "notify_before": text(span),
                },
            },
            "accounts": {
                "type": "object",
                "additionalProperties": false,
                "description": "The role each stage's builds and alarms are reached through, in another account",
                "properties": {
                    "staging": { "type": "object", "additionalProperties": false, "required": ["role"], "properties": { "role": role() } },
                    "production": { "type": "object", "additionalProperties": false, "required": ["role"], "properties": { "role": role() } },
                },
            },
            "freeze": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {
                        "name": text("Unique per file"),
                        "allow_expedite": flag("An expedite may promote inside this freeze"),
                        "starts": text(schedule),
                        "lasts": text(span),
                        "from": text("Local date and time, e.g. \"2026-12-21T00:00\" (inclusive)"),
                        "until": text("Local date and time (exclusive)"),
                    },
                    "oneOf": [
                        { "required": ["starts", "lasts"] },
                        { "required": ["from", "until"] },
                    ],
                },
            },
            "component": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "source", "staging", "production"],
                    "properties": {
                        "name": { "type": "string", "pattern": "^[a-z][a-z0-9-]*$", "description": "Unique per file" },
                        "source": text("A git URL, or in local mode a path relative to this file"),
                        "branch": text("Default \"main\""),
                        "staging": stage_target("staging"),
                        "production": stage_target("production"),
                        "wave": { "type": "integer", "minimum": 1, "maximum": 100, "description": "Production (and staging) order, wave 1 first" },
                        "wave_bake": text(span),
                        "wave_alarms": texts("Alarms read during this wave's bake, besides train.alarms"),
                    },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields serde names when it refuses an unknown one in `table` (its message lists
    /// every field the parser accepts there).
    fn accepted(text: &str) -> Vec<String> {
        let issues = crate::Config::parse(text).unwrap_err().issues;
        let message = &issues[0].message;
        let list = message
            .split("expected one of ")
            .nth(1)
            .or_else(|| message.split("expected ").nth(1))
            .unwrap_or_else(|| panic!("{message}"));
        let mut fields: Vec<String> = list
            .split(',')
            .map(|f| {
                f.trim()
                    .trim_matches('`')
                    .split('`')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .filter(|f| !f.is_empty() && !f.starts_with(';'))
            .collect();
        fields.sort();
        fields
    }

    fn properties(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_schema_names_exactly_the_fields_the_parser_accepts() {
        let good = crate::config::tests::GOOD;
        let schema = json_schema();
        let cases = [
            (
                good.replace("[train]\n", "[train]\nbogus = 1\n"),
                &schema["properties"]["train"],
            ),
            (
                good.replace("wave = 2\n", "wave = 2\nbogus = 1\n"),
                &schema["properties"]["component"]["items"],
            ),
            (
                good.replace("lasts = \"64h\"\n", "lasts = \"64h\"\nbogus = 1\n"),
                &schema["properties"]["freeze"]["items"],
            ),
            (
                good.replace(
                    "staging = { project = \"web-staging\" }",
                    "staging = { project = \"web-staging\", bogus = 1 }",
                ),
                &schema["properties"]["component"]["items"]["properties"]["staging"],
            ),
            (format!("bogus = 1\n{good}"), &schema),
        ];
        for (text, part) in cases {
            assert_eq!(accepted(&text), properties(part), "{text}");
        }
    }
}
