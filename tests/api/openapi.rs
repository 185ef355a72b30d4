//! `openapi.yaml` as the tests read it: the document as JSON values, and a strict check of a
//! response against the schema the document gives its operation and status.
//!
//! The check covers what the spec uses: `$ref`, `type` (one or several), `const`, `enum`,
//! `properties` / `required` / `additionalProperties: false`, `items`, `anyOf`, `minimum`.
//! Patterns and formats are left to schemathesis, which runs the full JSON Schema validator.
//! Every property it meets is recorded, so a test can ask which documented fields no response
//! carried.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The spec the bridge was built with (the one `GET /openapi.yaml` serves).
pub fn spec() -> Value {
    let docs = YamlLoader::load_from_str(ticket_bridge::http::OPENAPI_YAML)
        .unwrap_or_else(|e| panic!("openapi.yaml is not valid YAML: {e}"));
    assert_eq!(docs.len(), 1, "openapi.yaml holds one document");
    json_of(&docs[0])
}

fn json_of(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| panic!("openapi.yaml: bad number {r}")),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Null => Value::Null,
        Yaml::Array(a) => a.iter().map(json_of).collect(),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => panic!("openapi.yaml: unsupported key {other:?}"),
                    };
                    (key, json_of(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Yaml::Alias(_) | Yaml::BadValue => panic!("openapi.yaml: aliases are not used"),
    }
}

/// HTTP methods an OpenAPI path item may hold.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `(method, path)` operation the spec documents.
pub fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// Follows a local `$ref`; the target and its JSON pointer.
pub fn resolve<'a>(spec: &'a Value, node: &'a Value, at: &str) -> (&'a Value, String) {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            let target = spec
                .pointer(pointer)
                .unwrap_or_else(|| panic!("openapi.yaml: dangling $ref {r}"));
            resolve(spec, target, pointer)
        }
        None => (node, at.to_owned()),
    }
}

/// Checks responses against the spec and remembers which documented properties it saw.
pub struct Checker {
    pub spec: Value,
    /// JSON pointers of the schema properties seen in some response.
    pub seen: BTreeSet<String>,
}

impl Checker {
    pub fn new() -> Self {
        Self {
            spec: spec(),
            seen: BTreeSet::new(),
        }
    }

    /// The response schema (and its pointer) for `method path` answering `status` with JSON.
    fn response_schema(&self, method: &str, path: &str, status: u16) -> (Value, String) {
        let at = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        );
        let node = self.spec.pointer(&at).unwrap_or_else(|| {
            panic!("openapi.yaml documents no {status} for {method} {path}, yet the bridge answered it")
        });
        let (response, _) = resolve(&self.spec, node, &at);
        let schema = response
            .pointer("/content/application~1json/schema")
            .unwrap_or_else(|| panic!("{method} {path} {status}: no application/json schema"));
        let (schema, at) = resolve(&self.spec, schema, &format!("{at}/content"));
        (schema.clone(), at)
    }

    /// Asserts that `body`, answered with `status` by `method path` (a path of the spec, with
    /// its `{id}`), is what the spec says.
    pub fn check(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let (schema, at) = self.response_schema(method, path, status);
        let what = format!("the {status} answer of {method} {path}");
        self.assert_matches(&schema, &at, body, &what);
    }

    /// Asserts that `value` is a `name` of `components/schemas` (`Error` for answers that
    /// belong to no operation, the event schemas for what the event stream sends).
    pub fn check_schema(&mut self, name: &str, value: &Value) {
        let at = format!("/components/schemas/{name}");
        let schema = self
            .spec
            .pointer(&at)
            .unwrap_or_else(|| panic!("openapi.yaml has no schema {name}"))
            .clone();
        self.assert_matches(&schema, &at, value, &format!("a {name}"));
    }

    fn assert_matches(&mut self, schema: &Value, at: &str, value: &Value, what: &str) {
        let mut errors = Vec::new();
        walk(
            &self.spec,
            &mut self.seen,
            schema,
            at,
            value,
            "body",
            &mut errors,
        );
        assert!(
            errors.is_empty(),
            "{what} is not what openapi.yaml describes:\n  {}\nbody: {value}",
            errors.join("\n  ")
        );
    }

    /// Pointers of every property the bridge may answer with: those of every JSON response
    /// schema (through `$ref`s), and those of every named schema no request body uses (the
    /// event stream's).
    pub fn documented_response_properties(&self) -> BTreeSet<String> {
        let mut requests = BTreeSet::new();
        for item in self.spec["paths"].as_object().expect("paths").values() {
            for method in METHODS {
                if let Some(schema) = item.pointer(&format!(
                    "/{method}/requestBody/content/application~1json/schema"
                )) {
                    self.properties(schema, "", &mut requests);
                }
            }
        }
        let mut out = BTreeSet::new();
        for (name, schema) in self.spec["components"]["schemas"]
            .as_object()
            .expect("schemas")
        {
            let at = format!("/components/schemas/{name}");
            let mut props = BTreeSet::new();
            self.properties(schema, &at, &mut props);
            if props.is_disjoint(&requests) {
                out.extend(props);
            }
        }
        for (path, item) in self.spec["paths"].as_object().expect("paths") {
            for method in METHODS {
                let Some(responses) = item.pointer(&format!("/{method}/responses")) else {
                    continue;
                };
                for (status, response) in responses.as_object().expect("responses") {
                    let at = format!(
                        "/paths/{}/{method}/responses/{status}",
                        path.replace('/', "~1")
                    );
                    let (response, _) = resolve(&self.spec, response, &at);
                    if let Some(schema) = response.pointer("/content/application~1json/schema") {
                        self.properties(schema, &format!("{at}/content"), &mut out);
                    }
                }
            }
        }
        out
    }

    fn properties(&self, schema: &Value, at: &str, out: &mut BTreeSet<String>) {
        let (schema, at) = resolve(&self.spec, schema, at);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                let sub_at = format!("{at}/properties/{name}");
                if out.insert(sub_at.clone()) {
                    self.properties(sub, &sub_at, out);
                }
            }
        }
        if let Some(items) = schema.get("items") {
            self.properties(items, &format!("{at}/items"), out);
        }
        for (i, b) in schema
            .get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.properties(b, &format!("{at}/anyOf/{i}"), out);
        }
    }
}

fn walk(
    spec: &Value,
    seen: &mut BTreeSet<String>,
    schema: &Value,
    at: &str,
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) {
    let (schema, at) = resolve(spec, schema, at);
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{path}: {value} is not the constant {c}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!("{path}: {value} is not one of {options:?}"));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| is_type(value, t)) {
            errors.push(format!("{path}: {value} is not of type {types:?}"));
            return;
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{path}: {n} is below the minimum {min}"));
        }
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let matched = branches.iter().enumerate().any(|(i, b)| {
            let mut sub = Vec::new();
            walk(
                spec,
                seen,
                b,
                &format!("{at}/anyOf/{i}"),
                value,
                path,
                &mut sub,
            );
            sub.is_empty()
        });
        if !matched {
            errors.push(format!("{path}: {value} matches no branch of anyOf"));
        }
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(name) {
                    errors.push(format!("{path}: the required field `{name}` is missing"));
                }
            }
            for (name, v) in fields {
                match props.and_then(|p| p.get(name)) {
                    Some(sub) => {
                        let sub_at = format!("{at}/properties/{name}");
                        seen.insert(sub_at.clone());
                        walk(
                            spec,
                            seen,
                            sub,
                            &sub_at,
                            v,
                            &format!("{path}.{name}"),
                            errors,
                        );
                    }
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!(
                            "{path}: the field `{name}` is not in openapi.yaml ({at})"
                        ))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(
                        spec,
                        seen,
                        item,
                        &format!("{at}/items"),
                        v,
                        &format!("{path}[{i}]"),
                        errors,
                    );
                }
            }
        }
        _ => {}
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}
