//! Create User and Search Users, and a ticket for a created user.

use reqwest::header;
use serde_json::{json, Value};

use super::{assert_record_invalid, header_str, json_of, TestZendesk, ADMIN_EMAIL, API_TOKEN};

/// The ids of `body["users"]`.
fn ids(body: &Value) -> Vec<u64> {
    body["users"]
        .as_array()
        .map(|users| users.iter().filter_map(|u| u["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_user_is_201_with_location_and_the_show_user_view() {
    let zd = TestZendesk::start().await;

    let resp = zd
        .create_user(json!({"user": {
            "name": " Wei Zhang ", "email": "Wei@Example.com", "external_id": "IM:wei-1",
            "skip_verify_email": true, "some_future_field": 1
        }}))
        .await;

    assert_eq!(resp.status(), 201);
    let location = header_str(&resp, "location").unwrap_or_default();
    assert_eq!(header_str(&resp, "x-rate-limit").as_deref(), Some("700"));
    let body = json_of(resp).await;
    let u = &body["user"];
    let id = u["id"].as_u64().unwrap_or(0);
    assert_eq!(location, zd.url(&format!("/api/v2/users/{id}.json")));
    assert_eq!(u["url"], location);
    assert_eq!(u["name"], "Wei Zhang");
    assert_eq!(u["email"], "Wei@Example.com");
    assert_eq!(u["external_id"], "IM:wei-1");
    assert_eq!(u["role"], "end-user");
    assert_eq!(u["verified"], false);
    assert_eq!(u["active"], true);
    assert!(u["created_at"].is_string());

    // GET /users/{id} answers the very same user object.
    let shown = json_of(zd.get(&format!("/api/v2/users/{id}")).await).await;
    assert_eq!(&shown["user"], u);

    let stored = zd.emu.user_by_external_id("im:WEI-1");
    assert_eq!(stored.as_ref().map(|u| u.id), Some(id));
    assert_eq!(
        stored.map(|u| (u.email, u.external_id, u.role)),
        Some((
            Some("Wei@Example.com".into()),
            Some("IM:wei-1".into()),
            "end-user".into()
        ))
    );

    // Role and verification as given; email and external id are optional.
    let agent = zd
        .new_user(json!({"user": {
            "name": "Agnes", "email": "agnes@example.com", "role": "agent", "verified": true
        }}))
        .await;
    assert_eq!(zd.emu.user(agent).map(|u| u.role), Some("agent".into()));
    let me = zd
        .get_as(
            "/api/v2/users/me",
            &TestZendesk::basic("agnes@example.com", API_TOKEN),
        )
        .await;
    assert_eq!(json_of(me).await["user"]["id"], agent);
    let bare = zd.new_user(json!({"user": {"name": "Nameonly"}})).await;
    let bare = json_of(zd.get(&format!("/api/v2/users/{bare}.json")).await).await;
    assert!(bare["user"]["email"].is_null() && bare["user"]["external_id"].is_null());
    let admin = json_of(
        zd.get(&format!("/api/v2/users/{}", zd.emu.admin_id()))
            .await,
    )
    .await;
    assert!(admin["user"]["external_id"].is_null());
}

#[tokio::test]
async fn a_user_without_a_name_is_refused_on_name() {
    let zd = TestZendesk::start().await;

    for user in [
        json!({"email": "noname@example.com"}),
        json!({"name": "   ", "email": "noname@example.com"}),
        json!({"name": null, "email": "noname@example.com"}),
    ] {
        let resp = zd.create_user(json!({ "user": user })).await;
        let body = assert_record_invalid(resp, "name").await;
        assert_eq!(
            body["details"]["name"][0]["description"],
            "Name: is too short (minimum is 1 characters)"
        );
    }
    let typed = zd
        .create_user(json!({"user": {"name": 7, "email": "noname@example.com"}}))
        .await;
    let body = assert_record_invalid(typed, "name").await;
    assert_eq!(body["details"]["name"].as_array().map(Vec::len), Some(1));
    assert!(zd.emu.user_by_email("noname@example.com").is_none());
}

#[tokio::test]
async fn duplicate_email_or_external_id_is_refused_case_insensitively() {
    let zd = TestZendesk::start().await;
    zd.new_user(json!({"user": {
        "name": "Wei", "email": "wei@example.com", "external_id": "IM:Wei"
    }}))
    .await;

    let resp = zd
        .create_user(json!({"user": {"name": "Other Wei", "email": "WEI@example.COM"}}))
        .await;
    let body = assert_record_invalid(resp, "email").await;
    assert_eq!(
        body["details"]["email"][0],
        json!({
            "description": "Email: WEI@example.COM is already being used by another user",
            "error": "DuplicateValue"
        })
    );
    let resp = zd
        .create_user(json!({"user": {"name": "Admin again", "email": ADMIN_EMAIL.to_uppercase()}}))
        .await;
    assert_record_invalid(resp, "email").await;

    let resp = zd
        .create_user(json!({"user": {"name": "Other Wei", "external_id": "im:wEI"}}))
        .await;
    let body = assert_record_invalid(resp, "external_id").await;
    assert_eq!(
        body["details"]["external_id"][0],
        json!({"description": "External has already been taken", "error": "DuplicateValue"})
    );
    assert!(body["details"].get("email").is_none());

    // Both at once: one 422 naming both fields, and nothing created.
    let resp = zd
        .create_user(json!({"user": {
            "name": "Other Wei", "email": "Wei@Example.com", "external_id": "IM:WEI"
        }}))
        .await;
    let body = assert_record_invalid(resp, "email").await;
    assert!(body["details"]["external_id"].is_array());
    let found = json_of(zd.search_users(&[("query", "wei")]).await).await;
    assert_eq!(found["count"], 1);
}

#[tokio::test]
async fn bad_field_values_are_record_invalid() {
    let zd = TestZendesk::start().await;

    let cases = [
        (json!({"name": "Eve", "email": "eve@nowhere"}), "email"),
        (json!({"name": "Eve", "email": ""}), "email"),
        (json!({"name": "Eve", "email": 5}), "email"),
        (json!({"name": "Eve", "external_id": ""}), "external_id"),
        (json!({"name": "Eve", "external_id": 42}), "external_id"),
        (json!({"name": "Eve", "role": "owner"}), "role"),
        (json!({"name": "Eve", "verified": "yes"}), "verified"),
    ];
    for (user, field) in cases {
        let resp = zd.create_user(json!({ "user": user })).await;
        let body = assert_record_invalid(resp, field).await;
        assert_eq!(body["details"][field][0]["error"], "InvalidValue", "{user}");
    }
    let found = json_of(zd.search_users(&[("query", "eve")]).await).await;
    assert_eq!(found["count"], 0);
}

#[tokio::test]
async fn create_user_bodies_are_checked_like_ticket_bodies() {
    let zd = TestZendesk::start().await;
    let post = |content_type: &'static str, body: &'static str| {
        zd.send(
            zd.http
                .post(zd.url("/api/v2/users"))
                .header(header::AUTHORIZATION, TestZendesk::admin_auth())
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
        )
    };

    let valid = r#"{"user":{"name":"Wei"}}"#;
    let form = post("application/x-www-form-urlencoded", valid).await;
    assert_eq!(form.status(), 400);
    assert_eq!(json_of(form).await["error"], "UnsupportedContentType");
    let malformed = post("application/json", r#"{"user": {"name": "#).await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(json_of(malformed).await["error"], "InvalidJSON");
    let no_root = post("application/json", r#"{"name":"Wei"}"#).await;
    assert_eq!(no_root.status(), 400);
    assert_eq!(json_of(no_root).await["error"], "ParameterMissing");
    let ok = post("application/json; charset=utf-8", valid).await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn search_by_external_id_is_exact_and_case_insensitive() {
    let zd = TestZendesk::start().await;
    let wei = zd
        .new_user(json!({"user": {"name": "Wei", "external_id": "IM:Wei"}}))
        .await;
    zd.new_user(json!({"user": {"name": "Wei Two", "external_id": "IM:Wei2"}}))
        .await;

    let resp = zd.search_users(&[("external_id", "im:wEI")]).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(ids(&body), vec![wei]);
    assert_eq!(body["users"][0]["external_id"], "IM:Wei");
    assert_eq!(body["count"], 1);
    assert!(body["next_page"].is_null() && body["previous_page"].is_null());

    for miss in ["IM:We", "IM:Wei ", "*Wei*"] {
        let body = json_of(zd.search_users(&[("external_id", miss)]).await).await;
        assert_eq!(
            body,
            json!({"users": [], "next_page": null, "previous_page": null, "count": 0}),
            "{miss}"
        );
    }
}

#[tokio::test]
async fn search_by_query_matches_name_and_email_or_an_exact_email() {
    let zd = TestZendesk::start().await;
    let wei = zd
        .new_user(json!({"user": {"name": "Wei Zhang", "email": "wei@example.com"}}))
        .await;
    let lin = zd
        .new_user(json!({"user": {"name": "Lin", "email": "lin+im@example.org"}}))
        .await;

    let search = |q: &'static str| {
        let zd = &zd;
        async move { ids(&json_of(zd.search_users(&[("query", q)]).await).await) }
    };
    assert_eq!(search("zhang").await, vec![wei]);
    assert_eq!(search("EXAMPLE").await, vec![zd.emu.admin_id(), wei, lin]);
    assert_eq!(search("\"lin+im\"").await, vec![lin]);
    assert_eq!(search("email:LIN+IM@example.org").await, vec![lin]);
    assert_eq!(search("email:\"wei@example.com\"").await, vec![wei]);
    // `email:` is the whole address, not a substring.
    assert!(search("email:example.org").await.is_empty());
    assert!(search("nobody").await.is_empty());

    // Without `.json` too.
    let resp = zd
        .send(
            zd.http
                .get(zd.url("/api/v2/users/search"))
                .header(header::AUTHORIZATION, TestZendesk::admin_auth())
                .query(&[("query", "wei")]),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["count"], 1);
}

#[tokio::test]
async fn search_without_a_query_or_external_id_is_400() {
    let zd = TestZendesk::start().await;

    for params in [
        &[][..],
        &[("query", "")][..],
        &[("external_id", "")][..],
        &[("role", "agent")][..],
        &[("query", "wei"), ("external_id", "IM:Wei")][..],
    ] {
        let resp = zd.search_users(params).await;
        assert_eq!(resp.status(), 400, "{params:?}");
        assert!(header_str(&resp, "content-type").is_some_and(|c| c.contains("json")));
        let body = json_of(resp).await;
        assert!(
            body["error"].is_string() && body["description"].is_string(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn create_and_search_require_authentication() {
    let zd = TestZendesk::start().await;
    let body = json!({"user": {"name": "Wei", "email": "wei@example.com"}});

    let anonymous = zd
        .send(zd.http.post(zd.url("/api/v2/users.json")).json(&body))
        .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        json_of(anonymous).await,
        json!({"error": "Couldn't authenticate you"})
    );
    let wrong_token = zd
        .send(
            zd.http
                .post(zd.url("/api/v2/users"))
                .header(
                    header::AUTHORIZATION,
                    TestZendesk::basic(ADMIN_EMAIL, "nope"),
                )
                .json(&body),
        )
        .await;
    assert_eq!(wrong_token.status(), 401);
    assert!(zd.emu.user_by_email("wei@example.com").is_none());

    let search = zd
        .send(
            zd.http
                .get(zd.url("/api/v2/users/search"))
                .query(&[("query", "admin")]),
        )
        .await;
    assert_eq!(search.status(), 401);
    let search = zd
        .get_as(
            "/api/v2/users/search?query=admin",
            &TestZendesk::basic("admin@example.com", "nope"),
        )
        .await;
    assert_eq!(search.status(), 401);
}

#[tokio::test]
async fn a_ticket_can_be_created_for_a_created_user() {
    let zd = TestZendesk::start().await;
    let wei = zd
        .new_user(json!({"user": {"name": "Wei", "external_id": "IM:Wei"}}))
        .await;

    let ticket = zd
        .new_ticket(json!({"ticket": {
            "subject": "From IM", "comment": {"body": "Hello"}, "requester_id": wei
        }}))
        .await;

    let t = zd.emu.ticket(ticket);
    assert_eq!(t.as_ref().map(|t| t.requester_id), Some(wei));
    assert_eq!(t.as_ref().map(|t| t.submitter_id), Some(wei));
    assert_eq!(
        t.and_then(|t| t.comments.first().map(|c| c.author_id)),
        Some(wei)
    );
    let shown = json_of(zd.get(&format!("/api/v2/tickets/{ticket}")).await).await;
    assert_eq!(shown["ticket"]["requester_id"], wei);
    assert_eq!(shown["ticket"]["submitter_id"], wei);
}
