//! What the emulated IM application holds: accounts, groups with their members and messages,
//! call counters and the rate-limit windows. Lives behind one mutex in [`super::ImEmulator`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

use super::callbacks::Fired;
use super::{Account, Group, GroupMessage};

/// How long a (From_Account, Random) pair is remembered for duplicate detection (§2.5).
pub(super) const DUPLICATE_WINDOW_SECS: u64 = 5 * 60;

/// Where the counter part of `MsgId`s starts (an 18-digit number, as in the documented example).
const MSG_ID_BASE: u64 = 144_115_200_000_000_000;

/// Member count of a group created without `MaxMemberCount`.
// UNCONFIRMED: the default is the package limit (§3.1 "trial: 20"); the trial value is the strictest.
pub(super) const DEFAULT_MAX_MEMBERS: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupType {
    Private,
    Public,
    ChatRoom,
    AvChatRoom,
    Community,
}

impl GroupType {
    pub const NAMES: [&'static str; 5] =
        ["Private", "Public", "ChatRoom", "AVChatRoom", "Community"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Private" => Self::Private,
            "Public" => Self::Public,
            "ChatRoom" => Self::ChatRoom,
            "AVChatRoom" => Self::AvChatRoom,
            "Community" => Self::Community,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "Private",
            Self::Public => "Public",
            Self::ChatRoom => "ChatRoom",
            Self::AvChatRoom => "AVChatRoom",
            Self::Community => "Community",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Member => "Member",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub account: String,
    pub role: Role,
    pub join_time: u64,
    pub last_send_msg_time: u64,
}

/// A message (or system notice) with what the public [`GroupMessage`] does not show.
#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    pub msg: GroupMessage,
    /// False for online-only messages and system notifications: they take a seq but are not
    /// kept in the history (§3.5; `OnlineOnlyFlag` §3.4).
    pub in_history: bool,
}

#[derive(Debug, Clone)]
pub(super) struct GroupRec {
    pub id: String,
    pub group_type: GroupType,
    pub name: String,
    pub owner: Option<String>,
    pub introduction: Option<String>,
    pub notification: Option<String>,
    pub face_url: Option<String>,
    pub apply_join_option: String,
    pub shut_up_all_member: bool,
    pub max_member_num: u64,
    pub members: Vec<Member>,
    pub messages: Vec<StoredMessage>,
    /// The seq the next message will get; starts at 1.
    pub next_seq: u64,
    pub created_at: u64,
    pub info_seq: u64,
    pub last_info_time: u64,
    pub last_msg_time: u64,
}

impl GroupRec {
    pub fn member(&self, account: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.account == account)
    }

    pub fn is_member(&self, account: &str) -> bool {
        self.member(account).is_some()
    }

    /// Owner or group admin.
    pub fn is_manager(&self, account: &str) -> bool {
        self.member(account)
            .is_some_and(|m| matches!(m.role, Role::Owner | Role::Admin))
    }

    /// Appends a message, giving it the next seq.
    pub fn push_message(&mut self, message: NewMessage, in_history: bool) -> (u64, u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last_msg_time = message.time;
        if let Some(m) = self.members.iter_mut().find(|m| m.account == message.from) {
            if !message.system {
                m.last_send_msg_time = message.time;
            }
        }
        let time = message.time;
        self.messages.push(StoredMessage {
            msg: GroupMessage {
                seq,
                random: message.random,
                from: message.from,
                time,
                body: message.body,
                cloud_custom_data: message.cloud_custom_data,
                system: message.system,
            },
            in_history,
        });
        (seq, time)
    }

    /// A system notice (member joined/left, …) that takes a seq like any message.
    pub fn push_notice(&mut self, operator: &str, time: u64, content: Value) {
        let body = serde_json::json!([{ "MsgType": "TIMGroupTipElem", "MsgContent": content }]);
        let random = rand::thread_rng().gen();
        self.push_message(
            NewMessage {
                from: operator.to_string(),
                random,
                time,
                body,
                cloud_custom_data: None,
                system: true,
            },
            true,
        );
    }

    /// The earlier message from `from` with this `random`, if sent within the duplicate window.
    pub fn duplicate_of(&self, from: &str, random: u32, now: u64) -> Option<&GroupMessage> {
        self.messages
            .iter()
            .rev()
            .map(|m| &m.msg)
            .take_while(|m| now.saturating_sub(m.time) < DUPLICATE_WINDOW_SECS)
            .find(|m| !m.system && m.from == from && m.random == random)
    }

    pub fn to_public(&self) -> Group {
        Group {
            group_id: self.id.clone(),
            group_type: self.group_type.as_str().to_string(),
            name: self.name.clone(),
            owner: self.owner.clone(),
            introduction: self.introduction.clone(),
            apply_join_option: self.apply_join_option.clone(),
            shut_up_all_member: self.shut_up_all_member,
            members: self.members.iter().map(|m| m.account.clone()).collect(),
            messages: self.messages.iter().map(|m| m.msg.clone()).collect(),
            created_at: self.created_at,
        }
    }
}

/// What a new message is made of; the seq is assigned by [`GroupRec::push_message`].
pub(super) struct NewMessage {
    pub from: String,
    pub random: u32,
    pub time: u64,
    pub body: Value,
    pub cloud_custom_data: Option<String>,
    pub system: bool,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub accounts: BTreeMap<String, Account>,
    pub groups: BTreeMap<String, GroupRec>,
    /// REST calls received per "service/command", rejected ones included.
    pub calls: HashMap<String, u64>,
    /// Admission times of the last second, per "service/command".
    pub windows: HashMap<String, VecDeque<Instant>>,
    /// Seconds added to the wall clock (see [`super::ImEmulator::advance_clock`]).
    pub clock_offset: u64,
    /// Messages stored so far, for unique `MsgId`s.
    pub msg_count: u64,
    /// Callbacks the running command fired; taken before the lock is released
    /// ([`super::Inner::fire_callbacks`]).
    pub fired: Vec<Fired>,
}

impl State {
    /// A `MsgId` no other message of the app has: a counter, the time and the Random, shaped
    /// like the documented example (§5.4).
    // UNCONFIRMED: what IM puts in a MsgId; only its uniqueness is relied on.
    pub fn new_msg_id(&mut self, time: u64, random: u32) -> String {
        self.msg_count += 1;
        format!("{}-{time}-{random}", MSG_ID_BASE + self.msg_count)
    }

    pub fn account_exists(&self, user_id: &str) -> bool {
        self.accounts.contains_key(user_id)
    }

    /// Creates the account or, for an existing one, updates only the given profile fields.
    pub fn upsert_account(&mut self, user_id: &str, nick: Option<&str>, face_url: Option<&str>) {
        let account = self
            .accounts
            .entry(user_id.to_string())
            .or_insert_with(|| Account {
                user_id: user_id.to_string(),
                nick: None,
                face_url: None,
            });
        if let Some(nick) = nick {
            account.nick = Some(nick.to_string());
        }
        if let Some(face_url) = face_url {
            account.face_url = Some(face_url.to_string());
        }
    }

    /// Admits one call to `command` unless `limit` calls were admitted in the last second.
    /// Sliding window over admitted calls only: a rejected call does not extend the lock-out.
    // UNCONFIRMED: how Tencent counts the window (fixed or sliding); a sliding one never lets
    // more than `limit` calls through in any one second, so it is at least as strict.
    pub fn admit(&mut self, command: &str, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return true;
        }
        let window = self.windows.entry(command.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }

    /// A fresh server-assigned group id (`@TGS#…`, `@TGS#_…` for Community).
    pub fn new_group_id(&self, group_type: GroupType) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let prefix = if group_type == GroupType::Community {
            "@TGS#_"
        } else {
            "@TGS#"
        };
        let mut rng = rand::thread_rng();
        loop {
            let suffix: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            let id = format!("{prefix}{suffix}");
            if !self.groups.contains_key(&id) {
                return id;
            }
        }
    }
}
