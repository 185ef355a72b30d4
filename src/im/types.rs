//! Request and response bodies of the IM REST commands the bridge uses, with IM's exact key
//! names (specs/tencent-im.md §3).

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub(crate) struct AccountImport<'a> {
    #[serde(rename = "UserID")]
    pub user_id: &'a str,
    #[serde(rename = "Nick", skip_serializing_if = "Option::is_none")]
    pub nick: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Member<'a> {
    #[serde(rename = "Member_Account")]
    pub member_account: &'a str,
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub group_id: String,
    /// At most 30 bytes (IM's limit); see [`group_name`].
    pub name: String,
    pub group_type: String,
    pub apply_join_option: String,
    pub introduction: Option<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateGroup<'a> {
    #[serde(rename = "Type")]
    pub group_type: &'a str,
    pub name: &'a str,
    pub group_id: &'a str,
    pub apply_join_option: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduction: Option<&'a str>,
    pub member_list: Vec<Member<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateGroupResponse {
    #[serde(default)]
    pub group_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddGroupMember<'a> {
    pub group_id: &'a str,
    pub silence: u8,
    pub member_list: Vec<Member<'a>>,
}

/// What `add_group_member` did for one account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberResult {
    #[serde(rename = "Member_Account")]
    pub account: String,
    /// 0 failed, 1 added, 2 already a member, 3 waiting for confirmation.
    #[serde(rename = "Result")]
    pub result: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddGroupMemberResponse {
    #[serde(default)]
    pub member_list: Vec<MemberResult>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeleteGroupMember<'a> {
    #[serde(rename = "GroupId")]
    pub group_id: &'a str,
    #[serde(rename = "Silence")]
    pub silence: u8,
    #[serde(rename = "Reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(rename = "MemberToDel_Account")]
    pub members: &'a [&'a str],
}

/// A text message to post in a group.
#[derive(Debug, Clone)]
pub struct TextMessage {
    pub group_id: String,
    /// Sender; `None` = the admin account.
    pub from: Option<String>,
    /// IM drops a second message with the same `Random` within 5 minutes, so a retry with the
    /// same value cannot post twice.
    pub random: u32,
    pub text: String,
    pub cloud_custom_data: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TextElem<'a> {
    #[serde(rename = "MsgType")]
    pub msg_type: &'static str,
    #[serde(rename = "MsgContent")]
    pub msg_content: TextContent<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TextContent<'a> {
    #[serde(rename = "Text")]
    pub text: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct SendGroupMsg<'a> {
    #[serde(rename = "GroupId")]
    pub group_id: &'a str,
    #[serde(rename = "From_Account", skip_serializing_if = "Option::is_none")]
    pub from_account: Option<&'a str>,
    #[serde(rename = "Random")]
    pub random: u32,
    #[serde(rename = "MsgBody")]
    pub msg_body: [TextElem<'a>; 1],
    #[serde(rename = "CloudCustomData", skip_serializing_if = "Option::is_none")]
    pub cloud_custom_data: Option<&'a str>,
    /// The bridge's own posts fire no callbacks: they must never be mirrored back.
    #[serde(rename = "ForbidCallbackControl")]
    pub forbid_callback_control: [&'static str; 2],
}

/// Suppresses both send callbacks for one message (specs/tencent-im.md §3.4).
pub(crate) const FORBID_CALLBACKS: [&str; 2] =
    ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"];

/// Where a sent message landed. Both are optional: what IM answers for a `Random` it dropped
/// as a duplicate is not documented, and the bridge must not fail a resend over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentMessage {
    #[serde(default)]
    pub msg_seq: Option<u64>,
    #[serde(default)]
    pub msg_time: Option<u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SystemNotification<'a> {
    #[serde(rename = "GroupId")]
    pub group_id: &'a str,
    #[serde(rename = "Content")]
    pub content: &'a str,
}

/// `modify_group_base_info` with only the mute switch. The current docs name the field
/// `MuteAllMember` (the older generated SDK says `ShutUpAllMember`; specs/tencent-im.md §3.8).
#[derive(Debug, Serialize)]
pub(crate) struct MuteAll<'a> {
    #[serde(rename = "GroupId")]
    pub group_id: &'a str,
    #[serde(rename = "MuteAllMember")]
    pub mute_all_member: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct GroupIdOnly<'a> {
    #[serde(rename = "GroupId")]
    pub group_id: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct GetGroupInfo<'a> {
    #[serde(rename = "GroupIdList")]
    pub group_id_list: &'a [&'a str],
}

/// One group of a `get_group_info` answer; each has its own error code.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupInfo {
    pub group_id: String,
    #[serde(default)]
    pub error_code: i64,
    #[serde(default)]
    pub error_info: String,
    #[serde(default, rename = "Type")]
    pub group_type: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub introduction: String,
    /// Empty for a group made by the admin without an owner.
    #[serde(default, rename = "Owner_Account")]
    pub owner: String,
    #[serde(default)]
    pub member_num: u64,
    #[serde(default)]
    pub member_list: Vec<GroupMember>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroupMember {
    #[serde(rename = "Member_Account")]
    pub account: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetGroupInfoResponse {
    #[serde(default)]
    pub group_info: Vec<GroupInfo>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupMsgGetSimple<'a> {
    pub group_id: &'a str,
    pub req_msg_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub req_msg_seq: Option<u64>,
}

/// A page of group history, newest first.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct History {
    /// 1 when the whole requested range was returned; 0 when it was cut short (by size or the
    /// 20-message limit); 2 when cut short and the rest has expired.
    #[serde(default)]
    pub is_finished: i64,
    #[serde(default, rename = "RspMsgList")]
    pub messages: Vec<HistoryMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryMessage {
    #[serde(rename = "From_Account", default)]
    pub from: String,
    #[serde(rename = "MsgSeq")]
    pub seq: u64,
    #[serde(rename = "MsgRandom", default)]
    pub random: u64,
    #[serde(rename = "MsgTimeStamp", default)]
    pub time: u64,
    #[serde(rename = "IsSystemMsg", default)]
    pub is_system: i64,
    #[serde(rename = "MsgBody", default)]
    pub body: serde_json::Value,
}

/// A group name from a ticket subject: IM allows at most 30 bytes, cut on a character boundary.
pub fn group_name(subject: &str) -> String {
    const MAX: usize = 30;
    let subject = subject.trim();
    if subject.len() <= MAX {
        return subject.to_owned();
    }
    let mut end = MAX;
    while !subject.is_char_boundary(end) {
        end -= 1;
    }
    subject[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_fit_in_30_bytes_without_splitting_characters() {
        assert_eq!(group_name("Refund"), "Refund");
        assert_eq!(group_name(&"x".repeat(40)).len(), 30);
        let cjk = "退款申请退款申请退款申请"; // 3 bytes each
        assert_eq!(group_name(cjk), "退款申请退款申请退款");
        let mixed = format!("{}é", "a".repeat(29));
        assert_eq!(group_name(&mixed), "a".repeat(29));
    }
}
