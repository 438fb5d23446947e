use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::json;

use super::assert_problem;

pub async fn users_access_grants_and_audit_log(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let id =
        server.create_user(&admin, "lee@example.test", "lee", json!([{"system": "autmatrix", "level": "read"}])).await;
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(&admin),
            Some(json!({"email": "LEE@example.test", "username": "other", "password": user_password()})),
        )
        .await;
    assert_problem(status, &body, 409);
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/users",
            Some(&admin),
            Some(json!({"email": "x@example.test", "username": "LEE", "password": user_password()})),
        )
        .await;
    assert_problem(status, &body, 409);

    let lee = server.login("lee@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (_, me) = server.call("GET", "/api/auth/me", Some(&lee), None).await;
    assert_eq!(me["permissions"], json!(["autmatrix:read"]));

    let (status, user) = server
        .call("PUT", &format!("/api/auth/users/{id}/access/relaycore"), Some(&admin), Some(json!({"level": "write"})))
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["systems"].as_array().unwrap().len(), 2);
    // Upgrading an existing grant replaces it.
    let (_, user) = server
        .call("PUT", &format!("/api/auth/users/{id}/access/autmatrix"), Some(&admin), Some(json!({"level": "admin"})))
        .await;
    let autmatrix = user["systems"].as_array().unwrap().iter().find(|g| g["system"] == "autmatrix").unwrap().clone();
    assert_eq!(autmatrix["level"], "admin");
    let lee = server.login("lee@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (_, me) = server.call("GET", "/api/auth/me", Some(&lee), None).await;
    assert!(me["permissions"].as_array().unwrap().contains(&json!("relaycore:write")));

    // Revoking ends the sessions that carried the grant.
    let (status, _) =
        server.call("DELETE", &format!("/api/auth/users/{id}/access/relaycore"), Some(&admin), None).await;
    assert_eq!(status, 200);
    let (status, _) = server.call("GET", "/api/auth/me", Some(&lee), None).await;
    assert_eq!(status, 401);
    let (status, _) =
        server.call("DELETE", &format!("/api/auth/users/{id}/access/relaycore"), Some(&admin), None).await;
    assert_eq!(status, 404);

    // Roles: unknown roles are refused; only a superadmin grants superadmin.
    let (status, body) =
        server.call("PATCH", &format!("/api/auth/users/{id}"), Some(&admin), Some(json!({"roles": ["wizard"]}))).await;
    assert_problem(status, &body, 422);
    let (status, _) =
        server.call("PATCH", &format!("/api/auth/users/{id}"), Some(&admin), Some(json!({"roles": ["admin"]}))).await;
    assert_eq!(status, 200);
    let lee = server.login("lee@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (status, body) = server
        .call("PATCH", &format!("/api/auth/users/{id}"), Some(&lee), Some(json!({"roles": ["superadmin"]})))
        .await;
    assert_problem(status, &body, 403);

    // Pagination walks every user once.
    for i in 0..5 {
        server.create_user(&admin, &format!("page{i}@example.test"), &format!("page{i}"), json!([])).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/api/auth/users?limit=3&after={cursor}"),
            None => "/api/auth/users?limit=3".to_owned(),
        };
        let (status, page) = server.call("GET", &path, Some(&admin), None).await;
        assert_eq!(status, 200);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (7, 7));

    // The audit log saw it all, newest first.
    let (status, audit) = server.call("GET", "/api/auth/audit?limit=200", Some(&admin), None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in ["user.created", "access.granted", "access.revoked", "login", "user.updated"] {
        assert!(actions.contains(&expected), "missing {expected} in {actions:?}");
    }
    let times: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["created_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Members cannot read it.
    server.create_user(&admin, "member@example.test", "member1", json!([])).await;
    let member =
        server.login("member@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server.call("GET", "/api/auth/audit", Some(&member), None).await;
    assert_eq!(status, 403);
    server.finish().await;
}

pub async fn self_signup_is_off_by_default_and_policy_is_enforced(backend: Backend) {
    let server = TestServer::start(backend).await;
    let request = json!({"email": "new@example.test", "username": "newbie", "password": user_password()});
    let (status, body) = server.call("POST", "/api/auth/register", None, Some(request.clone())).await;
    assert_problem(status, &body, 403);
    server.finish().await;

    let server = TestServer::start_with(backend, |c| c.auth.self_signup = true).await;
    for (password, why) in [
        ("Sh0rt!", "too short"),
        ("alllowercase-but-long", "composition"),
        ("Password1234!", "common password"),
        ("Newbie-Newbie-123", "similar to the username"),
        (&"Aa1!".repeat(40)[..], "too long"),
    ] {
        let (status, body) = server
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(json!({"email": "new@example.test", "username": "newbie", "password": password})),
            )
            .await;
        assert_problem(status, &body, 422);
        assert_eq!(body["errors"][0]["pointer"], "/password", "{why}: {body}");
    }
    let (status, body) = server.call("POST", "/api/auth/register", None, Some(request)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["roles"], json!(["member"]));
    assert_eq!(body["systems"], json!([]));
    server.login("new@example.test", user_password()).await;
    server.finish().await;

    // With the composition rule switched off, a long lowercase passphrase is fine.
    let server = TestServer::start_with(backend, |c| {
        c.auth.self_signup = true;
        c.auth.password_composition = false;
    })
    .await;
    let (status, body) = server
        .call("POST", "/api/auth/register", None, Some(json!({"email": "p@example.test", "username": "phrase", "password": "lanterns drift over quiet harbors"})))
        .await;
    assert_eq!(status, 201, "{body}");
    server.finish().await;
}

pub async fn forwarded_for_is_trusted_only_from_configured_proxies() {
    for (trusted, expected_ip) in [(true, "203.0.113.9"), (false, "127.0.0.1")] {
        let server = TestServer::start_with(Backend::Sqlite, |c| {
            if trusted {
                c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let response = server
            .client
            .post(server.url("/api/auth/login"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .json(&json!({"email": "admin@example.test", "password": "Wrong-password-1!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let admin = server.admin_token().await;
        let (_, audit) = server.call("GET", "/api/auth/audit?action=login_failed", Some(&admin), None).await;
        assert_eq!(audit["items"][0]["ip"], expected_ip, "{audit}");
        server.finish().await;
    }
}
