//! A sent message's tracked links and open pixel over HTTP: a good link records `Message
//! Clicked` and redirects to its signed target, the pixel records `Message Opened`; a forged,
//! altered or other workspace's token records nothing and redirects nowhere.

use crate::TestApp;
use siyu_domain::access::Principal;
use siyu_domain::access::workspaces::NewWorkspace;

/// How many events of `name` the owner's workspace holds.
async fn count(app: &TestApp, name: &str) -> usize {
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let Some(id) = index.names.names().iter().position(|n| n == name) else { return 0 };
    let id = u16::try_from(id).unwrap();
    let mut found = 0;
    index.columns.for_each_customer(0..index.columns.customer_count(), |customer| {
        found += customer.events.iter().filter(|e| **e == id).count();
    });
    found
}

async fn links_record_clicks_and_opens_and_forged_tokens_record_nothing(app: TestApp) {
    let customer = app.services.events.customers_for_user_ids(&app.owner, &["u-links".into()]).await.unwrap()[0];
    let tracking = &app.services.tracking;
    let target = "https://brand.example/spring?utm_source=siyu&x=1";
    let link = tracking.link_token(&app.owner, customer, "welcome:v1:send:1", target).await.unwrap();
    let pixel = tracking.open_token(&app.owner, customer, "welcome:v1:send:1").await.unwrap();
    let client = siyu::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let response = client.get(format!("{}/t/c/{link}", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], target);
    let response = client.get(format!("{}/t/o/{pixel}", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert_eq!(&response.bytes().await.unwrap()[..6], b"GIF89a");
    assert_eq!((count(&app, "Message Clicked").await, count(&app, "Message Opened").await), (1, 1));

    // Altered, swapped or foreign tokens: no redirect, no event; the pixel still answers an image.
    let other = app
        .services
        .access
        .create_workspace(&NewWorkspace::parse("links-other", None, None, None).unwrap())
        .await
        .unwrap();
    let foreign = tracking
        .link_token(&Principal::cli(other.id), customer, "welcome:v1:send:1", "https://evil.example/")
        .await
        .unwrap();
    let mut altered = link.clone();
    altered.insert(3, if altered.as_bytes()[3] == b'A' { 'B' } else { 'A' });
    for bad in [altered.as_str(), foreign.as_str(), pixel.as_str(), "x.y", "%2e%2e"] {
        let response = client.get(format!("{}/t/c/{bad}", app.base_url)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{bad}");
        assert!(response.headers().get("location").is_none());
    }
    for bad in [link.as_str(), foreign.as_str(), "nonsense"] {
        let response = client.get(format!("{}/t/o/{bad}", app.base_url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/gif");
    }
    assert_eq!((count(&app, "Message Clicked").await, count(&app, "Message Opened").await), (1, 1));
    // Only http and https targets become links, and only for a principal that may write.
    assert!(tracking.link_token(&app.owner, customer, "k", "javascript:alert(1)").await.is_err());
    let reader = Principal::system(app.owner.workspace_id());
    assert!(matches!(
        tracking.link_token(&reader, customer, "k", target).await,
        Err(siyu_domain::DomainError::Forbidden(_))
    ));
}

crate::both_backends!(links_record_clicks_and_opens_and_forged_tokens_record_nothing);
