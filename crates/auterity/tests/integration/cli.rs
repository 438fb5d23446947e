//! The command line: version, config show, migrate, user administration, workflows and templates.

use serde_json::Value;

use crate::process::{ADMIN_PASSWORD, Db, Instance, MASTER_KEY};

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn version_config_show_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), Db::Sqlite);
    assert!(stdout(&instance.run(&["version"])).starts_with("auterity "));

    let shown = stdout(&instance.run(&["config", "show", "--listen", "127.0.0.1:9999"]));
    assert!(shown.contains("listen = \"127.0.0.1:9999\""), "flags win: {shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains(ADMIN_PASSWORD) && !shown.contains(MASTER_KEY), "secrets leak: {shown}");

    let invalid = instance.run(&["config", "show", "--listen", "not-an-address"]);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("server.listen"));

    assert!(stdout(&instance.run(&["migrate"])).contains("migrations applied (sqlite)"));
    assert!(dir.path().join("auterity.db").exists());
    // Idempotent.
    assert!(stdout(&instance.run(&["migrate"])).contains("migrations applied"));
}

fn user_administration(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), db);
    let created = stdout(&instance.run(&[
        "user",
        "create",
        "--email",
        "cli@example.test",
        "--username",
        "cliuser",
        "--password",
        "Tr1cky-Lantern-Orbit",
        "--role",
        "admin",
        "--grant",
        "relaycore:write",
    ]));
    let user: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(user["email"], "cli@example.test");
    assert_eq!(user["systems"][0]["level"], "write");

    let weak =
        instance.run(&["user", "create", "--email", "w@example.test", "--username", "weak", "--password", "password"]);
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("/password"), "{}", String::from_utf8_lossy(&weak.stderr));

    let granted: Value =
        serde_json::from_str(&stdout(&instance.run(&["user", "grant", "cliuser", "autmatrix:read"]))).unwrap();
    assert_eq!(granted["systems"].as_array().unwrap().len(), 2);
    let revoked: Value =
        serde_json::from_str(&stdout(&instance.run(&["user", "revoke", "cli@example.test", "relaycore"]))).unwrap();
    assert_eq!(revoked["systems"].as_array().unwrap().len(), 1);
    let listed = stdout(&instance.run(&["user", "list"]));
    assert!(listed.contains("cliuser") && listed.contains("autmatrix:read") && listed.contains("admin"), "{listed}");
    let disabled: Value = serde_json::from_str(&stdout(&instance.run(&["user", "disable", "cliuser"]))).unwrap();
    assert_eq!(disabled["is_active"], false);
    assert!(stdout(&instance.run(&["user", "list"])).contains("disabled"));

    let missing = instance.run(&["user", "grant", "nobody", "autmatrix:read"]);
    assert!(!missing.status.success());
    let bad = instance.run(&["user", "grant", "cliuser", "autmatrix:root"]);
    assert!(!bad.status.success());
}

#[test]
fn user_administration_on_sqlite() {
    user_administration(Db::Sqlite);
}

#[test]
fn user_administration_on_postgres() {
    user_administration(Db::Postgres);
}

#[test]
fn workflow_run_from_a_file_waits_and_prints_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), Db::Sqlite);
    let file = dir.path().join("greet.json");
    std::fs::write(
        &file,
        r#"{"name": "greet", "inputs": {"who": {"type": "string"}, "times": {"type": "integer"}},
            "steps": [{"id": "hello", "kind": "transform", "output": "${inputs.who} x${string(inputs.times)}"}],
            "output": "${steps.hello.output}"}"#,
    )
    .unwrap();
    let output = instance.run(&["workflow", "run", file.to_str().unwrap(), "--input", "who=Ada", "--input", "times=3"]);
    let run: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], "Ada x3");
    // By name, once stored.
    let again: Value = serde_json::from_str(&stdout(
        &instance.run(&["workflow", "run", "greet", "--input", "who=Bo", "--input", "times=1"]),
    ))
    .unwrap();
    assert_eq!(again["output"], "Bo x1");
    let missing = instance.run(&["workflow", "run", "nope"]);
    assert!(!missing.status.success());

    // Typed values (booleans, numbers, JSON) and a priority, on a flow-controlled workflow.
    let typed = dir.path().join("typed.json");
    std::fs::write(
        &typed,
        r#"{"name": "typed", "inputs": {"flag": {"type": "boolean"}, "n": {"type": "number"}, "tags": {"type": "array"}},
            "steps": [{"id": "t", "kind": "transform", "output": "${inputs.tags[1]} ${string(inputs.flag)} ${string(inputs.n)}"}],
            "output": "${steps.t.output}", "flow": {"concurrency": 1}}"#,
    )
    .unwrap();
    let output = instance.run(&[
        "workflow",
        "run",
        typed.to_str().unwrap(),
        "--input",
        "flag=true",
        "--input",
        "n=2.5",
        "--input",
        r#"tags=["a","b"]"#,
        "--priority",
        "-3",
    ]);
    let run: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "b true 2.5");
}

#[test]
fn workflow_templates_list_and_instantiate() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), Db::Sqlite);
    let listed = stdout(&instance.run(&["workflow", "templates"]));
    assert_eq!(listed.lines().count(), 6, "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("dms-inventory-sync ") && l.contains("dealership")), "{listed}");
    let clinical = stdout(&instance.run(&["workflow", "templates", "--category", "clinical"]));
    let ids: Vec<&str> = clinical.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(ids, ["clinical-session", "patient-onboarding"]);

    let created = stdout(&instance.run(&["workflow", "from-template", "dms-inventory-sync", "--name", "nightly-sync"]));
    assert!(created.contains("created workflow nightly-sync"), "{created}");
    let taken = instance.run(&["workflow", "from-template", "dms-inventory-sync", "--name", "nightly-sync"]);
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already exists"));
    let unknown = instance.run(&["workflow", "from-template", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no template"));
}

#[test]
fn workflow_variables_set_list_unset_and_read_by_runs() {
    let dir = tempfile::tempdir().unwrap();
    let instance = Instance::new(dir.path(), Db::Sqlite);
    let set = stdout(&instance.run(&["workflow", "variable", "set", "crm_url", "https://crm.example/api"]));
    assert!(set.contains("created variable crm_url"), "{set}");
    let set = stdout(&instance.run(&["workflow", "variable", "set", "quiet", r#"{"start": 21}"#]));
    assert!(set.contains("created variable quiet"), "{set}");
    let replaced = stdout(&instance.run(&["workflow", "variable", "set", "quiet", r#"{"start": 22}"#]));
    assert!(replaced.contains("replaced variable quiet"), "{replaced}");
    let bad = instance.run(&["workflow", "variable", "set", "no good", "1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/name"), "{}", String::from_utf8_lossy(&bad.stderr));

    let listed: Value = serde_json::from_str(&stdout(&instance.run(&["workflow", "variable", "list"]))).unwrap();
    assert_eq!(listed, serde_json::json!({"crm_url": "https://crm.example/api", "quiet": {"start": 22}}));

    let file = dir.path().join("env.json");
    std::fs::write(
        &file,
        r#"{"name": "env-reader", "steps": [{"id": "t", "kind": "transform", "output": "${env.crm_url} ${string(env.quiet.start)}"}],
            "output": "${steps.t.output}"}"#,
    )
    .unwrap();
    let run: Value =
        serde_json::from_str(&stdout(&instance.run(&["workflow", "run", file.to_str().unwrap()]))).unwrap();
    assert_eq!(run["output"], "https://crm.example/api 22", "{run}");

    assert!(stdout(&instance.run(&["workflow", "variable", "unset", "quiet"])).contains("deleted variable quiet"));
    let again = instance.run(&["workflow", "variable", "unset", "quiet"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no such variable"));
    let listed: Value = serde_json::from_str(&stdout(&instance.run(&["workflow", "variable", "list"]))).unwrap();
    assert_eq!(listed, serde_json::json!({"crm_url": "https://crm.example/api"}));
}
