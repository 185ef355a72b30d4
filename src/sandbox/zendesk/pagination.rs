//! Offset and cursor pagination of the list endpoints (spec §3.4), shared by List Comments and
//! List Tickets: offset pagination by default (`page`, `per_page`, `sort_order`), cursor
//! pagination when `page[size]` is given (`page[after]`, `sort`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::errors::ApiError;

/// "Returns a maximum of 100 records per page" (OAS List Comments; Zendesk's List Tickets page).
const MAX_PAGE: usize = 100;

/// How one list endpoint pages its records.
pub(super) struct Listing<'a> {
    /// The response key of the records (`comments`, `tickets`).
    pub key: &'static str,
    /// The endpoint's absolute URL (`.../comments.json`), the base of the page links.
    pub path: &'a str,
    /// Query parameters every page link carries, already encoded, each as `&name=value`
    /// (e.g. a List Tickets `external_id` filter); empty for none.
    pub carry: &'a str,
    /// The `sort` values cursor pagination accepts, each with whether it sorts descending.
    /// The first one is the default.
    pub cursor_sorts: &'a [(&'static str, bool)],
}

/// One page of `items` (which must be in ascending id order) as the endpoint's response body.
/// `id` gives a record's id, `render` its JSON.
pub(super) fn page<T>(
    listing: &Listing<'_>,
    items: &[T],
    query: &HashMap<String, String>,
    id: impl Fn(&T) -> u64,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    if query.contains_key("page[size]") {
        cursor_page(listing, items, query, id, render)
    } else {
        offset_page(listing, items, query, render)
    }
}

fn page_size(raw: Option<&String>, name: &str) -> Result<usize, ApiError> {
    match raw {
        None => Ok(MAX_PAGE),
        Some(v) => match v.parse::<usize>() {
            // UNCONFIRMED: sizes over 100 are clamped, not refused.
            Ok(n) if n >= 1 => Ok(n.min(MAX_PAGE)),
            // UNCONFIRMED: the error for a non-numeric or zero page size.
            _ => Err(invalid_parameter(format!(
                "{name} must be a positive integer"
            ))),
        },
    }
}

fn invalid_parameter(description: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidPaginationParameter", description)
}

fn offset_page<T>(
    listing: &Listing<'_>,
    items: &[T],
    query: &HashMap<String, String>,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let per_page = page_size(query.get("per_page"), "per_page")?;
    let page = match query.get("page") {
        None => 1,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(|| invalid_parameter("page must be a positive integer"))?,
    };
    // "One of `asc`, `desc`. Defaults to `asc`" (OAS List Comments). UNCONFIRMED: the error
    // for another value.
    let desc = match query.get("sort_order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid_parameter("sort_order must be one of asc, desc")),
    };
    let ordered = ordered(items, desc);
    let start = (page - 1).saturating_mul(per_page);
    let records: Vec<Value> = ordered
        .iter()
        .skip(start)
        .take(per_page)
        .map(|t| render(t))
        .collect();
    let Listing { path, carry, .. } = listing;
    let link = |p: usize| {
        let order = if desc { "&sort_order=desc" } else { "" };
        json!(format!("{path}?page={p}&per_page={per_page}{order}{carry}"))
    };
    let next = if start.saturating_add(per_page) < ordered.len() {
        link(page + 1)
    } else {
        Value::Null
    };
    let prev = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    Ok(json!({
        listing.key: records,
        "next_page": next,
        "previous_page": prev,
        "count": items.len()
    }))
}

/// Cursor pagination only (`page[size]`, `page[after]`, `sort`): for endpoints without offset
/// pages. Without `page[size]` a page holds the maximum.
pub(super) fn cursor_page<T>(
    listing: &Listing<'_>,
    items: &[T],
    query: &HashMap<String, String>,
    id: impl Fn(&T) -> u64,
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let size = page_size(query.get("page[size]"), "page[size]")?;
    let sort = query.get("sort");
    let desc = match sort {
        None => listing.cursor_sorts.first().is_some_and(|&(_, desc)| desc),
        Some(s) => match listing.cursor_sorts.iter().find(|(name, _)| name == s) {
            Some(&(_, desc)) => desc,
            // UNCONFIRMED: the error for a sort value the endpoint doesn't take.
            None => {
                let names: Vec<&str> = listing.cursor_sorts.iter().map(|(n, _)| *n).collect();
                return Err(invalid_parameter(format!(
                    "sort must be one of {}",
                    names.join(", ")
                )));
            }
        },
    };
    let ordered = ordered(items, desc);
    // Cursors are opaque to clients; here they are the id of the last record seen, and the
    // next page starts at the first record past it in the sort order, so a cursor stays
    // valid when records are added or stop matching a filter.
    let start = match query.get("page[after]") {
        None => 0,
        Some(cursor) => {
            let after: u64 = cursor
                .parse()
                .map_err(|_| invalid_parameter("page[after] is not a valid cursor"))?;
            ordered
                .iter()
                .position(|t| if desc { id(t) < after } else { id(t) > after })
                .unwrap_or(ordered.len())
        }
    };
    let records: Vec<&T> = ordered.iter().skip(start).take(size).copied().collect();
    let has_more = start + records.len() < ordered.len();
    let after = records.last().map(|t| id(t).to_string());
    let before = records.first().map(|t| id(t).to_string());
    let sort = sort.map(|s| format!("&sort={s}")).unwrap_or_default();
    let Listing { path, carry, .. } = listing;
    let next = match (&after, has_more) {
        (Some(a), true) => json!(format!(
            "{path}?page[after]={a}&page[size]={size}{sort}{carry}"
        )),
        _ => Value::Null,
    };
    Ok(json!({
        listing.key: records.iter().map(|t| render(t)).collect::<Vec<_>>(),
        "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
        "links": {"next": next, "prev": null}
    }))
}

fn ordered<T>(items: &[T], desc: bool) -> Vec<&T> {
    let mut v: Vec<&T> = items.iter().collect();
    if desc {
        v.reverse();
    }
    v
}

/// `&name=value` for [`Listing::carry`], the value percent-encoded (RFC 3986 unreserved
/// characters are kept).
pub(super) fn carry_param(name: &str, value: &str) -> String {
    let mut out = format!("&{name}=");
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORTS: &[(&str, bool)] = &[("id", false), ("-id", true)];

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn run(items: &[u64], pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
        let listing = Listing {
            key: "things",
            path: "http://h/things.json",
            carry: "&x=1",
            cursor_sorts: SORTS,
        };
        page(&listing, items, &query(pairs), |&i| i, |&i| json!(i))
    }

    #[test]
    fn offset_pages_link_to_their_neighbours_and_carry_the_filter() {
        let items = [2, 5, 9];
        let first = run(&items, &[("per_page", "2")]).unwrap_or_default();
        assert_eq!(first["things"], json!([2, 5]));
        assert_eq!(first["count"], 3);
        assert_eq!(
            first["next_page"],
            "http://h/things.json?page=2&per_page=2&x=1"
        );
        assert!(first["previous_page"].is_null());
        let second = run(&items, &[("per_page", "2"), ("page", "2")]).unwrap_or_default();
        assert_eq!(second["things"], json!([9]));
        assert!(second["next_page"].is_null());
        assert_eq!(
            second["previous_page"],
            "http://h/things.json?page=1&per_page=2&x=1"
        );
        let desc = run(&items, &[("sort_order", "desc")]).unwrap_or_default();
        assert_eq!(desc["things"], json!([9, 5, 2]));
        for bad in [
            ("per_page", "0"),
            ("per_page", "x"),
            ("page", "0"),
            ("sort_order", "down"),
        ] {
            assert!(run(&items, &[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cursors_continue_after_the_last_id_seen() {
        let items = [2, 5, 9];
        let first = run(&items, &[("page[size]", "2")]).unwrap_or_default();
        assert_eq!(first["things"], json!([2, 5]));
        assert_eq!(first["meta"]["has_more"], true);
        assert_eq!(first["meta"]["after_cursor"], "5");
        assert_eq!(
            first["links"]["next"],
            "http://h/things.json?page[after]=5&page[size]=2&x=1"
        );
        let rest = run(&items, &[("page[size]", "2"), ("page[after]", "5")]).unwrap_or_default();
        assert_eq!(rest["things"], json!([9]));
        assert_eq!(rest["meta"]["has_more"], false);
        assert!(rest["links"]["next"].is_null());
        // A cursor whose record is gone still continues where it was.
        let gap = run(&items, &[("page[size]", "2"), ("page[after]", "3")]).unwrap_or_default();
        assert_eq!(gap["things"], json!([5, 9]));
        let desc = run(
            &items,
            &[("page[size]", "1"), ("sort", "-id"), ("page[after]", "9")],
        )
        .unwrap_or_default();
        assert_eq!(desc["things"], json!([5]));
        assert!(desc["links"]["next"]
            .as_str()
            .is_some_and(|l| l.contains("&sort=-id")));
        let past_end =
            run(&items, &[("page[size]", "2"), ("page[after]", "9")]).unwrap_or_default();
        assert_eq!(past_end["things"], json!([]));
        assert!(past_end["meta"]["after_cursor"].is_null());
        for bad in [
            ("sort", "status"),
            ("page[after]", "abc"),
            ("page[size]", "-1"),
        ] {
            assert!(run(&items, &[("page[size]", "1"), bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn carried_values_are_percent_encoded() {
        assert_eq!(
            carry_param("external_id", "a-b_c.d~9"),
            "&external_id=a-b_c.d~9"
        );
        assert_eq!(
            carry_param("external_id", "im:7 &x=é"),
            "&external_id=im%3A7%20%26x%3D%C3%A9"
        );
    }
}
