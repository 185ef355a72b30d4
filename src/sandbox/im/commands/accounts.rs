//! Accounts and profiles: `im_open_login_svc/account_import`, `multiaccount_import`,
//! `account_check` and `profile/portrait_set` (specs/tencent-im.md §3.11, §3.12).

use serde_json::{json, Map, Value};

use super::{Ctx, Output};
use crate::sandbox::im::errors::{code, ImError};
use crate::sandbox::im::fields::{check_len, is_valid_user_id, Fields};
use crate::sandbox::im::state::State;

/// Longest profile value (Nick, FaceUrl, any tag): 40601 beyond it.
const MAX_PROFILE_VALUE: usize = 500;
/// Accounts per `multiaccount_import` / `account_check` request.
const MAX_BATCH: usize = 100;
/// "Invalid batch count" of the account service.
const BAD_BATCH_COUNT: u32 = 70206;

fn profile_value<'a>(f: &Fields<'a>, key: &str) -> Result<Option<&'a str>, ImError> {
    let value = f.str_opt(key)?;
    if let Some(v) = value {
        check_len(v, key, MAX_PROFILE_VALUE)
            .map_err(|info| ImError::new(code::PROFILE_VALUE_TOO_LONG, info))?;
    }
    Ok(value)
}

fn invalid_user_id(f: &Fields<'_>, key: &str) -> ImError {
    f.invalid(format!("{key} must be 1-32 bytes of printable ASCII"))
}

/// `{UserID, Nick?, FaceUrl?}`: idempotent; a re-import changes only the fields it carries.
pub(super) fn account_import(
    state: &mut State,
    _ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::ACCOUNT_BAD_PARAMS);
    let user_id = f.str_req("UserID")?;
    if !is_valid_user_id(user_id) {
        return Err(invalid_user_id(&f, "UserID"));
    }
    let nick = profile_value(&f, "Nick")?;
    let face_url = profile_value(&f, "FaceUrl")?;
    state.upsert_account(user_id, nick, face_url);
    Ok(Map::new())
}

/// Old form `{Accounts:[UserID]}` or new form `{AccountList:[{UserID, Nick?, FaceUrl?}]}`;
/// invalid accounts are listed in `FailAccounts`, the others imported.
pub(super) fn multiaccount_import(
    state: &mut State,
    _ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::ACCOUNT_BAD_PARAMS);
    let entries: Vec<(&str, Option<&str>, Option<&str>)> =
        match (f.strings_opt("Accounts")?, f.array_opt("AccountList")?) {
            (Some(accounts), None) => accounts.into_iter().map(|a| (a, None, None)).collect(),
            (None, Some(list)) => list
                .iter()
                .map(|item| {
                    let obj = item
                        .as_object()
                        .ok_or_else(|| f.invalid("every AccountList item must be an object"))?;
                    let item = Fields::new(obj, code::ACCOUNT_BAD_PARAMS);
                    Ok((
                        item.str_req("UserID")?,
                        profile_value(&item, "Nick")?,
                        profile_value(&item, "FaceUrl")?,
                    ))
                })
                .collect::<Result<_, ImError>>()?,
            (Some(_), Some(_)) => return Err(f.invalid("give either Accounts or AccountList")),
            (None, None) => return Err(f.invalid("AccountList is required")),
        };
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(ImError::new(
            BAD_BATCH_COUNT,
            format!("between 1 and {MAX_BATCH} accounts per request"),
        ));
    }
    let mut failed = Vec::new();
    for (user_id, nick, face_url) in entries {
        if is_valid_user_id(user_id) {
            state.upsert_account(user_id, nick, face_url);
        } else {
            failed.push(user_id);
        }
    }
    let mut out = Map::new();
    out.insert("FailAccounts".into(), json!(failed));
    Ok(out)
}

/// `{CheckItem:[{UserID}]}` → `ResultItem:[{UserID, ResultCode, ResultInfo, AccountStatus}]`.
pub(super) fn account_check(
    state: &mut State,
    _ctx: &Ctx<'_>,
    body: &Map<String, Value>,
) -> Output {
    let f = Fields::new(body, code::ACCOUNT_BAD_PARAMS);
    let items = f.array_req("CheckItem")?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ImError::new(
            BAD_BATCH_COUNT,
            format!("CheckItem must hold between 1 and {MAX_BATCH} items"),
        ));
    }
    let results = items
        .iter()
        .map(|item| {
            let user_id = item
                .get("UserID")
                .and_then(Value::as_str)
                .ok_or_else(|| f.invalid("every CheckItem item must have a string UserID"))?;
            let status = if state.account_exists(user_id) {
                "Imported"
            } else {
                "NotImported"
            };
            Ok(json!({
                "UserID": user_id,
                "ResultCode": 0,
                "ResultInfo": "",
                "AccountStatus": status,
            }))
        })
        .collect::<Result<Vec<_>, ImError>>()?;
    let mut out = Map::new();
    out.insert("ResultItem".into(), Value::Array(results));
    Ok(out)
}

/// Standard profile tags the emulator accepts; only nick and avatar are kept.
const STANDARD_TAGS: [&str; 12] = [
    "Tag_Profile_IM_Nick",
    "Tag_Profile_IM_Image",
    "Tag_Profile_IM_Gender",
    "Tag_Profile_IM_BirthDay",
    "Tag_Profile_IM_Location",
    "Tag_Profile_IM_SelfSignature",
    "Tag_Profile_IM_AllowType",
    "Tag_Profile_IM_Language",
    "Tag_Profile_IM_MsgSettings",
    "Tag_Profile_IM_AdminForbidType",
    "Tag_Profile_IM_Level",
    "Tag_Profile_IM_Role",
];

/// `{From_Account, ProfileItem:[{Tag, Value}]}`. Custom tags (`Tag_Profile_Custom_*`) must be
/// configured in the console first; this app has none, so they are unknown tags (40009).
pub(super) fn portrait_set(state: &mut State, _ctx: &Ctx<'_>, body: &Map<String, Value>) -> Output {
    let f = Fields::new(body, code::PROFILE_BAD_PARAMS);
    let user_id = f.str_req("From_Account")?;
    let items = f.array_req("ProfileItem")?;
    if items.is_empty() {
        return Err(f.invalid("ProfileItem must not be empty"));
    }
    let mut nick = None;
    let mut image = None;
    for item in items {
        let tag = item
            .get("Tag")
            .and_then(Value::as_str)
            .ok_or_else(|| f.invalid("every ProfileItem item must have a string Tag"))?;
        if !STANDARD_TAGS.contains(&tag) {
            return Err(ImError::new(
                code::PROFILE_NO_TAG,
                format!("profile tag {tag} does not exist"),
            ));
        }
        let value = match item.get("Value") {
            Some(Value::String(s)) => {
                check_len(s, tag, MAX_PROFILE_VALUE)
                    .map_err(|info| ImError::new(code::PROFILE_VALUE_TOO_LONG, info))?;
                Some(s.as_str())
            }
            Some(Value::Number(_)) => None,
            _ => return Err(f.invalid(format!("the Value of {tag} must be a string or number"))),
        };
        match (tag, value) {
            ("Tag_Profile_IM_Nick", Some(v)) => nick = Some(v),
            ("Tag_Profile_IM_Image", Some(v)) => image = Some(v),
            ("Tag_Profile_IM_Nick" | "Tag_Profile_IM_Image", None) => {
                return Err(f.invalid(format!("the Value of {tag} must be a string")))
            }
            _ => {}
        }
    }
    if !state.account_exists(user_id) {
        return Err(ImError::new(
            code::PROFILE_NO_ACCOUNT,
            format!("account {user_id} does not exist"),
        ));
    }
    state.upsert_account(user_id, nick, image);
    let mut out = Map::new();
    out.insert("ErrorDisplay".into(), "".into());
    Ok(out)
}
