//! Group messages: `send_group_msg`, `send_group_system_notification`, `group_msg_get_simple`
//! (specs/tencent-im.md §3.4, §3.5, §3.10).

use rand::Rng;
use serde_json::{json, Map, Value};

use super::{group_mut, require_accounts, Ctx, Output};
use crate::sandbox::im::callbacks::Fired;
use crate::sandbox::im::errors::{code, ImError};
use crate::sandbox::im::fields::Fields;
use crate::sandbox::im::state::{GroupType, NewMessage, State};

/// Largest message (MsgBody JSON + CloudCustomData).
// UNCONFIRMED: 8 KB per the SDK error texts (80002/93000), newer docs may say 12 KB; the
// stricter 8 KB is used.
const MAX_MSG_BYTES: usize = 8 * 1024;
const MAX_HISTORY_PAGE: u64 = 20;
/// Recipients of one system notification (current pages: 50; older SDK docs: 500).
const MAX_NOTIFICATION_TARGETS: usize = 50;
const MSG_PRIORITIES: [&str; 4] = ["High", "Normal", "Low", "Lowest"];
const SEND_MSG_CONTROLS: [&str; 2] = ["NoLastMsg", "NoUnread"];
const FORBID_CALLBACK_CONTROLS: [&str; 2] =
    ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"];

/// Checks a `MsgBody` against the message element formats (TIMMsgElement).
// UNCONFIRMED: the code for a malformed MsgBody on the group service; 10004 is used (the C2C
// service would say 90002).
fn check_msg_body(f: &Fields<'_>, body: &[Value]) -> Result<(), ImError> {
    if body.is_empty() {
        return Err(f.invalid("MsgBody must hold at least one element"));
    }
    let mut custom_elems = 0;
    for (i, elem) in body.iter().enumerate() {
        let at = format!("MsgBody[{i}]");
        let elem = elem
            .as_object()
            .ok_or_else(|| f.invalid(format!("{at} must be an object")))?;
        let msg_type = elem
            .get("MsgType")
            .and_then(Value::as_str)
            .ok_or_else(|| f.invalid(format!("{at}.MsgType must be a string")))?;
        let content = elem
            .get("MsgContent")
            .and_then(Value::as_object)
            .ok_or_else(|| f.invalid(format!("{at}.MsgContent must be an object")))?;
        let content = Fields::new(content, code::GROUP_BAD_PARAMS);
        let named = |e: ImError| f.invalid(format!("{at}.MsgContent: {}", e.info));
        match msg_type {
            "TIMTextElem" => {
                content.str_req("Text").map_err(named)?;
            }
            "TIMCustomElem" => {
                custom_elems += 1;
                content.str_req("Data").map_err(named)?;
                for key in ["Desc", "Ext", "Sound"] {
                    content.str_opt(key).map_err(named)?;
                }
            }
            "TIMFaceElem" => {
                content
                    .u64_opt("Index")
                    .map_err(named)?
                    .ok_or_else(|| f.invalid(format!("{at}.MsgContent: Index is required")))?;
                content.str_opt("Data").map_err(named)?;
            }
            "TIMLocationElem" => {
                content.str_req("Desc").map_err(named)?;
                for key in ["Latitude", "Longitude"] {
                    if !content_number(elem, key) {
                        return Err(f.invalid(format!("{at}.MsgContent: {key} must be a number")));
                    }
                }
            }
            // Media and relay elements reference uploaded files; their inner fields are not
            // checked beyond MsgContent being an object.
            "TIMSoundElem" | "TIMImageElem" | "TIMFileElem" | "TIMVideoFileElem"
            | "TIMRelayElem" => {}
            other => {
                return Err(f.invalid(format!(
                    "{at}.MsgType {other} is not a message element type"
                )))
            }
        }
    }
    if custom_elems > 1 {
        return Err(f.invalid("a message may hold only one TIMCustomElem"));
    }
    Ok(())
}

fn content_number(elem: &Map<String, Value>, key: &str) -> bool {
    elem.get("MsgContent")
        .and_then(|c| c.get(key))
        .is_some_and(Value::is_number)
}

/// Every string of the array `key` must be one of `allowed`; the strings (none if absent).
fn check_controls<'a>(
    f: &Fields<'a>,
    key: &str,
    allowed: &[&str],
) -> Result<Vec<&'a str>, ImError> {
    let values = f.strings_opt(key)?.unwrap_or_default();
    if let Some(bad) = values.iter().find(|v| !allowed.contains(v)) {
        return Err(f.invalid(format!(
            "{key} value {bad} is not one of {}",
            allowed.join(", ")
        )));
    }
    Ok(values)
}

pub(super) fn send_group_msg(
    state: &mut State,
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    let group_id = f.str_req("GroupId")?;
    let random = f.u32_req("Random")?;
    let msg_body = f.array_req("MsgBody")?;
    check_msg_body(&f, msg_body)?;
    let from = f.str_opt("From_Account")?.unwrap_or(ctx.identifier);
    let cloud_custom_data = f.str_opt("CloudCustomData")?;
    f.one_of("MsgPriority", &MSG_PRIORITIES)?;
    let online_only = f.flag("OnlineOnlyFlag")?;
    let controls = check_controls(&f, "SendMsgControl", &SEND_MSG_CONTROLS)?;
    if online_only && !controls.is_empty() {
        return Err(f.invalid("SendMsgControl cannot be used with OnlineOnlyFlag 1"));
    }
    let forbidden = check_controls(&f, "ForbidCallbackControl", &FORBID_CALLBACK_CONTROLS)?;
    f.object_opt("OfflinePushInfo")?;
    f.flag("SupportMessageExtension")?;
    let (seq, time) = send(
        state,
        ctx,
        Outgoing {
            group_id,
            from,
            random: Some(random),
            msg_body,
            cloud_custom_data,
            online_only,
            after_callback: !forbidden.contains(&"ForbidAfterSendMsgCallback"),
        },
    )?;
    Ok(sent(seq, time))
}

/// The fields a client send may carry (see the emulator-only SDK entry, `im::sdk`).
const CLIENT_SEND_FIELDS: [&str; 3] = ["GroupId", "MsgBody", "CloudCustomData"];

/// A message a user sends from the client SDK, `ctx.identifier` being the sender: the checks of
/// `send_group_msg` for that sender, a fresh Random, and the after-send callback. Returns
/// `(MsgSeq, MsgTime)`.
pub(in crate::sandbox::im) fn client_send_group_msg(
    state: &mut State,
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Result<(u64, u64), ImError> {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    // A client cannot speak for someone else or pick REST-only options.
    if let Some(key) = body
        .keys()
        .find(|k| !CLIENT_SEND_FIELDS.contains(&k.as_str()))
    {
        return Err(f.invalid(format!(
            "{key} cannot be set by a client; only {} can",
            CLIENT_SEND_FIELDS.join(", ")
        )));
    }
    let group_id = f.str_req("GroupId")?;
    let msg_body = f.array_req("MsgBody")?;
    check_msg_body(&f, msg_body)?;
    let cloud_custom_data = f.str_opt("CloudCustomData")?;
    send(
        state,
        ctx,
        Outgoing {
            group_id,
            from: ctx.identifier,
            random: None,
            msg_body,
            cloud_custom_data,
            online_only: false,
            after_callback: true,
        },
    )
}

/// A message whose fields were read; [`send`] checks it against the group and stores it.
struct Outgoing<'a> {
    group_id: &'a str,
    from: &'a str,
    /// `None`: a client send, which gets a fresh one.
    random: Option<u32>,
    msg_body: &'a [Value],
    cloud_custom_data: Option<&'a str>,
    online_only: bool,
    /// Fire `Group.CallbackAfterSendMsg` once stored.
    after_callback: bool,
}

/// Size, sender and group checks, then the message is stored (unless it is a duplicate) and
/// its callback fired. Returns `(MsgSeq, MsgTime)`, those of the original for a duplicate.
fn send(state: &mut State, ctx: &Ctx<'_>, msg: Outgoing<'_>) -> Result<(u64, u64), ImError> {
    let Outgoing {
        group_id,
        from,
        msg_body,
        cloud_custom_data,
        online_only,
        ..
    } = msg;
    let body = Value::Array(msg_body.to_vec());
    let size = body.to_string().len() + cloud_custom_data.map_or(0, str::len);
    if size > MAX_MSG_BYTES {
        return Err(ImError::new(
            code::MSG_TOO_LONG,
            format!("the message is {size} bytes, at most {MAX_MSG_BYTES}"),
        ));
    }

    group_mut(state, group_id)?;
    require_accounts(state, [from])?;
    let group = group_mut(state, group_id)?;
    let app_admin = ctx.is_app_admin(from);
    if !app_admin && !group.is_member(from) {
        return Err(ImError::new(
            code::GROUP_PERMISSION,
            format!("{from} is not a member of the group"),
        ));
    }
    if group.shut_up_all_member && !app_admin && !group.is_manager(from) {
        return Err(ImError::new(
            code::GROUP_MUTED,
            format!("{from} is muted: the group has ShutUpAllMember on"),
        ));
    }
    let random = msg.random.unwrap_or_else(|| loop {
        let random = rand::thread_rng().gen();
        if group.duplicate_of(from, random, ctx.now).is_none() {
            break random;
        }
    });
    // A resend with the same Random within 5 minutes is dropped (§2.5), and fires nothing.
    // UNCONFIRMED: the reply to a dropped duplicate; OK with the original MsgSeq/MsgTime is
    // assumed, which is what makes a retry after a lost response safe.
    if let Some(original) = group.duplicate_of(from, random, ctx.now) {
        return Ok((original.seq, original.time));
    }
    let (seq, time) = group.push_message(
        NewMessage {
            from: from.to_string(),
            random,
            time: ctx.now,
            body,
            cloud_custom_data: cloud_custom_data.map(str::to_string),
            system: false,
        },
        // UNCONFIRMED: online-only messages are taken to use a seq while not being stored.
        !online_only,
    );
    let group_type = group.group_type;
    let stored = group.messages.last().map(|m| m.msg.clone());
    if let (true, Some(stored)) = (msg.after_callback, stored) {
        let msg_id = state.new_msg_id(time, random);
        state.fired.push(Fired::after_send_msg(
            ctx,
            group_id,
            group_type,
            &stored,
            online_only,
            msg_id,
        ));
    }
    Ok((seq, time))
}

/// The fields of a send's answer.
pub(in crate::sandbox::im) fn sent(seq: u64, time: u64) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MsgTime".into(), json!(time));
    out.insert("MsgSeq".into(), json!(seq));
    out
}

/// Records the notification as a system message. It takes a seq but, being online-only
/// (§3.5), never shows in `group_msg_get_simple`.
pub(super) fn send_group_system_notification(
    state: &mut State,
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    let group_id = f.str_req("GroupId")?;
    let content = f.str_req("Content")?;
    // UNCONFIRMED: an empty Content is refused (stricter); ToMembers_Account entries are
    // not checked against the member list.
    if content.is_empty() {
        return Err(f.invalid("Content must not be empty"));
    }
    let targets = f.strings_opt("ToMembers_Account")?.unwrap_or_default();
    if targets.len() > MAX_NOTIFICATION_TARGETS {
        return Err(f.invalid(format!(
            "ToMembers_Account holds {} accounts, at most {MAX_NOTIFICATION_TARGETS}",
            targets.len()
        )));
    }
    let group = group_mut(state, group_id)?;
    if group.group_type == GroupType::AvChatRoom && !targets.is_empty() {
        return Err(f.invalid("an AVChatRoom notification goes to every member"));
    }
    group.push_message(
        NewMessage {
            from: ctx.identifier.to_string(),
            random: rand::thread_rng().gen(),
            time: ctx.now,
            body: json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": content } }]),
            cloud_custom_data: None,
            system: true,
        },
        false,
    );
    Ok(Map::new())
}

/// Newest first, messages with seq ≤ `ReqMsgSeq`; `IsFinished` 1 when nothing older remains.
pub(super) fn group_msg_get_simple(
    state: &mut State,
    _ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    let group_id = f.str_req("GroupId")?;
    let count = f
        .u64_opt("ReqMsgNumber")?
        .ok_or_else(|| f.invalid("ReqMsgNumber is required"))?;
    if !(1..=MAX_HISTORY_PAGE).contains(&count) {
        return Err(f.invalid(format!("ReqMsgNumber must be 1 to {MAX_HISTORY_PAGE}")));
    }
    let upto = f.u64_opt("ReqMsgSeq")?.unwrap_or(u64::MAX);
    // Nothing is ever recalled in the emulator, so the flag changes nothing.
    f.flag("WithRecalledMsg")?;
    let group = group_mut(state, group_id)?;
    if group.group_type == GroupType::AvChatRoom {
        // UNCONFIRMED: the code for history of an AVChatRoom (not stored, §3.10); 10007 assumed.
        return Err(ImError::new(
            code::GROUP_PERMISSION,
            "an AVChatRoom keeps no message history",
        ));
    }
    let mut older = group
        .messages
        .iter()
        .rev()
        .filter(|m| m.in_history && m.msg.seq <= upto)
        .map(|m| &m.msg);
    let page: Vec<Value> = older
        .by_ref()
        .take(count as usize)
        .map(|m| {
            let mut entry = json!({
                "From_Account": m.from,
                "MsgSeq": m.seq,
                "MsgRandom": m.random,
                "MsgTimeStamp": m.time,
                "IsPlaceMsg": 0,
                "IsSystemMsg": u8::from(m.system),
                "MsgBody": m.body,
            });
            if let (Some(data), Some(obj)) = (&m.cloud_custom_data, entry.as_object_mut()) {
                obj.insert("CloudCustomData".into(), json!(data));
            }
            entry
        })
        .collect();
    let finished = older.next().is_none();
    let mut out = Map::new();
    out.insert("GroupId".into(), json!(group_id));
    out.insert("IsFinished".into(), json!(u8::from(finished)));
    out.insert("RspMsgList".into(), Value::Array(page));
    Ok(out)
}
