//! The API contract (`openapi.yaml`) against the code, both ways:
//!
//! - every route the router serves ([`ROUTES`], the table it is built from) is an operation of
//!   the spec, and every operation of the spec is served;
//! - every error the bridge answers (every [`ApiError`]) is in the spec's `Error`, and every
//!   code the spec lists is one the bridge answers;
//! - the responses of every flow, errors included, match the schema the spec gives their
//!   route and status (no field the spec lacks, none it requires missing, types, constants),
//!   and every field the spec's response schemas name turns up in some response;
//! - every field of the spec's request bodies is read by the bridge (a wrong type is refused
//!   naming it).
//!
//! Generated requests are schemathesis's part (`schemathesis.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use ticket_bridge::agent::jwt;
use ticket_bridge::http::error::ApiError;
use ticket_bridge::http::{OPENAPI_YAML, ROUTES};
use ticket_bridge::ids::TicketId;
use ticket_bridge::limits::{Limit, Refusal};
use ticket_bridge::sandbox::faults::{Fault, FaultRule};
use ticket_bridge::secret::Secret;

use crate::helpers::*;
use crate::openapi::{operations, Checker};

pub const ZAF_SECRET: &str = "test-zaf-shared-secret-a87ff679a2f3e71d";

/// Every `ApiError`, one of each kind.
fn every_api_error() -> Vec<ApiError> {
    let mut all = vec![
        ApiError::InvalidJson(String::new()),
        ApiError::InvalidContentType(String::new()),
        ApiError::InvalidField(String::new()),
        ApiError::InvalidIdempotencyKey(String::new()),
        ApiError::IdempotencyConflict,
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::Unauthorized(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::UnknownTicket(TicketId(1)),
        ApiError::NotAssignee,
        ApiError::MethodNotAllowed,
        ApiError::ZendeskUnavailable {
            message: String::new(),
            retry_after: Duration::from_secs(1),
        },
        ApiError::ZendeskRejected(String::new()),
        ApiError::ZendeskFailed(String::new()),
        ApiError::Im {
            ticket: TicketId(1),
            message: String::new(),
            retryable: false,
        },
        ApiError::Im {
            ticket: TicketId(1),
            message: String::new(),
            retryable: true,
        },
        ApiError::Internal,
    ];
    // Every limit's refusal (HeaderTimeout shares BodyTimeout's answer).
    all.extend(
        [
            Limit::RequestsPerIp,
            Limit::CasesPerUser,
            Limit::OpenTickets,
            Limit::StreamsPerAgent,
            Limit::Connections,
            Limit::BodyTimeout,
        ]
        .map(|limit| {
            ApiError::Limited(Refusal {
                limit,
                retry_after: Duration::from_secs(1),
            })
        }),
    );
    // A new variant does not compile here until it is in the list above too.
    for e in &all {
        match e {
            ApiError::InvalidJson(_)
            | ApiError::InvalidContentType(_)
            | ApiError::InvalidField(_)
            | ApiError::InvalidIdempotencyKey(_)
            | ApiError::IdempotencyConflict
            | ApiError::PayloadTooLarge { .. }
            | ApiError::Unauthorized(_)
            | ApiError::NotFound(_)
            | ApiError::UnknownTicket(_)
            | ApiError::NotAssignee
            | ApiError::MethodNotAllowed
            | ApiError::ZendeskUnavailable { .. }
            | ApiError::ZendeskRejected(_)
            | ApiError::ZendeskFailed(_)
            | ApiError::Im { .. }
            | ApiError::Limited(_)
            | ApiError::Internal => {}
        }
    }
    all
}

/// axum's `{id}` and OpenAPI's are the same syntax; methods are lower case in both lists.
fn served_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

fn listed(ops: &BTreeSet<(String, String)>) -> String {
    ops.iter()
        .map(|(m, p)| format!("  {} {p}", m.to_uppercase()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Routes added to the router another way than through `routes!` (which the comparison
/// below would not see).
fn routes_outside_the_table() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/http") {
        let path = entry.expect("a file").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        for (n, line) in text.lines().enumerate() {
            let adds = [
                ".route(",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                ".merge(",
            ]
            .iter()
            .any(|call| line.contains(call));
            if adds && !line.contains(".route($") {
                found.push(format!("  {}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn every_route_served_is_in_the_spec_and_every_operation_is_served() {
    let outside = routes_outside_the_table();
    assert!(
        outside.is_empty(),
        "routes must be declared in `routes!` (src/http/mod.rs), where this test sees them:\n{}",
        outside.join("\n")
    );
    let spec = crate::openapi::spec();
    let documented = operations(&spec);
    let served = served_routes();
    let undocumented: BTreeSet<_> = served.difference(&documented).cloned().collect();
    let unserved: BTreeSet<_> = documented.difference(&served).cloned().collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "openapi.yaml and the router (ROUTES in src/http/mod.rs) disagree.\n\
         Served but not in openapi.yaml (add them under `paths:`, with their responses):\n{}\n\
         In openapi.yaml but not served (remove them, or add them to `routes!`):\n{}",
        listed(&undocumented),
        listed(&unserved),
    );
}

/// The spec's `Error` lists exactly the `ErrorCode`s and `error.code`s of [`ApiError`], and
/// every status the error mapping answers is documented on some operation.
#[test]
fn every_error_the_bridge_answers_is_in_the_spec_and_no_other() {
    let spec = crate::openapi::spec();
    let error = &spec["components"]["schemas"]["Error"]["properties"];
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("an enum in Error: {v}"))
            .iter()
            .map(|c| c.to_string().trim_matches('"').to_owned())
            .collect()
    };
    let spec_numbers = set(&error["ErrorCode"]["enum"]);
    let spec_names = set(&error["error"]["properties"]["code"]["enum"]);
    let errors = every_api_error();
    let numbers: BTreeSet<String> = errors.iter().map(|e| e.parts().1.to_string()).collect();
    let names: BTreeSet<String> = errors.iter().map(|e| e.parts().2.to_owned()).collect();
    for (field, code, spec) in [
        ("ErrorCode", numbers, spec_numbers),
        ("error.code", names, spec_names),
    ] {
        let missing: Vec<_> = code.difference(&spec).collect();
        let extra: Vec<_> = spec.difference(&code).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "Error.{field} in openapi.yaml: missing {missing:?}, not answered by the bridge {extra:?}"
        );
    }

    let mut documented = BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                documented.extend(responses.keys().map(|s| s.parse::<u16>().unwrap()));
            }
        }
    }
    // 405 answers a method no operation has, so no operation can list it; 404 `not_found`
    // likewise, but operations with a ticket id in the path list 404 for `unknown_ticket`.
    let answered: BTreeSet<u16> = errors
        .iter()
        .map(|e| e.parts().0)
        .filter(|s| *s != StatusCode::METHOD_NOT_ALLOWED)
        .map(|s| s.as_u16())
        .chain([200, 201, 202])
        .collect();
    let missing: Vec<_> = answered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&answered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "statuses the bridge answers but no operation of openapi.yaml documents: {missing:?}; \
         documented statuses the bridge never answers: {extra:?}"
    );
}

/// Each request-body field of the spec is one the bridge reads: sent with a wrong type, it is
/// refused with a message naming it.
#[tokio::test]
async fn every_request_field_of_the_spec_is_read_by_the_bridge() {
    let app = spawn_app().await;
    let spec = crate::openapi::spec();
    let schema = &spec["components"]["schemas"]["CaseRequest"]["properties"];
    let mut fields: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, prop) in schema.as_object().unwrap() {
        if name == "caseInfo" {
            for inner in prop["properties"].as_object().unwrap().keys() {
                fields.push((format!("caseInfo.{inner}"), vec!["caseInfo", inner]));
            }
        } else {
            fields.push((name.clone(), vec![name.as_str()]));
        }
    }
    for (path, keys) in fields {
        let mut body = case("alice");
        // An object is the wrong type for every field the spec names.
        match keys.as_slice() {
            [k] => body[*k] = json!({"wrong": "type"}),
            [a, b] => body[*a][*b] = json!({"wrong": "type"}),
            _ => unreachable!(),
        }
        let resp = app.create_ticket(&body).await;
        let err = assert_error(resp, 400, "invalid_field").await;
        let message = err["ErrorInfo"].as_str().unwrap_or_default();
        assert!(
            message.contains(&path),
            "{path} is in openapi.yaml, but the bridge does not refuse a wrong type there: {message}"
        );
    }
    app.assert_nothing_created();
}

type Headers = Vec<(&'static str, String)>;

/// The bridge's answers in every flow, against the spec; then every documented response field
/// must have turned up.
#[tokio::test]
async fn every_response_matches_the_spec_and_every_documented_field_is_answered() {
    let app = spawn_conversation_app(|env| {
        env.insert("ZAF_SHARED_SECRET".into(), ZAF_SECRET.into());
    })
    .await;
    let mut checker = Checker::new();
    let http = &app.http;
    let url = |p: &str| format!("{}{p}", app.address);

    async fn json_of(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("a JSON body");
        (status, body)
    }
    async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
        json_of(req.send().await.expect("sent")).await
    }

    // Operations.
    let (s, b) = answer(http.get(url("/healthz"))).await;
    checker.check("get", "/healthz", s, &b);
    let resp = http.get(url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/yaml");
    assert_eq!(resp.text().await.unwrap(), OPENAPI_YAML);
    let resp = http.get(url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));

    // Cases: opened, reused, every refusal.
    app.im.import_account("alice", None);
    let (s, b) = json_of(app.create_ticket_with_key(&case("alice"), "k1").await).await;
    assert_eq!(s, 200, "{b}");
    checker.check("post", "/createticket", s, &b);
    let ticket = b["TicketId"].as_u64().unwrap();
    app.wait_for_jobs().await;
    let mut reuse = case("alice");
    reuse["reuse"] = json!(true);
    let (s, b) = json_of(app.create_ticket(&reuse).await).await;
    assert_eq!(b["Reused"], true);
    checker.check("post", "/createticket", s, &b);
    let sig = format!("UserSig {}", app.usersig("alice"));
    let json_type = ("Content-Type", "application/json".to_owned());
    let refusals: Vec<(Headers, Vec<u8>, &str)> = vec![
        (
            vec![json_type.clone(), ("Authorization", sig.clone())],
            b"nope".to_vec(),
            "invalid_json",
        ),
        (
            vec![
                ("Content-Type", "text/plain".into()),
                ("Authorization", sig.clone()),
            ],
            case("alice").to_string().into_bytes(),
            "invalid_content_type",
        ),
        (
            vec![json_type.clone(), ("Authorization", sig.clone())],
            br#"{"userId":"alice","caseInfo":{}}"#.to_vec(),
            "invalid_field",
        ),
        (
            vec![
                json_type.clone(),
                ("Authorization", sig.clone()),
                ("Idempotency-Key", "k".repeat(300)),
            ],
            case("alice").to_string().into_bytes(),
            "invalid_idempotency_key",
        ),
        (
            vec![json_type.clone()],
            case("alice").to_string().into_bytes(),
            "unauthorized",
        ),
        (
            vec![json_type.clone(), ("Authorization", sig.clone())],
            vec![b' '; 300 * 1024],
            "payload_too_large",
        ),
    ];
    for (headers, body, code) in refusals {
        let (s, b) = json_of(app.post_raw(&headers, body).await).await;
        assert_eq!(b["error"]["code"], code, "{b}");
        checker.check("post", "/createticket", s, &b);
    }
    let mut other = case("alice");
    other["caseInfo"]["desc"] = json!("another request");
    let (s, b) = json_of(app.create_ticket_with_key(&other, "k1").await).await;
    assert_eq!(b["error"]["code"], "idempotency_conflict");
    checker.check("post", "/createticket", s, &b);
    // IM failing: pending (202), then refusing for good (502 with the ticket's ids).
    for (user, im_code, status) in [("bob", 10002, 202), ("carol", 10004, 502)] {
        app.im.faults().inject(FaultRule::always(
            "create_group",
            Fault::Respond {
                status: StatusCode::OK,
                body: json!({"ActionStatus": "FAIL", "ErrorCode": im_code, "ErrorInfo": "failed"}),
            },
        ));
        let (s, b) = json_of(app.create_ticket(&case(user)).await).await;
        assert_eq!(s, status, "{b}");
        checker.check("post", "/createticket", s, &b);
        app.im.faults().clear();
    }
    // Answers that belong to no operation.
    let (s, b) = answer(http.get(url("/nope"))).await;
    assert_eq!(s, 404);
    checker.check_schema("Error", &b);
    let (s, b) = answer(http.get(url("/createticket"))).await;
    assert_eq!(s, 405);
    checker.check_schema("Error", &b);

    // Zendesk's webhook.
    let now = now_ms() / 1000;
    let event = json!({"type": "zen:event-type:ticket.status_changed", "id": "ev-1",
                       "subject": format!("zen:ticket:{ticket}"), "detail": {"id": ticket.to_string()}})
    .to_string();
    for expected in ["accepted", "duplicate"] {
        let (s, b) = json_of(app.post_webhook(&event, now).await).await;
        assert_eq!(b["status"], expected, "{b}");
        checker.check("post", "/webhooks/zendesk", s, &b);
    }
    let ignored = json!({"type": "zen:event-type:user.created", "id": "ev-2"}).to_string();
    let (s, b) = json_of(app.post_webhook(&ignored, now).await).await;
    assert_eq!(b["status"], "ignored");
    checker.check("post", "/webhooks/zendesk", s, &b);
    for (body, status) in [("{", 400), (r#"{"neither": 1}"#, 400)] {
        let (s, b) = json_of(app.post_webhook(body, now).await).await;
        assert_eq!(s, status, "{b}");
        checker.check("post", "/webhooks/zendesk", s, &b);
    }
    let unsigned = http
        .post(url("/webhooks/zendesk"))
        .header("Content-Type", "application/json")
        .body(event.clone())
        .send()
        .await
        .unwrap();
    let (s, b) = json_of(unsigned).await;
    assert_eq!(s, 401);
    checker.check("post", "/webhooks/zendesk", s, &b);

    // IM's callbacks.
    let said = json!({"CallbackCommand": "Group.CallbackAfterSendMsg", "GroupId": group_of(ticket),
                      "Type": "Public", "From_Account": "alice", "Operator_Account": "alice",
                      "Random": 7, "MsgSeq": 99, "MsgTime": now, "OnlineOnlyFlag": 0,
                      "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]})
    .to_string();
    let query = app.callback_query("Group.CallbackAfterSendMsg", now);
    let (s, b) = json_of(app.post_im_callback(&query, &said).await).await;
    assert_eq!(s, 200, "{b}");
    checker.check("post", "/callbacks/im", s, &b);
    // A body that is not JSON is refused, also for a command the bridge does not act on.
    let other = app.callback_query("Group.CallbackAfterNewMemberJoin", now);
    for query in [&query, &other] {
        let (s, b) = json_of(app.post_im_callback(query, "{").await).await;
        assert_eq!(s, 400, "{b}");
        checker.check("post", "/callbacks/im", s, &b);
    }
    let forged = query.replace("Sign=", "Sign=0");
    let (s, b) = json_of(app.post_im_callback(&forged, &said).await).await;
    assert_eq!(s, 401, "{b}");
    checker.check("post", "/callbacks/im", s, &b);

    // The agent API.
    let agent = app.zendesk.seed_agent("Sam Agent", "sam@support.test");
    let claims = |t: u64| {
        json!({"ticket_id": t, "agent_id": agent, "agent_name": "Sam Agent",
               "agent_email": "sam@support.test", "iat": now, "exp": now + 300})
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let jwt_for = |t: u64| jwt::sign(&claims(t), &Secret::new(ZAF_SECRET));
    let session = |t: u64| {
        http.post(url("/agent/session"))
            .header("Authorization", bearer(&jwt_for(t)))
            .send()
    };
    let (s, b) = json_of(session(ticket).await.unwrap()).await;
    assert_eq!(s, 200, "{b}");
    checker.check("post", "/agent/session", s, &b);
    let token = b["token"].as_str().unwrap().to_owned();
    let (s, b) = json_of(session(999_999).await.unwrap()).await;
    assert_eq!(b["error"]["code"], "unknown_ticket", "{b}");
    checker.check("post", "/agent/session", s, &b);
    let (s, b) = answer(http.post(url("/agent/session"))).await;
    assert_eq!(s, 401);
    checker.check("post", "/agent/session", s, &b);

    let get = |p: String| http.get(url(&p)).header("Authorization", bearer(&token));
    let post = |p: String| http.post(url(&p)).header("Authorization", bearer(&token));
    let t = "/agent/tickets/{id}";
    let (s, b) = answer(get(format!("/agent/tickets/{ticket}"))).await;
    checker.check("get", t, s, &b);
    let (s, b) = answer(get(format!("/agent/tickets/{}", ticket + 1))).await;
    assert_eq!(s, 401, "a token for another ticket: {b}");
    checker.check("get", t, s, &b);
    let messages = "/agent/tickets/{id}/messages";
    let write = |text: &str, key: &str| {
        post(format!("/agent/tickets/{ticket}/messages"))
            .header("Idempotency-Key", key.to_owned())
            .json(&json!({ "text": text }))
            .send()
    };
    let (s, b) = json_of(write("hello", "m1").await.unwrap()).await;
    assert_eq!(b["error"]["code"], "not_assignee", "{b}");
    checker.check("post", messages, s, &b);
    // Taking it again answers the same (without another ticket update).
    for _ in 0..2 {
        let (s, b) = answer(post(format!("/agent/tickets/{ticket}/take"))).await;
        assert_eq!((s, &b["is_assignee"]), (200, &json!(true)), "{b}");
        checker.check("post", "/agent/tickets/{id}/take", s, &b);
    }
    for expected in [201, 200] {
        let (s, b) = json_of(write("hello", "m1").await.unwrap()).await;
        assert_eq!(s, expected, "{b}");
        checker.check("post", messages, s, &b);
    }
    let (s, b) = json_of(write(" ", "m2").await.unwrap()).await;
    assert_eq!(s, 400, "{b}");
    checker.check("post", messages, s, &b);
    app.wait_for_jobs().await;
    let (s, b) = answer(get(format!("/agent/tickets/{ticket}/messages?limit=1"))).await;
    assert!(b["next"].is_string(), "more than one message: {b}");
    checker.check("get", messages, s, &b);
    // A bad or repeated parameter is a JSON 400 like every other bad field.
    for query in ["limit=0", "limit=1&limit=2"] {
        let (s, b) = answer(get(format!("/agent/tickets/{ticket}/messages?{query}"))).await;
        assert_eq!(b["error"]["code"], "invalid_field", "{query}: {b}");
        checker.check("get", messages, s, &b);
    }
    let (s, b) = answer(get("/agent/usersig".into())).await;
    checker.check("get", "/agent/usersig", s, &b);
    let mut events = get(format!("/agent/tickets/{ticket}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    // The stream opens with the transcript, the assignee and the status: one event of each kind.
    let mut text = String::new();
    let mut kinds = BTreeSet::new();
    while kinds.len() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk())
            .await
            .expect("events within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut event = serde_json::Map::new();
            for line in block.lines().filter(|l| !l.starts_with(':')) {
                if let Some((field, value)) = line.split_once(": ") {
                    event.insert(field.to_owned(), json!(value));
                }
            }
            if event.is_empty() {
                continue;
            }
            let event = Value::Object(event);
            checker.check_schema("StreamEvent", &event);
            let data: Value = serde_json::from_str(event["data"].as_str().unwrap()).unwrap();
            let schema = match event["event"].as_str().unwrap() {
                "message" => "Message",
                "member" => "MemberEvent",
                _ => "StatusEvent",
            };
            checker.check_schema(schema, &data);
            kinds.insert(schema);
        }
    }
    drop(events);

    // Readiness, last: the second answer needs the schema behind.
    let (s, b) = answer(http.get(url("/readyz"))).await;
    assert_eq!(s, 200, "{b}");
    checker.check("get", "/readyz", s, &b);
    app.sql("DROP TABLE schema_migrations").await;
    let (s, b) = answer(http.get(url("/readyz"))).await;
    assert_eq!(s, 503, "{b}");
    checker.check("get", "/readyz", s, &b);

    let unseen: Vec<String> = checker
        .documented_response_properties()
        .difference(&checker.seen)
        .cloned()
        .collect();
    assert!(
        unseen.is_empty(),
        "openapi.yaml documents response fields no response carried (remove them from the spec, \
         or make this test reach the response that has them):\n  {}",
        unseen.join("\n  ")
    );
}
