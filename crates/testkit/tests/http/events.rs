use auterity_events::EventFilter;
use auterity_testkit::{Backend, TestServer};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

pub async fn auth_changes_are_published_through_the_outbox(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut stream = server.state.events.subscribe(EventFilter::types(["user.*", "access.*", "security.*"]));
    let admin = server.admin_token().await;
    let id = server
        .create_user(&admin, "eve@example.test", "eve", json!([{"system": "neuroweaver", "level": "write"}]))
        .await;
    let (status, _) = server
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "eve@example.test", "password": "Wrong-password-1!"})),
        )
        .await;
    assert_eq!(status, 401);

    // The bootstrap administrator's events may be relayed too; keep eve's.
    let mut received = Vec::new();
    while received.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("event in time")
            .expect("stream open");
        if event.payload["user_id"] == id || event.payload["login"] == "eve@example.test" {
            received.push(event);
        }
    }
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["user.created", "access.granted", "security.authentication_failed"]);
    assert_eq!(received[0].payload["user_id"], id);
    assert_eq!(received[1].payload["system"], "neuroweaver");
    assert_eq!(received[2].payload["reason"], "wrong_password");
    assert!(received.iter().all(|e| e.source_service == "auth"));
    let cloud = received[0].to_cloudevent();
    assert_eq!(cloud["specversion"], "1.0");

    // Everything relayed is marked published; the outbox keeps it for replay by correlation id.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = server.state.store.outbox.fetch_unpublished(0, 100).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let replay = server.state.store.outbox.events_by_correlation(received[0].correlation_id, 10).await.unwrap();
    assert_eq!(replay.len(), 1);
    assert!(replay[0].published_at.is_some());
    server.finish().await;
}
