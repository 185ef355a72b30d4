//! Membership: `add_group_member` and `delete_group_member` (specs/tencent-im.md §3.2, §3.3).

use serde_json::{json, Map, Value};

use super::{group_mut, require_accounts, Ctx, Output};
use crate::sandbox::im::errors::{code, ImError};
use crate::sandbox::im::fields::Fields;
use crate::sandbox::im::state::{GroupType, Member, Role, State};

/// Accounts per `add_group_member` request.
// UNCONFIRMED: the INTL page says 300, the CN page (2026-02) 20; 300 is used as briefed, so a
// client must batch by 20 itself to be safe on every data centre.
const MAX_ADD: usize = 300;
const MAX_DELETE: usize = 100;

/// `add_group_member` `Result` values.
const ADDED: u32 = 1;
const ALREADY_MEMBER: u32 = 2;

fn too_many(key: &str, n: usize, max: usize) -> ImError {
    ImError::new(
        code::GROUP_TOO_MANY_ACCOUNTS,
        format!("{key} holds {n} accounts, at most {max} per request"),
    )
}

/// Adds the accounts; one that does not exist fails the whole request with 10019.
// UNCONFIRMED: a mixed batch might instead answer Result 0 per missing account (§3.2); the
// whole-request failure is the stricter behaviour.
pub(super) fn add_group_member(
    state: &mut State,
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    let group_id = f.str_req("GroupId")?;
    let silence = f.flag("Silence")?;
    let items = f.array_req("MemberList")?;
    if items.is_empty() {
        return Err(f.invalid("MemberList must not be empty"));
    }
    if items.len() > MAX_ADD {
        return Err(too_many("MemberList", items.len(), MAX_ADD));
    }
    let accounts = f.member_accounts("MemberList", items)?;
    let group_type = group_mut(state, group_id)?.group_type;
    if group_type == GroupType::AvChatRoom {
        return Err(ImError::new(
            code::GROUP_PERMISSION,
            "members cannot be added to an AVChatRoom",
        ));
    }
    require_accounts(state, accounts.iter().copied())?;

    let group = group_mut(state, group_id)?;
    let mut newcomers: Vec<&str> = Vec::new();
    for account in &accounts {
        if !group.is_member(account) && !newcomers.contains(account) {
            newcomers.push(account);
        }
    }
    if (group.members.len() + newcomers.len()) as u64 > group.max_member_num {
        // UNCONFIRMED: whether a request that would overfill the group is refused whole.
        return Err(ImError::new(
            code::GROUP_FULL,
            format!("the group is limited to {} members", group.max_member_num),
        ));
    }
    let results: Vec<Value> = accounts
        .iter()
        .map(|account| {
            let result = if group.is_member(account) {
                ALREADY_MEMBER
            } else {
                group.members.push(Member {
                    account: account.to_string(),
                    role: Role::Member,
                    join_time: ctx.now,
                    last_send_msg_time: 0,
                });
                ADDED
            };
            json!({ "Member_Account": account, "Result": result })
        })
        .collect();
    if !silence && !newcomers.is_empty() {
        // The notice's shape is the emulator's own; clients only rely on it being a system
        // message that takes a seq.
        group.push_notice(
            ctx.identifier,
            ctx.now,
            json!({
                "OpType": "Join",
                "Operator_Account": ctx.identifier,
                "MemberList_Account": newcomers,
            }),
        );
    }
    let mut out = Map::new();
    out.insert("MemberList".into(), Value::Array(results));
    Ok(out)
}

/// Removes the accounts; removing a non-member is not an error (§3.3).
pub(super) fn delete_group_member(
    state: &mut State,
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::GROUP_BAD_PARAMS);
    let group_id = f.str_req("GroupId")?;
    let silence = f.flag("Silence")?;
    let reason = f.str_opt("Reason")?;
    let accounts = f.strings_req("MemberToDel_Account")?;
    if accounts.is_empty() {
        return Err(f.invalid("MemberToDel_Account must not be empty"));
    }
    if accounts.len() > MAX_DELETE {
        return Err(too_many("MemberToDel_Account", accounts.len(), MAX_DELETE));
    }
    let group = group_mut(state, group_id)?;
    if group.group_type == GroupType::AvChatRoom {
        return Err(f.invalid("members cannot be deleted from an AVChatRoom"));
    }
    if let Some(owner) = group.owner.as_deref() {
        if accounts.contains(&owner) {
            // UNCONFIRMED: the code for removing the owner; 10007 (permission) assumed.
            return Err(ImError::new(
                code::GROUP_PERMISSION,
                format!("the owner {owner} cannot be removed from the group"),
            ));
        }
    }
    let removed: Vec<String> = group
        .members
        .iter()
        .filter(|m| accounts.contains(&m.account.as_str()))
        .map(|m| m.account.clone())
        .collect();
    group.members.retain(|m| !removed.contains(&m.account));
    // With Silence only the removed members are told, so nothing is stored in the group.
    if !silence && !removed.is_empty() {
        group.push_notice(
            ctx.identifier,
            ctx.now,
            json!({
                "OpType": "Kicked",
                "Operator_Account": ctx.identifier,
                "MemberList_Account": removed,
                "Reason": reason.unwrap_or(""),
            }),
        );
    }
    Ok(Map::new())
}
