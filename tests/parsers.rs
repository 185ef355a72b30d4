//! Property tests of every parser of outside input: UserSigs, Zendesk webhooks, IM callbacks,
//! the `/createticket` body, the agent's proxy JWT and session token. Each takes arbitrary and
//! mutated input without panicking, and refuses it for the right reason. The same parsers are
//! fuzzed without bounds by `scripts/fuzz` (fuzz/).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use ticket_bridge::agent::session::{Session, SessionKeys};
use ticket_bridge::agent::{jwt, AgentAuthError};
use ticket_bridge::http::case_request;
use ticket_bridge::http::error::ApiError;
use ticket_bridge::ids::TicketId;
use ticket_bridge::im::callback::{self, CallbackError, CallbackQuery};
use ticket_bridge::secret::Secret;
use ticket_bridge::usersig::{UserSigError, UserSigner};
use ticket_bridge::zendesk::webhook::{self, WebhookError};

const APP: u64 = 1_400_000_000;
const NOW: u64 = 1_700_000_000;

/// Runs `test` on 256 values of `strategy` (enough to cover the shapes, few enough that the
/// suite stays fast), drawn from a fixed seed so that every run checks the same cases; a
/// failure is shrunk to a minimal input and reported.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    if let Err(e) = TestRunner::new_with_rng(config, rng).run(&strategy, test) {
        panic!("{e}");
    }
}

/// Field names the parsers look for, mixed with arbitrary ones, so that generated JSON reaches
/// past the first check.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "userId", "caseInfo", "desc", "subject", "name", "email", "reuse", "type", "id",
            "ticket_id", "assignee_id", "assignee_name", "detail", "event", "comment",
            "CallbackCommand", "GroupId", "From_Account", "MsgSeq", "MsgBody", "Random",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        Just(json!("zen:event-type:ticket.comment_added")),
        Just(json!("Group.CallbackAfterSendMsg")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Bytes that are not JSON (a stray `}` first is never valid).
fn not_json() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| {
        b.insert(0, b'}');
        b
    })
}

/// `s` with the character at `at` (modulo its length) replaced by a different one.
fn mutate(s: &str, at: usize, with: char) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = at % chars.len();
    chars[i] = if chars[i] == with {
        if with == 'A' {
            'B'
        } else {
            'A'
        }
    } else {
        with
    };
    chars.into_iter().collect()
}

/// A character a mutation puts in: the token alphabets and a few that are in none.
fn mutation_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('A', 'Z'),
        prop::char::range('a', 'z'),
        prop::char::range('0', '9'),
        prop::sample::select(vec!['*', '-', '_', '+', '/', '=', '.', ' ', '!', 'é']),
    ]
}

fn im_user_id() -> impl Strategy<Value = String> {
    "[ -~]{1,32}"
}

// ---- every body ----

#[test]
fn bodies_that_are_not_json_are_named_so() {
    check(not_json(), |body| {
        prop_assert!(matches!(
            webhook::parse(&body),
            Err(WebhookError::NotJson(_))
        ));
        prop_assert!(matches!(
            callback::parse_body(&body),
            Err(CallbackError::NotJson(_))
        ));
        prop_assert!(matches!(
            case_request::parse(&body),
            Err(ApiError::InvalidJson(_))
        ));
        Ok(())
    });
}

#[test]
fn any_json_body_is_read_or_refused_for_what_it_says() {
    check(json_value(), |v| {
        let body = v.to_string();
        let webhook = webhook::parse(body.as_bytes());
        prop_assert!(
            matches!(webhook, Ok(_) | Err(WebhookError::NotAnEvent(_))),
            "{webhook:?}"
        );
        let callback = callback::parse_body(body.as_bytes());
        prop_assert!(
            matches!(callback, Ok(_) | Err(CallbackError::NotAnEvent(_))),
            "{callback:?}"
        );
        match case_request::parse(body.as_bytes()) {
            Ok(_) => prop_assert!(v.is_object()),
            Err(ApiError::InvalidJson(_)) => prop_assert!(!v.is_object()),
            Err(ApiError::InvalidField(msg)) => prop_assert!(v.is_object() && !msg.is_empty()),
            Err(e) => prop_assert!(false, "{e:?} for {v}"),
        }
        Ok(())
    });
}

// ---- UserSig ----

fn signer() -> UserSigner {
    UserSigner::new(APP, Secret::new("usersig-property-test-key"))
}

/// A UserSig whose document is `doc`, as the official libraries encode it.
fn encode_doc(doc: &Value) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, doc.to_string().as_bytes()).expect("in memory");
    let b64 = STANDARD.encode(z.finish().expect("in memory"));
    b64.replace('+', "*").replace('/', "-").replace('=', "_")
}

/// The document inside a UserSig.
fn decode_doc(sig: &str) -> Value {
    let b64 = sig.replace('*', "+").replace('-', "/").replace('_', "=");
    let z = STANDARD.decode(b64).expect("base64");
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut json)
        .expect("zlib");
    serde_json::from_slice(&json).expect("JSON")
}

fn is_decoding_error(e: &UserSigError) -> bool {
    matches!(
        e,
        UserSigError::Empty
            | UserSigError::NotBase64
            | UserSigError::NotZlib
            | UserSigError::NotJson
    )
}

#[test]
fn usersig_any_string_is_refused() {
    check(".{0,300}", |sig| {
        prop_assert!(signer().verify_at("alice", &sig, NOW).is_err());
        Ok(())
    });
}

#[test]
fn usersig_any_bytes_in_sig_encoding_are_refused() {
    check(prop::collection::vec(any::<u8>(), 0..400), |bytes| {
        let sig = STANDARD
            .encode(&bytes)
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_");
        prop_assert!(signer().verify_at("alice", &sig, NOW).is_err());
        Ok(())
    });
}

#[test]
fn usersig_round_trips_and_is_bound_to_its_user_key_and_time() {
    check(
        (
            im_user_id(),
            im_user_id(),
            1u64..10_000_000,
            0u64..20_000_000,
        ),
        |(id, other, expire, age)| {
            let sig = signer().generate_at(&id, expire, NOW);
            let sig = sig.expose();
            let at = NOW + age;
            let got = signer().verify_at(&id, sig, at);
            if age <= expire {
                let claims = got.expect("a valid sig");
                prop_assert_eq!(claims.identifier, id.clone());
                prop_assert_eq!(
                    (claims.sdkappid, claims.time, claims.expire),
                    (APP, NOW, expire)
                );
            } else {
                prop_assert_eq!(got, Err(UserSigError::Expired));
            }
            if other != id {
                prop_assert_eq!(
                    signer().verify_at(&other, sig, NOW),
                    Err(UserSigError::IdentifierMismatch)
                );
            }
            let wrong_key = UserSigner::new(APP, Secret::new("another-key"));
            prop_assert_eq!(
                wrong_key.verify_at(&id, sig, NOW),
                Err(UserSigError::SignatureMismatch)
            );
            let other_app = UserSigner::new(APP + 1, Secret::new("usersig-property-test-key"));
            prop_assert_eq!(
                other_app.verify_at(&id, sig, NOW),
                Err(UserSigError::SdkAppIdMismatch)
            );
            Ok(())
        },
    );
}

#[test]
fn usersig_truncated_is_a_decoding_error() {
    check((im_user_id(), any::<prop::sample::Index>()), |(id, cut)| {
        let sig = signer().generate_at(&id, 3600, NOW);
        // Without its padding (`_`) a sig is still whole: Node's decoder re-pads, so does ours.
        let unpadded = sig.expose().trim_end_matches('_');
        let truncated = &unpadded[..cut.index(unpadded.len())];
        let err = signer()
            .verify_at(&id, truncated, NOW)
            .expect_err("truncated");
        prop_assert!(is_decoding_error(&err), "{err:?}");
        Ok(())
    });
}

#[test]
fn usersig_with_a_changed_character_never_says_something_else() {
    check(
        (im_user_id(), any::<usize>(), mutation_char()),
        |(id, at, with)| {
            let sig = signer().generate_at(&id, 3600, NOW);
            let mutated = mutate(sig.expose(), at, with);
            match signer().verify_at(&id, &mutated, NOW) {
                // Only a change that leaves the document as it was (e.g. another valid zlib
                // header) may pass, and then it says the same.
                Ok(claims) => prop_assert_eq!(
                    claims,
                    signer().verify_at(&id, sig.expose(), NOW).expect("valid")
                ),
                Err(e) => prop_assert!(
                    is_decoding_error(&e) || e == UserSigError::SignatureMismatch,
                    "{e:?}"
                ),
            }
            Ok(())
        },
    );
}

#[test]
fn usersig_with_changed_claims_does_not_match_its_signature() {
    check(
        (im_user_id(), 1u64..1_000_000, 0..3usize),
        |(id, extra, which)| {
            let sig = signer().generate_at(&id, 3600, NOW);
            let mut doc = decode_doc(sig.expose());
            let mut verify_as = id.clone();
            match which {
                0 => doc["TLS.expire"] = json!(3600 + extra),
                1 => doc["TLS.time"] = json!(NOW + extra),
                _ => {
                    verify_as = format!("{}x", &id[..id.len().min(31)]);
                    doc["TLS.identifier"] = json!(verify_as);
                }
            }
            prop_assert_eq!(
                signer().verify_at(&verify_as, &encode_doc(&doc), NOW),
                Err(UserSigError::SignatureMismatch)
            );
            Ok(())
        },
    );
}

// ---- Zendesk webhooks ----

const WEBHOOK_SECRET: &str = "webhook-property-test-secret";

fn sign_webhook(ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key");
    mac.update(ts.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `2023-11-14T22:13:20Z` for `NOW`, moved by `skew` seconds (skew within a day, not
/// crossing midnight backwards past the date).
fn timestamp(skew: i64) -> String {
    let t = NOW as i64 + skew;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // NOW is 2023-11-14 (day 19_675); a day either way stays in November.
    let day = 14 + (days - 19_675);
    format!(
        "2023-11-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn webhook_signed_bodies_verify_and_any_change_breaks_them() {
    check(
        (
            prop::collection::vec(any::<u8>(), 0..512),
            -300i64..=300,
            any::<prop::sample::Index>(),
            1u8..=255,
        ),
        |(body, skew, at, flip)| {
            let secret = Secret::new(WEBHOOK_SECRET);
            let ts = timestamp(skew);
            let sig = sign_webhook(&ts, &body);
            let now = NOW as i64;
            prop_assert_eq!(
                webhook::verify(&secret, Some(&sig), Some(&ts), &body, now),
                Ok(())
            );
            if !body.is_empty() {
                let mut changed = body.clone();
                changed[at.index(body.len())] ^= flip;
                prop_assert_eq!(
                    webhook::verify(&secret, Some(&sig), Some(&ts), &changed, now),
                    Err(WebhookError::BadSignature)
                );
            }
            let forged = mutate(&sig, at.index(sig.len()), 'Q');
            prop_assert!(webhook::verify(&secret, Some(&forged), Some(&ts), &body, now).is_err());
            prop_assert_eq!(
                webhook::verify(&secret, None, Some(&ts), &body, now),
                Err(WebhookError::MissingHeader(webhook::SIGNATURE_HEADER))
            );
            Ok(())
        },
    );
}

#[test]
fn webhook_stale_timestamps_are_refused() {
    check((301i64..86_000, any::<bool>()), |(skew, later)| {
        let skew = if later { skew } else { -skew };
        let ts = timestamp(skew);
        let sig = sign_webhook(&ts, b"{}");
        prop_assert_eq!(
            webhook::verify(
                &Secret::new(WEBHOOK_SECRET),
                Some(&sig),
                Some(&ts),
                b"{}",
                NOW as i64
            ),
            Err(WebhookError::Stale(-skew))
        );
        Ok(())
    });
}

#[test]
fn webhook_arbitrary_headers_never_verify() {
    check((".{0,64}", ".{0,40}", ".{0,64}"), |(sig, ts, body)| {
        let got = webhook::verify(
            &Secret::new(WEBHOOK_SECRET),
            Some(&sig),
            Some(&ts),
            body.as_bytes(),
            NOW as i64,
        );
        prop_assert!(got.is_err());
        Ok(())
    });
}

#[test]
fn webhook_timestamps_parse_only_when_well_formed() {
    check((".{0,40}", "[0-9T:.Z+-]{0,30}"), |(s, digits)| {
        webhook::parse_utc(&s);
        webhook::parse_utc(&digits);
        Ok(())
    });
}

#[test]
fn webhook_timestamp_forms_agree() {
    check((-80_000i64..80_000, 0u32..1000), |(skew, millis)| {
        let ts = timestamp(skew);
        let t = NOW as i64 + skew;
        prop_assert_eq!(webhook::parse_utc(&ts), Some(t));
        let base = ts.trim_end_matches('Z');
        prop_assert_eq!(webhook::parse_utc(&format!("{base}.{millis:03}Z")), Some(t));
        prop_assert_eq!(webhook::parse_utc(&format!("{base}+00:00")), Some(t));
        prop_assert_eq!(webhook::parse_utc(base), None, "no zone");
        Ok(())
    });
}

#[test]
fn webhook_events_read_their_ticket() {
    check(
        (1u64..u64::MAX, any::<bool>(), 0..3usize),
        |(ticket, as_string, event)| {
            let id = if as_string {
                json!(ticket.to_string())
            } else {
                json!(ticket)
            };
            let body = match event {
                0 => json!({"type": webhook::ASSIGNMENT_CHANGED, "id": "e1", "detail": {"id": id}}),
                1 => {
                    json!({"type": webhook::COMMENT_ADDED, "subject": format!("zen:ticket:{ticket}"), "event": {"comment": {"id": 5}}})
                }
                _ => json!({"ticket_id": id, "assignee_id": "", "status": "open"}),
            };
            let parsed = webhook::parse(body.to_string().as_bytes()).expect("an event");
            let got = match parsed {
                webhook::WebhookEvent::TicketChanged { ticket, .. }
                | webhook::WebhookEvent::CommentAdded { ticket, .. } => ticket,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(got, TicketId(ticket));
            // The same event without its ticket id is not an event the bridge can act on.
            let mut broken = body.clone();
            if let Some(o) = broken.as_object_mut() {
                o.remove("detail");
                o.remove("subject");
                o.insert("ticket_id".into(), json!([]));
            }
            prop_assert!(matches!(
                webhook::parse(broken.to_string().as_bytes()),
                Err(WebhookError::NotAnEvent(_))
            ));
            Ok(())
        },
    );
}

// ---- IM callbacks ----

const CALLBACK_TOKEN: &str = "callback-property-test-token";

fn query(app: Option<String>, time: Option<String>, sign: Option<String>) -> CallbackQuery {
    CallbackQuery {
        sdkappid: app,
        command: Some(callback::AFTER_SEND_MSG.into()),
        sign,
        request_time: time,
        platform: None,
    }
}

#[test]
fn callback_arbitrary_queries_never_verify() {
    check(
        (
            prop::option::of(".{0,12}"),
            prop::option::of("[0-9 -]{0,12}|.{0,12}"),
            prop::option::of("[0-9a-f]{64}|.{0,70}"),
        ),
        |(app, time, sign)| {
            let got = callback::verify(
                &Secret::new(CALLBACK_TOKEN),
                APP,
                &query(app, time, sign),
                NOW as i64,
            );
            prop_assert!(got.is_err());
            Ok(())
        },
    );
}

#[test]
fn callback_signed_queries_verify_and_each_fault_is_named() {
    check(
        (
            -60i64..=60,
            61i64..100_000,
            any::<prop::sample::Index>(),
            1u32..16,
            any::<bool>(),
        ),
        |(skew, stale, at, shift, upper)| {
            let token = Secret::new(CALLBACK_TOKEN);
            let now = NOW as i64;
            let t = (now + skew).to_string();
            let sign = callback::sign(CALLBACK_TOKEN, &t);
            let sent = if upper {
                sign.to_uppercase()
            } else {
                sign.clone()
            };
            prop_assert_eq!(
                callback::verify(
                    &token,
                    APP,
                    &query(Some(APP.to_string()), Some(t.clone()), Some(sent)),
                    now
                ),
                Ok(())
            );
            // One hex digit of the Sign changed to another.
            let mut forged: Vec<char> = sign.chars().collect();
            let i = at.index(forged.len());
            let digit = forged[i].to_digit(16).expect("hex");
            forged[i] = char::from_digit((digit + shift) % 16, 16).expect("a hex digit");
            let forged: String = forged.into_iter().collect();
            prop_assert_eq!(
                callback::verify(
                    &token,
                    APP,
                    &query(Some(APP.to_string()), Some(t.clone()), Some(forged)),
                    now
                ),
                Err(CallbackError::BadSign)
            );
            prop_assert!(matches!(
                callback::verify(
                    &token,
                    APP,
                    &query(
                        Some((APP + 1).to_string()),
                        Some(t.clone()),
                        Some(sign.clone())
                    ),
                    now
                ),
                Err(CallbackError::OtherApp(_))
            ));
            let old = (now - stale).to_string();
            prop_assert_eq!(
                callback::verify(
                    &token,
                    APP,
                    &query(
                        Some(APP.to_string()),
                        Some(old.clone()),
                        Some(callback::sign(CALLBACK_TOKEN, &old))
                    ),
                    now
                ),
                Err(CallbackError::Stale(stale))
            );
            prop_assert_eq!(
                callback::verify(
                    &token,
                    APP,
                    &query(Some(APP.to_string()), Some(format!("{t}x")), Some(sign)),
                    now
                ),
                Err(CallbackError::BadTime)
            );
            Ok(())
        },
    );
}

#[test]
fn callback_messages_are_read_and_a_wrong_field_type_is_refused() {
    check(
        (
            any::<u64>(),
            im_user_id(),
            ".{0,64}",
            prop::sample::select(vec!["GroupId", "From_Account", "MsgSeq", "MsgBody"]),
            prop_oneof![
                Just(json!(null)),
                Just(json!({"a": 1})),
                Just(json!(-1)),
                Just(json!(true))
            ],
        ),
        |(seq, from, text, field, wrong)| {
            let msg = json!({"CallbackCommand": callback::AFTER_SEND_MSG, "GroupId": "ZENDESK#7",
            "From_Account": from, "MsgSeq": seq, "Random": 1, "MsgTime": NOW,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]});
            let read = match callback::parse_body(msg.to_string().as_bytes()) {
                Ok(callback::CallbackBody::Sent(m)) => m,
                other => panic!("a message: {other:?}"),
            };
            prop_assert_eq!((read.seq, read.from.as_str()), (seq, from.as_str()));
            let mut broken = msg.clone();
            broken[field] = wrong;
            prop_assert!(matches!(
                callback::parse_body(broken.to_string().as_bytes()),
                Err(CallbackError::NotAnEvent(_))
            ));
            Ok(())
        },
    );
}

// ---- the /createticket body ----

fn valid_case() -> impl Strategy<Value = Value> {
    (
        im_user_id(),
        "[a-z]{1,10}( [a-z]{1,10}){0,8}",
        "[ -~]{0,40}",
        "[a-z]{1,8}",
        any::<bool>(),
    )
        .prop_map(|(user, desc, subject, name, reuse)| {
            json!({"userId": user, "caseInfo": {"desc": desc, "subject": subject, "name": name,
                   "email": format!("{name}@example.com")}, "reuse": reuse})
        })
}

#[test]
fn case_valid_requests_are_read_and_a_wrong_field_is_named() {
    check(
        (
            valid_case(),
            prop::sample::select(vec![
                ("/userId", "userId"),
                ("/caseInfo", "caseInfo"),
                ("/caseInfo/desc", "caseInfo.desc"),
                ("/caseInfo/subject", "caseInfo.subject"),
                ("/caseInfo/name", "caseInfo.name"),
                ("/caseInfo/email", "caseInfo.email"),
                ("/reuse", "reuse"),
            ]),
            prop_oneof![
                Just(json!(7)),
                Just(json!([])),
                Just(json!({"x": 1})),
                Just(json!(false))
            ],
        ),
        |(case, field, wrong)| {
            let read = case_request::parse(case.to_string().as_bytes()).expect("a valid case");
            prop_assert_eq!(
                read.user.as_str(),
                case["userId"].as_str().unwrap_or_default()
            );
            let (pointer, name) = field;
            let mut broken = case.clone();
            // A boolean is right for `reuse`, an object for `caseInfo`.
            let wrong = match (pointer, &wrong) {
                ("/reuse", Value::Bool(_)) => json!("yes"),
                ("/caseInfo", Value::Object(_)) => json!("x"),
                _ => wrong,
            };
            *broken.pointer_mut(pointer).expect("present") = wrong;
            match case_request::parse(broken.to_string().as_bytes()) {
                Err(ApiError::InvalidField(msg)) => {
                    prop_assert!(msg.contains(name), "{msg} should name {name}")
                }
                other => prop_assert!(false, "{other:?}"),
            }
            Ok(())
        },
    );
}

// ---- the agent's credentials ----

const ZAF_SECRET: &str = "zaf-property-test-secret";
const JWT_NOW: i64 = 1_800_000_000;

#[test]
fn jwt_arbitrary_tokens_are_refused() {
    check(
        ".{0,200}|[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,44}",
        |token| {
            prop_assert!(jwt::verify(&token, &Secret::new(ZAF_SECRET), JWT_NOW).is_err());
            Ok(())
        },
    );
}

#[test]
fn jwt_valid_tokens_are_read_and_changed_ones_refused() {
    check(
        (
            1u64..u64::MAX,
            1u64..u64::MAX,
            "[A-Za-z][A-Za-z ]{0,30}",
            1i64..=3600,
            1..3usize,
            any::<usize>(),
            mutation_char(),
        ),
        |(ticket, agent, name, ttl, part, at, with)| {
            let secret = Secret::new(ZAF_SECRET);
            let token = jwt::sign(
                &json!({"ticket_id": ticket, "agent_id": agent.to_string(),
            "agent_name": name, "exp": JWT_NOW + ttl}),
                &secret,
            );
            let claims = jwt::verify(&token, &secret, JWT_NOW).expect("valid");
            prop_assert_eq!((claims.ticket, claims.agent_id), (TicketId(ticket), agent));
            // One character of the payload or the signature changed.
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[part] = mutate(&parts[part], at, with);
            let changed = parts.join(".");
            let got = jwt::verify(&changed, &secret, JWT_NOW);
            prop_assert!(
                matches!(
                    got,
                    Err(AgentAuthError::BadSignature | AgentAuthError::Malformed(_))
                ),
                "{got:?}"
            );
            prop_assert_eq!(
                jwt::verify(&token, &Secret::new("other"), JWT_NOW),
                Err(AgentAuthError::BadSignature)
            );
            prop_assert_eq!(
                jwt::verify(&token, &secret, JWT_NOW + ttl + 61),
                Err(AgentAuthError::Expired)
            );
            Ok(())
        },
    );
}

#[test]
fn jwt_any_signed_claims_are_read_or_refused_for_a_claim() {
    check(json_value(), |claims| {
        let token = jwt::sign(&claims, &Secret::new(ZAF_SECRET));
        let got = jwt::verify(&token, &Secret::new(ZAF_SECRET), JWT_NOW);
        prop_assert!(
            !matches!(
                got,
                Err(AgentAuthError::BadSignature | AgentAuthError::Algorithm(_))
            ),
            "{got:?}"
        );
        Ok(())
    });
}

#[test]
fn session_arbitrary_tokens_are_refused() {
    check(
        ".{0,200}|[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,44}",
        |token| {
            let keys = SessionKeys::new(&Secret::new(ZAF_SECRET));
            prop_assert_eq!(
                keys.check_any(&token, JWT_NOW),
                Err(AgentAuthError::BadSession)
            );
            Ok(())
        },
    );
}

#[test]
fn session_tokens_are_bound_and_changed_ones_refused() {
    check(
        (
            any::<u64>(),
            any::<u64>(),
            ".{0,40}",
            any::<usize>(),
            mutation_char(),
        ),
        |(ticket, agent, name, at, with)| {
            let keys = SessionKeys::new(&Secret::new(ZAF_SECRET));
            let session = Session {
                ticket,
                agent_id: agent,
                agent_name: name,
                expires_at: JWT_NOW + 60,
            };
            let token = keys.issue(&session);
            prop_assert_eq!(
                keys.check(token.expose(), TicketId(ticket), JWT_NOW),
                Ok(session)
            );
            prop_assert_eq!(
                keys.check(token.expose(), TicketId(ticket.wrapping_add(1)), JWT_NOW),
                Err(AgentAuthError::OtherTicket)
            );
            prop_assert_eq!(
                keys.check_any(token.expose(), JWT_NOW + 60),
                Err(AgentAuthError::Expired)
            );
            let changed = mutate(token.expose(), at, with);
            prop_assert_eq!(
                keys.check_any(&changed, JWT_NOW),
                Err(AgentAuthError::BadSession)
            );
            // A session token is not a proxy JWT, nor the other way round.
            prop_assert!(jwt::verify(token.expose(), &Secret::new(ZAF_SECRET), JWT_NOW).is_err());
            Ok(())
        },
    );
}
