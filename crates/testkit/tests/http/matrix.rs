//! The authorization matrix: every route in the served OpenAPI document, called by every kind of
//! caller, answers 401/403/other exactly as the route's declared requirement says.

use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::{Value, json};

struct Persona {
    name: String,
    login: Option<String>,
    systems: Vec<(String, String)>,
    roles: Vec<String>,
}

fn level_rank(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

fn admits(requirement: &str, persona: &Persona) -> bool {
    match requirement {
        "public" => true,
        "authenticated" => persona.login.is_some(),
        "role:admin" => persona.roles.iter().any(|r| r == "admin" || r == "superadmin"),
        "role:superadmin" => persona.roles.iter().any(|r| r == "superadmin"),
        other => {
            let (system, level) = other.split_once(':').expect("system:level");
            persona.systems.iter().any(|(s, l)| s == system && level_rank(l) >= level_rank(level))
        }
    }
}

pub async fn every_route_enforces_its_declared_access(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;
    let mut personas = vec![
        Persona { name: "anonymous".into(), login: None, systems: vec![], roles: vec![] },
        Persona {
            name: "superadmin".into(),
            login: Some("admin@example.test".into()),
            systems: vec![],
            roles: vec!["superadmin".into()],
        },
    ];
    let mut n = 0;
    for system in ["autmatrix", "relaycore", "neuroweaver"] {
        for level in ["read", "write", "admin"] {
            n += 1;
            let email = format!("p{n}@example.test");
            server
                .create_user(&admin, &email, &format!("persona{n}"), json!([{"system": system, "level": level}]))
                .await;
            personas.push(Persona {
                name: format!("{system}:{level}"),
                login: Some(email),
                systems: vec![(system.into(), level.into())],
                roles: vec!["member".into()],
            });
        }
    }
    let (status, body) = server
        .call("POST", "/api/auth/users", Some(&admin), Some(json!({"email": "oa@example.test", "username": "orgadmin", "password": user_password(), "roles": ["admin"]})))
        .await;
    assert_eq!(status, 201, "{body}");
    personas.push(Persona {
        name: "org admin".into(),
        login: Some("oa@example.test".into()),
        systems: vec![],
        roles: vec!["admin".into()],
    });
    personas[1].systems =
        ["autmatrix", "relaycore", "neuroweaver"].iter().map(|s| (s.to_string(), "admin".to_string())).collect();

    let (_, doc) = server.call("GET", "/api/openapi.json", None, None).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let requirement =
                op["x-required-access"].as_str().unwrap_or_else(|| panic!("{method} {path}: no declared access"));
            let concrete = path
                .replace("{id}", &uuid::Uuid::now_v7().to_string())
                .replace("{user_id}", &uuid::Uuid::now_v7().to_string())
                .replace("{system}", "relaycore");
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({}));
            for persona in &personas {
                let token = match &persona.login {
                    Some(login) => {
                        let password = if login == "admin@example.test" {
                            auterity_testkit::ADMIN_PASSWORD
                        } else {
                            user_password()
                        };
                        Some(server.login(login, password).await["access_token"].as_str().unwrap().to_owned())
                    }
                    None => None,
                };
                let (status, response) =
                    server.call(&method.to_uppercase(), &concrete, token.as_deref(), body.clone()).await;
                let expectation = if admits(requirement, persona) {
                    !matches!(status, 401 | 403) && status < 500
                } else if persona.login.is_none() {
                    status == 401
                } else {
                    status == 403
                };
                assert!(
                    expectation,
                    "{} {concrete} (requires {requirement}) as {}: got {status} {response}",
                    method.to_uppercase(),
                    persona.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "matrix too small: {checked}");
    let _: Value = Value::Null;
    server.finish().await;
}
