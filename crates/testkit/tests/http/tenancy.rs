//! Two organizations, each with an admin, users, teams, keys and audit entries: every read and
//! write through one organization's credentials finds nothing of the other's and changes nothing.

use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::{Value, json};

async fn token(server: &TestServer, login: &str) -> String {
    server.login(login, user_password()).await["access_token"].as_str().unwrap().to_owned()
}

pub async fn nothing_leaks_across_organizations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.admin_token().await;
    let (status, org_b) = server
        .call("POST", "/api/auth/orgs", Some(&root), Some(json!({"name": "Bravo Motors", "slug": "bravo"})))
        .await;
    assert_eq!(status, 201, "{org_b}");
    let (status, _) =
        server.call("POST", "/api/auth/orgs", Some(&root), Some(json!({"name": "Dup", "slug": "bravo"}))).await;
    assert_eq!(status, 409);

    // Org A (default) admin and org B admin.
    let (status, body) = server
        .call("POST", "/api/auth/users", Some(&root), Some(json!({"email": "a-admin@example.test", "username": "aadmin", "password": user_password(), "roles": ["admin"], "systems": [{"system": "relaycore", "level": "admin"}]})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, b_admin) = server
        .call("POST", "/api/auth/users", Some(&root), Some(json!({"email": "b-admin@example.test", "username": "badmin", "password": user_password(), "roles": ["admin"], "systems": [{"system": "relaycore", "level": "admin"}], "org_id": org_b["id"]})))
        .await;
    assert_eq!(status, 201, "{b_admin}");
    assert_eq!(b_admin["org_id"], org_b["id"]);
    let a = token(&server, "a-admin@example.test").await;
    let b = token(&server, "b-admin@example.test").await;

    // Org A's data.
    let a_user =
        server.create_user(&a, "a-user@example.test", "auser", json!([{"system": "autmatrix", "level": "read"}])).await;
    let (_, a_team) = server.call("POST", "/api/auth/teams", Some(&a), Some(json!({"name": "Rooftop North"}))).await;
    let a_team = a_team["id"].as_str().unwrap().to_owned();
    let (status, _) = server
        .call("POST", &format!("/api/auth/teams/{a_team}/members"), Some(&a), Some(json!({"user_id": a_user})))
        .await;
    assert_eq!(status, 200);
    let (_, a_key) = server
        .call(
            "POST",
            "/api/auth/api-keys",
            Some(&a),
            Some(json!({"name": "a-key", "systems": [{"system": "relaycore", "level": "read"}]})),
        )
        .await;
    let a_key_id = a_key["id"].as_str().unwrap().to_owned();
    let (status, a_provider) = server
        .call(
            "POST",
            "/api/ai/providers",
            Some(&a),
            Some(json!({"name": "a-openai", "provider_type": "openai", "endpoint_url": "https://api.openai.com/v1"})),
        )
        .await;
    assert_eq!(status, 201, "{a_provider}");
    let a_provider_id = a_provider["id"].as_str().unwrap().to_owned();

    let snapshot = |token: String| {
        let server = &server;
        async move {
            let mut state = Vec::new();
            for path in ["/api/auth/users", "/api/auth/teams", "/api/auth/api-keys", "/api/ai/providers"] {
                let (status, body) = server.call("GET", path, Some(&token), None).await;
                assert_eq!(status, 200, "{path}: {body}");
                state.push(body["items"].clone());
            }
            state
        }
    };
    let before = snapshot(a.clone()).await;

    // Org B sees none of it in listings.
    for path in ["/api/auth/users", "/api/auth/teams", "/api/auth/api-keys", "/api/ai/providers"] {
        let (status, body) = server.call("GET", path, Some(&b), None).await;
        assert_eq!(status, 200);
        let text = body.to_string();
        for secret in [
            a_user.as_str(),
            a_team.as_str(),
            a_key_id.as_str(),
            a_provider_id.as_str(),
            "a-user@example.test",
            "Rooftop North",
        ] {
            assert!(!text.contains(secret), "{path} leaks {secret}: {text}");
        }
    }
    let (_, audit) = server.call("GET", "/api/auth/audit", Some(&b), None).await;
    let audit_text = audit.to_string();
    assert!(!audit_text.contains(&a_user) && !audit_text.contains("a-key"), "audit leaks: {audit_text}");

    // …and every direct read or write of A's objects through B answers 404.
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/auth/users/{a_user}"), None),
        ("PATCH", format!("/api/auth/users/{a_user}"), Some(json!({"is_active": false}))),
        ("PUT", format!("/api/auth/users/{a_user}/access/neuroweaver"), Some(json!({"level": "admin"}))),
        ("DELETE", format!("/api/auth/users/{a_user}/access/autmatrix"), None),
        ("GET", format!("/api/auth/teams/{a_team}/members"), None),
        ("POST", format!("/api/auth/teams/{a_team}/members"), Some(json!({"user_id": a_user}))),
        ("DELETE", format!("/api/auth/teams/{a_team}/members/{a_user}"), None),
        ("DELETE", format!("/api/auth/api-keys/{a_key_id}"), None),
        ("DELETE", format!("/api/ai/providers/{a_provider_id}"), None),
    ];
    for (method, path, body) in attempts {
        let (status, response) = server.call(method, &path, Some(&b), body).await;
        assert!(
            status == 404 || status == 200 && response.as_array().is_some_and(|a| a.is_empty()),
            "{method} {path} through org B: {status} {response}"
        );
    }
    // B cannot add A's user to B's team either.
    let (_, b_team) = server.call("POST", "/api/auth/teams", Some(&b), Some(json!({"name": "Rooftop North"}))).await;
    let (status, _) = server
        .call(
            "POST",
            &format!("/api/auth/teams/{}/members", b_team["id"].as_str().unwrap()),
            Some(&b),
            Some(json!({"user_id": a_user})),
        )
        .await;
    assert_eq!(status, 404);
    // Org admins cannot manage organizations.
    let (status, _) = server.call("GET", "/api/auth/orgs", Some(&b), None).await;
    assert_eq!(status, 403);
    // …nor create users in another organization.
    let (_, a_me) = server.call("GET", "/api/auth/me", Some(&a), None).await;
    let (status, body) = server
        .call("POST", "/api/auth/users", Some(&b), Some(json!({"email": "x@example.test", "username": "xx", "password": user_password(), "org_id": a_me["org_id"]})))
        .await;
    assert_eq!(status, 403, "{body}");

    // A's data is unchanged.
    let after = snapshot(a.clone()).await;
    assert_eq!(before, after);
    server.finish().await;
}
