//! Issue 16, amplification: an incident's detail no longer lists every alert
//! id of the incident (one unbounded answer for an incident absorbing a
//! flood). It carries the first 100 with a cursor, and
//! `GET /api/v1/incidents/{id}/alerts` pages them all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp};

const ALERTS: usize = 130;

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn ids(values: &Value, field: &str) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|value| match field {
            "" => value.as_str().unwrap().to_owned(),
            field => value[field].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn an_incident_of_more_alerts_than_its_detail_carries_pages_them_all() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let stranger = app.create_tenant("stranger").await;
    app.lift_rate_limit(&tenant).await;
    let token = app.token(Role::Viewer, &[tenant.id]);

    // One problem reported 130 times (each a new occurrence: its own
    // occurred_at), all correlated into one incident.
    let now = chrono::Utc::now();
    let alerts: Vec<Value> = (0..ALERTS)
        .map(|n| {
            let mut alert = generic_alert("web01");
            let at = now - chrono::Duration::seconds(i64::try_from(ALERTS - n).unwrap());
            alert["occurred_at"] = json!(at.to_rfc3339());
            alert
        })
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", &tenant.api_key)
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let list = app
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &token,
            |page| {
                page["items"]
                    .as_array()
                    .unwrap()
                    .first()
                    .is_some_and(|incident| incident["alert_count"] == ALERTS)
            },
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let incident = list["items"][0]["id"].as_str().unwrap().to_owned();

    // The detail: the first 100 ids, the count, and where the rest start.
    let (status, detail) = get(&app, &format!("/api/v1/incidents/{incident}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(detail["alert_count"], ALERTS);
    let first = ids(&detail["alert_ids"], "");
    assert_eq!(first.len(), 100);
    let cursor = detail["alert_ids_next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(detail["resolved_alert_ids"], json!([]));
    assert_eq!(detail["resolved_alert_ids_next_cursor"], Value::Null);

    // Everything in one page, in attach order: the detail's ids come first.
    let alerts_of = format!("/api/v1/incidents/{incident}/alerts");
    let (status, all) = get(&app, &format!("{alerts_of}?limit=500"), &token).await;
    assert_eq!(status, 200);
    let every = ids(&all["items"], "alert_id");
    assert_eq!(every.len(), ALERTS);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(every[..100], first[..]);
    assert_eq!(ids(&all["items"], "id"), every);
    assert!(all["items"][0]["attached_at"].is_string());
    assert_eq!(all["items"][0]["resolved_at"], Value::Null);
    let mut distinct = every.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ALERTS);

    // The rest, from the detail's cursor, in pages of 20.
    let (_, page) = get(
        &app,
        &format!("{alerts_of}?cursor={cursor}&limit=20"),
        &token,
    )
    .await;
    let mut rest = ids(&page["items"], "alert_id");
    assert_eq!(rest.len(), 20);
    let next = page["next_cursor"].as_str().unwrap();
    let (_, last) = get(&app, &format!("{alerts_of}?cursor={next}&limit=20"), &token).await;
    rest.extend(ids(&last["items"], "alert_id"));
    assert_eq!(last["next_cursor"], Value::Null);
    assert_eq!(rest[..], every[100..]);

    // Refusals: another tenant's caller, a foreign cursor, a bad filter.
    let outsider = app.token(Role::Viewer, &[stranger.id]);
    let (status, body) = get(&app, &alerts_of, &outsider).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("incident_not_found"))
    );
    let (status, body) = get(
        &app,
        &format!("{alerts_of}?resolved=true&cursor={cursor}"),
        &token,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_cursor"))
    );
    let (status, body) = get(&app, &format!("{alerts_of}?resolved=maybe"), &token).await;
    assert_eq!(
        (status, &body["error"]["details"]["field"]),
        (422, &json!("resolved"))
    );
    let (status, body) = get(&app, &format!("{alerts_of}?limit=501"), &token).await;
    assert_eq!(
        (status, &body["error"]["details"]["field"]),
        (422, &json!("limit"))
    );
    let (status, resolved) = get(&app, &format!("{alerts_of}?resolved=true"), &token).await;
    assert_eq!((status, &resolved["items"]), (200, &json!([])));
}
