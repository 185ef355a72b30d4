//! `GET /api/v2/tickets`: everything, by external id, page by page, and only when authenticated.

use serde_json::{json, Value};

use super::{json_of, TestZendesk, API_TOKEN};

impl TestZendesk {
    /// A ticket with this external id (or none), returning its id.
    async fn ticket_with_external_id(&self, external_id: Option<&str>) -> u64 {
        self.new_ticket(json!({"ticket": {
            "subject": "Chat", "comment": {"body": "hello"}, "external_id": external_id
        }}))
        .await
    }

    /// GETs a page link from a list response (an absolute URL on this emulator).
    async fn follow(&self, link: &Value) -> Value {
        let url = link.as_str().unwrap_or_default();
        let path = url.strip_prefix(&self.served.base_url).unwrap_or(url);
        let resp = self.get(path).await;
        assert_eq!(resp.status(), 200, "{url}");
        json_of(resp).await
    }
}

fn ids(body: &Value) -> Vec<u64> {
    body["tickets"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn lists_every_ticket_in_id_order_as_show_renders_it() {
    let zd = TestZendesk::start().await;
    let first = zd.simple_ticket().await;
    zd.ticket_with_external_id(Some("im:c2c:alice")).await;
    zd.ticket_with_external_id(None).await;
    zd.update_ticket(first, json!({"ticket": {"status": "open"}}))
        .await;

    for path in ["/api/v2/tickets", "/api/v2/tickets.json"] {
        let resp = zd.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let body = json_of(resp).await;
        assert_eq!(ids(&body), vec![1, 2, 3], "{path}");
        assert_eq!(body["count"], 3);
        assert!(body["next_page"].is_null() && body["previous_page"].is_null());
        let shown = json_of(zd.get(&format!("/api/v2/tickets/{first}.json")).await).await;
        assert_eq!(body["tickets"][0], shown["ticket"]);
        assert_eq!(body["tickets"][0]["status"], "open");
        assert_eq!(body["tickets"][1]["external_id"], "im:c2c:alice");
        assert!(body["tickets"][2]["external_id"].is_null());
    }

    let empty = TestZendesk::start().await;
    let body = json_of(empty.get("/api/v2/tickets.json").await).await;
    assert_eq!(
        body,
        json!({"tickets": [], "next_page": null, "previous_page": null, "count": 0})
    );
}

#[tokio::test]
async fn external_id_filter_returns_every_exact_match() {
    let zd = TestZendesk::start().await;
    let conv = "im:group:@TGS#2 & more";
    let a = zd.ticket_with_external_id(Some(conv)).await;
    zd.ticket_with_external_id(Some("im:group:other")).await;
    let b = zd.ticket_with_external_id(None).await;
    zd.ticket_with_external_id(Some("")).await;
    // External ids aren't unique: a second ticket gets the same one by update.
    let resp = zd
        .update_ticket(b, json!({"ticket": {"external_id": conv}}))
        .await;
    assert_eq!(resp.status(), 200);

    let hit = json_of(zd.list_tickets(&[("external_id", conv)]).await).await;
    assert_eq!(ids(&hit), vec![a, b]);
    assert_eq!(hit["count"], 2);
    assert!(hit["tickets"]
        .as_array()
        .is_some_and(|ts| ts.iter().all(|t| t["external_id"] == conv)));
    let inspected: Vec<u64> = zd
        .emu
        .tickets_with_external_id(conv)
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(inspected, vec![a, b]);

    // Exact comparison (UNCONFIRMED for tickets): other case, a prefix, padding and an unknown
    // id all miss, with an empty list rather than a 404.
    for miss in [
        "IM:GROUP:@TGS#2 & MORE",
        "im:group:",
        " im:group:other",
        "im:none",
    ] {
        let resp = zd.list_tickets(&[("external_id", miss)]).await;
        assert_eq!(resp.status(), 200, "{miss}");
        assert_eq!(
            json_of(resp).await,
            json!({"tickets": [], "next_page": null, "previous_page": null, "count": 0}),
            "{miss}"
        );
    }
    assert!(zd.emu.tickets_with_external_id("im:none").is_empty());
    // An empty value is compared like any other: only the ticket stored with "" matches.
    let blank = json_of(zd.list_tickets(&[("external_id", "")]).await).await;
    assert_eq!(ids(&blank), vec![4]);

    // Pages of a filtered list keep the filter in their links.
    let page1 = json_of(
        zd.list_tickets(&[("external_id", conv), ("per_page", "1")])
            .await,
    )
    .await;
    assert_eq!(ids(&page1), vec![a]);
    assert!(page1["next_page"]
        .as_str()
        .is_some_and(|l| l.contains("external_id=im%3Agroup%3A%40TGS%232%20%26%20more")));
    let page2 = zd.follow(&page1["next_page"]).await;
    assert_eq!(ids(&page2), vec![b]);
    assert!(page2["next_page"].is_null());
    let cursor = json_of(
        zd.list_tickets(&[("external_id", conv), ("page[size]", "1")])
            .await,
    )
    .await;
    assert_eq!(ids(&cursor), vec![a]);
    let rest = zd.follow(&cursor["links"]["next"]).await;
    assert_eq!(ids(&rest), vec![b]);
    assert_eq!(rest["meta"]["has_more"], false);
}

#[tokio::test]
async fn offset_and_cursor_pages_of_one() {
    let zd = TestZendesk::start().await;
    for _ in 0..3 {
        zd.ticket_with_external_id(None).await;
    }

    let page1 = json_of(zd.list_tickets(&[("per_page", "1")]).await).await;
    assert_eq!(ids(&page1), vec![1]);
    assert_eq!(page1["count"], 3);
    assert!(page1["previous_page"].is_null());
    assert_eq!(
        page1["next_page"],
        zd.url("/api/v2/tickets.json?page=2&per_page=1")
    );
    let page2 = zd.follow(&page1["next_page"]).await;
    assert_eq!(ids(&page2), vec![2]);
    assert_eq!(
        page2["previous_page"],
        zd.url("/api/v2/tickets.json?page=1&per_page=1")
    );
    let last = json_of(zd.list_tickets(&[("per_page", "1"), ("page", "3")]).await).await;
    assert_eq!(ids(&last), vec![3]);
    assert!(last["next_page"].is_null());
    let beyond = json_of(zd.list_tickets(&[("page", "9")]).await).await;
    assert_eq!(ids(&beyond), Vec::<u64>::new());
    let desc = json_of(zd.list_tickets(&[("sort_order", "desc")]).await).await;
    assert_eq!(ids(&desc), vec![3, 2, 1]);

    // Cursor pages: follow `links.next` until `meta.has_more` is false.
    let mut body = json_of(zd.list_tickets(&[("page[size]", "1")]).await).await;
    assert!(body.get("count").is_none() && body.get("next_page").is_none());
    let mut seen = ids(&body);
    while body["meta"]["has_more"] == true {
        assert_eq!(
            body["meta"]["after_cursor"],
            json!(seen.last().map(u64::to_string))
        );
        body = zd.follow(&body["links"]["next"]).await;
        seen.extend(ids(&body));
    }
    assert_eq!(seen, vec![1, 2, 3]);
    assert!(body["links"]["next"].is_null());
    let newest = json_of(
        zd.list_tickets(&[("page[size]", "2"), ("sort", "-id")])
            .await,
    )
    .await;
    assert_eq!(ids(&newest), vec![3, 2]);
    let older = zd.follow(&newest["links"]["next"]).await;
    assert_eq!(ids(&older), vec![1]);

    for bad in [
        &[("per_page", "0")][..],
        &[("page", "x")][..],
        &[("page[size]", "none")][..],
        &[("page[size]", "1"), ("page[after]", "not-a-cursor")][..],
        &[("page[size]", "1"), ("sort", "-created_at")][..],
        &[("sort_by", "subject")][..],
    ] {
        let resp = zd.list_tickets(bad).await;
        assert_eq!(resp.status(), 400, "{bad:?}");
        assert_eq!(
            json_of(resp).await["error"],
            "InvalidPaginationParameter",
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn page_size_is_capped_at_100() {
    let zd = TestZendesk::start().await;
    for _ in 0..101 {
        zd.ticket_with_external_id(Some("bulk")).await;
    }

    let offset = json_of(zd.list_tickets(&[("per_page", "500")]).await).await;
    assert_eq!(ids(&offset).len(), 100);
    assert_eq!(offset["count"], 101);
    assert!(offset["next_page"]
        .as_str()
        .is_some_and(|l| l.contains("page=2&per_page=100")));
    let cursor = json_of(zd.list_tickets(&[("page[size]", "100")]).await).await;
    assert_eq!(ids(&cursor).len(), 100);
    assert_eq!(cursor["meta"]["has_more"], true);
    let default = json_of(zd.list_tickets(&[("external_id", "bulk")]).await).await;
    assert_eq!(ids(&default).len(), 100);
}

#[tokio::test]
async fn listing_needs_an_agent_or_admin() {
    let zd = TestZendesk::start().await;
    zd.simple_ticket().await;
    zd.emu.seed_end_user("Eve", "eve@example.com");
    zd.emu.seed_agent("Agnes", "agnes@example.com");

    let anonymous = zd.send(zd.http.get(zd.url("/api/v2/tickets.json"))).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        json_of(anonymous).await,
        json!({"error": "Couldn't authenticate you"})
    );
    for authorization in [
        TestZendesk::basic("eve@example.com", API_TOKEN),
        TestZendesk::basic(super::ADMIN_EMAIL, "wrong"),
    ] {
        let resp = zd
            .get_as("/api/v2/tickets?external_id=x", &authorization)
            .await;
        assert_eq!(resp.status(), 401);
    }
    let agent = zd
        .get_as(
            "/api/v2/tickets",
            &TestZendesk::basic("agnes@example.com", API_TOKEN),
        )
        .await;
    assert_eq!(agent.status(), 200);
    assert_eq!(ids(&json_of(agent).await), vec![1]);
}
