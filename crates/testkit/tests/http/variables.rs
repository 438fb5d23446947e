//! Workflow variables over HTTP: an admin sets them, readers see them, runs read them as `env`
//! (step inputs, `wait_event` filters, block and run outputs), a change reaches the next step
//! that runs, and another organization neither sees nor reads them.

use auterity_testkit::{Backend, TestServer, user_password};
use serde_json::{Value, json};

use super::assert_problem;
use super::workflows::{create, finished, start};

async fn put(server: &TestServer, token: &str, name: &str, body: Value) -> (u16, Value) {
    server.call("PUT", &format!("/api/workflows/variables/{name}"), Some(token), Some(body)).await
}

fn greeter() -> Value {
    json!({
        "name": "greeter",
        "steps": [
            {"id": "hello", "kind": "transform", "output": "${env.greeting}, ${env['quiet-hours'].start}h", "next": "fan"},
            {"id": "fan", "kind": "parallel", "branches": [
                {"name": "a", "steps": [{"id": "a1", "kind": "transform", "output": "x"}], "output": "${env.greeting}"},
                {"name": "b", "steps": [{"id": "b1", "kind": "transform", "output": "${env['quiet-hours'].end}"}]}
            ]}
        ],
        "output": {"hello": "${steps.hello.output}", "count": "${size(env)}", "fan": "${steps.fan.output}"}
    })
}

pub async fn variables_are_set_listed_and_read_as_env(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin_token().await;

    // Create (201), replace (200), read back.
    let (status, created) = put(&server, &admin, "greeting", json!({"value": "Hi"})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["name"].clone(), created["value"].clone()), (json!("greeting"), json!("Hi")));
    let (status, replaced) = put(&server, &admin, "greeting", json!({"value": "Hello"})).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], created["id"]);
    let (status, _) = put(&server, &admin, "quiet-hours", json!({"value": {"start": 21, "end": 8}})).await;
    assert_eq!(status, 201);

    // Bad input: 4xx problems, nothing stored.
    let big = "x".repeat(64 * 1024 + 1);
    for (name, body) in [
        ("bad name", json!({"value": 1})),
        ("1st", json!({"value": 1})),
        ("ok", json!({})),
        ("ok", json!({"value": 1, "extra": true})),
        ("ok", json!({"value": big})),
    ] {
        let (status, problem) = put(&server, &admin, &name.replace(' ', "%20"), body).await;
        assert!(matches!(status, 400 | 422), "{name}: {status} {problem}");
        assert_problem(status, &problem, status);
    }
    let (status, listed) = server.call("GET", "/api/workflows/variables", Some(&admin), None).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["greeting", "quiet-hours"]);
    let (status, page) = server.call("GET", "/api/workflows/variables?limit=1", Some(&admin), None).await;
    assert_eq!((status, page["items"].as_array().unwrap().len()), (200, 1), "{page}");

    // Access: autmatrix read sees names and values; only admin writes.
    server
        .create_user(&admin, "var-reader@example.test", "varreader", json!([{"system": "autmatrix", "level": "read"}]))
        .await;
    server
        .create_user(&admin, "var-writer@example.test", "varwriter", json!([{"system": "autmatrix", "level": "write"}]))
        .await;
    let reader =
        server.login("var-reader@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let writer =
        server.login("var-writer@example.test", user_password()).await["access_token"].as_str().unwrap().to_owned();
    let (status, one) = server.call("GET", "/api/workflows/variables/quiet-hours", Some(&reader), None).await;
    assert_eq!((status, one["value"].clone()), (200, json!({"start": 21, "end": 8})), "{one}");
    let (status, problem) = put(&server, &writer, "greeting", json!({"value": "pwned"})).await;
    assert_problem(status, &problem, 403);
    let (status, _) = server.call("DELETE", "/api/workflows/variables/greeting", Some(&writer), None).await;
    assert_eq!(status, 403);

    // Runs read them: steps, a parallel block's branches, the run's output.
    let workflow = create(&server, &admin, greeter()).await;
    let run = start(&server, &admin, &workflow, json!({})).await;
    let done = finished(&server, &admin, &run).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["hello"], "Hello, 21h", "{done}");
    assert_eq!(done["output"]["count"], 2);
    assert_eq!(done["output"]["fan"], json!({"a": "Hello", "b": 8}), "{done}");

    // A change reaches the next run; a deleted variable fails the step that reads it.
    let (status, _) = put(&server, &admin, "greeting", json!({"value": "Howdy"})).await;
    assert_eq!(status, 200);
    let run = start(&server, &admin, &workflow, json!({})).await;
    assert_eq!(finished(&server, &admin, &run).await["output"]["hello"], "Howdy, 21h");
    let (status, _) = server.call("DELETE", "/api/workflows/variables/greeting", Some(&admin), None).await;
    assert_eq!(status, 204);
    let (status, problem) = server.call("DELETE", "/api/workflows/variables/greeting", Some(&admin), None).await;
    assert_problem(status, &problem, 404);
    let (status, problem) = server.call("GET", "/api/workflows/variables/greeting", Some(&admin), None).await;
    assert_problem(status, &problem, 404);
    let run = start(&server, &admin, &workflow, json!({})).await;
    let failed = finished(&server, &admin, &run).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["error"]["class"], "expression", "{failed}");
    assert!(failed["error"]["error"]["message"].as_str().unwrap().contains("greeting"), "{failed}");

    // A wait_event filter reads env too.
    let (status, _) = put(&server, &admin, "rooftop", json!({"value": "north"})).await;
    assert_eq!(status, 201);
    let waiter = create(
        &server,
        &admin,
        json!({"name": "rooftop-waiter", "steps": [{"id": "wait", "kind": "wait_event", "event_type": "lead.routed",
            "filter": "event.payload.rooftop == env.rooftop", "timeout": "30s"}],
            "output": "${steps.wait.output.payload.lead}"}),
    )
    .await;
    let run = start(&server, &admin, &waiter, json!({})).await;
    super::steps::waiting_at(&server, &admin, &run, "wait").await;
    let send = |rooftop: &str, lead: &str| {
        let body = json!({"type": "lead.routed", "data": {"rooftop": rooftop, "lead": lead}});
        let (server, admin, run) = (&server, &admin, &run);
        async move { server.call("POST", &format!("/api/workflows/runs/{run}/events"), Some(admin), Some(body)).await }
    };
    let (status, body) = send("south", "L1").await;
    assert_eq!((status, body["delivered_to"].clone()), (200, json!([])), "{body}");
    let (status, body) = send("north", "L2").await;
    assert_eq!((status, body["delivered_to"].clone()), (200, json!(["wait"])), "{body}");
    assert_eq!(finished(&server, &admin, &run).await["output"], "L2");

    // The audit log records who changed what.
    let (_, audit) = server.call("GET", "/api/auth/audit?limit=200", Some(&admin), None).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["variable.created", "variable.updated", "variable.deleted"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }

    // Another organization sees none of them, and its runs read its own.
    let b = super::second_org_admin(&server, &admin).await;
    let (_, b_list) = server.call("GET", "/api/workflows/variables", Some(&b), None).await;
    assert_eq!(b_list["items"], json!([]), "{b_list}");
    let (status, _) = server.call("GET", "/api/workflows/variables/rooftop", Some(&b), None).await;
    assert_eq!(status, 404);
    let (status, _) = put(&server, &b, "greeting", json!({"value": "Moin"})).await;
    assert_eq!(status, 201);
    let (status, _) = put(&server, &b, "quiet-hours", json!({"value": {"start": 22, "end": 7}})).await;
    assert_eq!(status, 201);
    let b_workflow = create(&server, &b, greeter()).await;
    let run = start(&server, &b, &b_workflow, json!({})).await;
    let done = finished(&server, &b, &run).await;
    assert_eq!(done["output"]["hello"], "Moin, 22h", "{done}");
    assert_eq!(done["output"]["count"], 2, "org A's rooftop stays in org A");
    server.finish().await;
}
