//! The template library over HTTP: listing, reading and instantiating templates, and one run of
//! each template against local fake endpoints (CRM, DMS, listing site, reviews API, clinical and
//! EHR services, webhooks) and a fake AI server speaking OpenAI's `/v1/chat/completions`.

use auterity_testkit::{Backend, TestServer};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::assert_problem;
use super::workflows::finished;

/// One request a fake endpoint received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

type Responder = Arc<dyn Fn(&Received) -> (u16, Value) + Send + Sync>;

/// A local HTTP endpoint that records every request and answers through `responder`, after
/// `delay` (to observe concurrency).
#[derive(Clone)]
pub struct Fake {
    received: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    responder: Responder,
    delay: Duration,
}

impl Fake {
    pub async fn start(
        delay: Duration,
        responder: impl Fn(&Received) -> (u16, Value) + Send + Sync + 'static,
    ) -> (Self, String) {
        let fake = Fake {
            received: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            responder: Arc::new(responder),
            delay,
        };
        let app = Router::new().fallback(any(answer)).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, format!("http://{address}"))
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn to(&self, method: &str, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.method == method && r.path == path).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let received = Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    fake.received.lock().unwrap().push(received.clone());
    tokio::time::sleep(fake.delay).await;
    let (status, body) = (fake.responder)(&received);
    fake.in_flight.fetch_sub(1, Ordering::SeqCst);
    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
}

/// A fake OpenAI-compatible server: `POST /v1/chat/completions` answers `content` (serialized
/// JSON) as the assistant message, in the real wire format.
pub async fn fake_ai(content: Value) -> (Fake, String) {
    Fake::start(Duration::ZERO, move |request| {
        if request.method != "POST" || request.path != "/v1/chat/completions" {
            return (404, json!({"error": {"message": "not found", "type": "invalid_request_error"}}));
        }
        (
            200,
            json!({
                "id": "chatcmpl-test-1",
                "object": "chat.completion",
                "created": 1_765_000_000,
                "model": request.body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()},
                             "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 182, "completion_tokens": 41, "total_tokens": 223}
            }),
        )
    })
    .await
}

/// Points `ai` steps at a fake OpenAI-compatible server (`[workflows.ai] base_url`, from the
/// step kinds branch). Sections holding secrets are copied back: they serialize redacted.
fn with_ai_endpoint(config: &mut auterity_config::Config, base_url: &str) {
    config.workflows.ai =
        Some(auterity_config::AiEndpointConfig { base_url: format!("{base_url}/v1"), api_key: None, model: None });
}

async fn instantiate(server: &TestServer, token: &str, template: &str, name: Option<&str>) -> Value {
    let body = name.map(|name| json!({"name": name}));
    let (status, workflow) =
        server.call("POST", &format!("/api/workflows/templates/{template}/instantiate"), Some(token), body).await;
    assert_eq!(status, 201, "{workflow}");
    workflow
}

async fn start(server: &TestServer, token: &str, workflow: &Value, inputs: Value) -> String {
    let id = workflow["id"].as_str().unwrap();
    let (status, body) =
        server.call("POST", &format!("/api/workflows/{id}/runs"), Some(token), Some(json!({"inputs": inputs}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Polls the run until its step `key` is `waiting` (for an event or a decision).
async fn until_waiting(server: &TestServer, token: &str, run: &str, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server.call("GET", &format!("/api/workflows/runs/{run}"), Some(token), None).await;
        let waiting = body["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|s| s["key"] == key && s["status"] == "waiting"));
        if waiting {
            return;
        }
        assert!(!matches!(body["status"].as_str(), Some("completed" | "failed" | "cancelled")), "run ended: {body}");
        assert!(Instant::now() < deadline, "step {key} never waited: {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn send_event(server: &TestServer, token: &str, run: &str, event_type: &str, data: Value) -> Value {
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{run}/events"),
            Some(token),
            Some(json!({"type": event_type, "data": data})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn template_library_lists_instantiates_and_validates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;

    // Paginated by id, filtered by category.
    let (status, first) = server.call("GET", "/api/workflows/templates?limit=4", Some(&token), None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    assert!(first["items"][0].get("definition").is_none(), "the list leaves definitions out");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) =
        server.call("GET", &format!("/api/workflows/templates?limit=4&after={cursor}"), Some(&token), None).await;
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let ids: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "clinical-session",
            "dealership-lead-intake-adf",
            "dms-inventory-sync",
            "patient-onboarding",
            "review-response-draft",
            "service-appointment-reminder"
        ]
    );
    let (_, clinical) = server.call("GET", "/api/workflows/templates?category=clinical", Some(&token), None).await;
    let clinical: Vec<&str> = clinical["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(clinical, ["clinical-session", "patient-onboarding"]);
    let (status, problem) = server.call("GET", "/api/workflows/templates?limit=x", Some(&token), None).await;
    assert_problem(status, &problem, 400);

    // Every template reads whole, validates, and instantiates into a stored workflow.
    for id in &ids {
        let (status, template) =
            server.call("GET", &format!("/api/workflows/templates/{id}"), Some(&token), None).await;
        assert_eq!(status, 200, "{template}");
        assert_eq!(template["definition"]["name"], id.as_str());
        let (_, report) =
            server.call("POST", "/api/workflows/validate", Some(&token), Some(template["definition"].clone())).await;
        assert_eq!(report["valid"], true, "{id}: {report}");
        let workflow = instantiate(&server, &token, id, None).await;
        assert_eq!(workflow["name"], id.as_str());
        assert_eq!(workflow["version"], 1);
        assert_eq!(workflow["definition"], template["definition"]);
        let (status, stored) = server
            .call("GET", &format!("/api/workflows/{}", workflow["id"].as_str().unwrap()), Some(&token), None)
            .await;
        assert_eq!((status, &stored["definition"]), (200, &template["definition"]));
    }
    let (status, problem) = server
        .call("POST", "/api/workflows/templates/dms-inventory-sync/instantiate", Some(&token), Some(json!({})))
        .await;
    assert_problem(status, &problem, 409);
    let renamed = instantiate(&server, &token, "dms-inventory-sync", Some("nightly-inventory")).await;
    assert_eq!(renamed["definition"]["name"], "nightly-inventory");
    let (status, problem) = server
        .call(
            "POST",
            "/api/workflows/templates/dms-inventory-sync/instantiate",
            Some(&token),
            Some(json!({"name": "no spaces allowed"})),
        )
        .await;
    assert_problem(status, &problem, 422);
    let (status, problem) = server
        .call(
            "POST",
            "/api/workflows/templates/dms-inventory-sync/instantiate",
            Some(&token),
            Some(json!({"nme": "x"})),
        )
        .await;
    assert_problem(status, &problem, 422);
    let (status, problem) = server.call("GET", "/api/workflows/templates/nope", Some(&token), None).await;
    assert_problem(status, &problem, 404);
    let (status, problem) = server.call("POST", "/api/workflows/templates/nope/instantiate", Some(&token), None).await;
    assert_problem(status, &problem, 404);
    let (_, workflows) = server.call("GET", "/api/workflows?limit=100", Some(&token), None).await;
    assert_eq!(workflows["items"].as_array().unwrap().len(), 7, "failed attempts created nothing");
    server.finish().await;
}

/// A 17-character VIN numbered `n`.
fn vin(n: u32) -> String {
    format!("2T3P1RFV5SW{n:06}")
}

pub async fn dms_inventory_sync_template_runs(backend: Backend) {
    let mut vehicles: Vec<Value> = (1..=6)
        .map(|n| {
            json!({"vin": vin(n), "stock_number": format!("T{n}"), "year": 2024, "make": "Toyota", "model": "Camry",
                   "trim": "SE", "condition": "new", "mileage": 12, "price": 28_000 + n, "photos": [format!("https://img.example/{n}.jpg")]})
        })
        .collect();
    vehicles.push(json!({"stock_number": "NOVIN", "make": "Ford"}));
    vehicles.push(json!({"vin": "SHORT", "make": "Kia"}));
    let inventory = json!({"vehicles": vehicles});
    let (dms, dms_url) = Fake::start(Duration::ZERO, move |request| {
        if request.method == "GET" && request.path == "/api/v1/inventory" {
            (200, inventory.clone())
        } else {
            (404, json!({"error": "not found"}))
        }
    })
    .await;
    // Odd VINs are new listings (201), even ones updates (200); the first PUT of VIN 3 fails once.
    let failed_once = Arc::new(Mutex::new(false));
    let (listing, listing_url) = Fake::start(Duration::from_millis(150), move |request| {
        let Some(vin) = request.path.strip_prefix("/listings/") else { return (404, json!({})) };
        if vin == self::vin(3) && !std::mem::replace(&mut *failed_once.lock().unwrap(), true) {
            return (503, json!({"error": "busy"}));
        }
        let odd = vin.chars().last().and_then(|c| c.to_digit(10)).unwrap() % 2 == 1;
        (if odd { 201 } else { 200 }, json!({"vin": vin}))
    })
    .await;

    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "dms-inventory-sync", None).await;
    // The endpoints come from the organization's variables (`env`), not the run's inputs.
    for (name, value) in [("dms_url", format!("{dms_url}/api/v1")), ("listing_url", listing_url)] {
        let path = format!("/api/workflows/variables/{name}");
        let (status, body) = server.call("PUT", &path, Some(&token), Some(json!({"value": value}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let run = start(&server, &token, &workflow, json!({"dealer_id": "austin-toyota"})).await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"fetched": 8, "synced": 6, "created": 3, "updated": 3, "skipped_without_vin": 2}));

    let reads = dms.to("GET", "/api/v1/inventory");
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].query, "dealer_id=austin-toyota");
    assert_eq!(reads[0].headers.get("accept").unwrap(), "application/json");

    let puts = listing.received();
    assert!(puts.iter().all(|r| r.method == "PUT"));
    assert_eq!(puts.len(), 7, "six listings and one retry");
    let vins: BTreeSet<String> = puts.iter().map(|r| r.path.trim_start_matches("/listings/").to_owned()).collect();
    assert_eq!(vins, (1..=6).map(vin).collect::<BTreeSet<String>>());
    let retried = listing.to("PUT", &format!("/listings/{}", vin(3)));
    assert_eq!(retried.len(), 2);
    let keys: Vec<_> = retried.iter().map(|r| r.headers.get("idempotency-key").cloned()).collect();
    assert!(keys[0].is_some() && keys[0] == keys[1], "a retry keeps its idempotency key: {keys:?}");
    let keys: BTreeSet<_> = puts.iter().map(|r| r.headers.get("idempotency-key").unwrap().clone()).collect();
    assert_eq!(keys.len(), 6, "each vehicle has its own key");
    assert_eq!(
        listing.to("PUT", &format!("/listings/{}", vin(2)))[0].body,
        json!({"vin": vin(2), "dealer_id": "austin-toyota", "stock_number": "T2", "year": 2024, "make": "Toyota",
               "model": "Camry", "trim": "SE", "condition": "new", "mileage": 12, "price": 28_002,
               "photos": ["https://img.example/2.jpg"]})
    );
    let overlap = listing.max_in_flight();
    assert!((2..=4).contains(&overlap), "foreach concurrency 4, observed {overlap}");
    server.finish().await;
}

const ADF_LEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<?ADF VERSION "1.0"?>
<adf>
  <prospect status="new">
    <id sequence="1" source="cars.example">LEAD-0042</id>
    <requestdate>2025-12-06T22:41:30-06:00</requestdate>
    <vehicle interest="buy" status="new"><year>2025</year><make>Toyota</make><model>RAV4</model><trim>XLE</trim></vehicle>
    <customer>
      <contact primarycontact="1">
        <name part="first" type="individual">Maria</name>
        <name part="last" type="individual">Lopez</name>
        <email preferredcontact="1">Maria.Lopez@Example.com</email>
        <phone type="cellphone">(512) 555-0147</phone>
      </contact>
      <comments><![CDATA[Is the RAV4 still available? I can come Saturday.]]></comments>
    </customer>
    <vendor><vendorname>Austin Toyota</vendorname></vendor>
    <provider><name part="full">Cars.example Leads</name></provider>
  </prospect>
</adf>"#;

pub async fn dealership_lead_intake_template_runs(backend: Backend) {
    let qualification = json!({"score": 82, "intent": "buy_now", "summary": "Ready to buy a RAV4 XLE this weekend."});
    let (ai, ai_url) = fake_ai(qualification.clone()).await;
    // The CRM knows maria.lopez@example.com only once a lead exists for her.
    let known = Arc::new(Mutex::new(false));
    let crm_known = known.clone();
    let (crm, crm_url) =
        Fake::start(Duration::ZERO, move |request| match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/leads/search") => {
                let matches = if *crm_known.lock().unwrap() { json!([{"id": "L-1"}]) } else { json!([]) };
                (200, json!({"matches": matches}))
            }
            ("POST", "/leads") => {
                *crm_known.lock().unwrap() = true;
                (201, json!({"id": "L-1"}))
            }
            ("PATCH", "/leads/L-1") => (200, json!({"id": "L-1"})),
            _ => (404, json!({})),
        })
        .await;
    let (sales, sales_url) = Fake::start(Duration::ZERO, |_| (202, json!({"ok": true}))).await;

    let ai_base = ai_url.clone();
    let server = TestServer::start_with(backend, move |config| with_ai_endpoint(config, &ai_base)).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "dealership-lead-intake-adf", None).await;
    // Received at 22:41:30 in Chicago, inside the 21:00–08:00 quiet hours: the follow-up moves to
    // 08:00 local (14:00Z). That instant is past, so the delay does not hold the test.
    let inputs = json!({"adf_xml": ADF_LEAD, "crm_url": crm_url, "sales_webhook": format!("{sales_url}/sales"),
                        "received_at": "2025-12-07T04:41:30Z"});
    let run = start(&server, &token, &workflow, inputs.clone()).await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    let lead = json!({"first_name": "Maria", "last_name": "Lopez", "email": "maria.lopez@example.com",
        "phone": "5125550147", "vehicles": [{"interest": "buy", "year": "2025", "make": "Toyota", "model": "RAV4"}],
        "comments": "Is the RAV4 still available? I can come Saturday.", "request_date": "2025-12-06T22:41:30-06:00",
        "vendor": "Austin Toyota", "provider": "Cars.example Leads"});
    assert_eq!(
        run["output"],
        json!({"outcome": "created", "lead": lead, "crm_lead_id": "L-1", "qualification": qualification,
               "contact_at": "2025-12-07T14:00:00Z"})
    );
    // What the fakes saw: a dedupe search, one AI call in the OpenAI wire format, the new lead, the hand-off.
    assert_eq!(
        crm.to("POST", "/leads/search")[0].body,
        json!({"email": "maria.lopez@example.com", "phone": "5125550147"})
    );
    let completions = ai.to("POST", "/v1/chat/completions");
    assert_eq!(completions.len(), 1);
    let request = &completions[0].body;
    assert_eq!(request["model"], "lead-qualifier");
    assert_eq!(request["messages"][0]["role"], "system");
    assert_eq!(request["messages"][1]["role"], "user");
    assert!(request["messages"][1]["content"].as_str().unwrap().contains("Maria Lopez"), "{request}");
    assert_eq!(request["response_format"]["type"], "json_schema", "{request}");
    let created = &crm.to("POST", "/leads")[0].body;
    assert_eq!((created["score"].as_i64(), created["intent"].as_str()), (Some(82), Some("buy_now")));
    assert_eq!(created["email"], "maria.lopez@example.com");
    let handoff = sales.to("POST", "/sales");
    assert_eq!(handoff.len(), 1);
    assert_eq!(handoff[0].body["crm_lead_id"], "L-1");
    assert_eq!(handoff[0].body["score"], 82);
    assert_eq!(handoff[0].body["contact_from"], "2025-12-07T14:00:00.000Z");

    // The same customer again: found by the search, the inquiry is added to her lead, no AI call.
    let again = start(&server, &token, &workflow, inputs).await;
    let again = finished(&server, &token, &again).await;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(again["output"]["outcome"], "duplicate");
    assert_eq!(again["output"]["crm_lead_id"], "L-1");
    let patch = crm.to("PATCH", "/leads/L-1");
    assert_eq!(patch.len(), 1);
    assert_eq!(patch[0].body["activity"], "adf_inquiry");
    assert_eq!(ai.to("POST", "/v1/chat/completions").len(), 1);
    assert_eq!(sales.received().len(), 1);

    // A lead without email or phone is dropped before the CRM.
    let anonymous = ADF_LEAD
        .replace("<email preferredcontact=\"1\">Maria.Lopez@Example.com</email>", "")
        .replace("<phone type=\"cellphone\">(512) 555-0147</phone>", "");
    let dropped = start(
        &server,
        &token,
        &workflow,
        json!({"adf_xml": anonymous, "crm_url": crm_url, "sales_webhook": format!("{sales_url}/sales")}),
    )
    .await;
    let dropped = finished(&server, &token, &dropped).await;
    assert_eq!(dropped["output"]["outcome"], "rejected", "{dropped}");
    assert_eq!(crm.to("POST", "/leads/search").len(), 2);
    server.finish().await;
}

pub async fn service_appointment_reminder_template_runs(backend: Backend) {
    let (messaging, messaging_url) = Fake::start(Duration::ZERO, |_| (200, json!({"queued": true}))).await;
    let (desk, desk_url) = Fake::start(Duration::ZERO, |_| (200, json!({"ok": true}))).await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "service-appointment-reminder", None).await;
    // The appointment is in an hour: the reminder (due 24 h before) goes out at once.
    let appointment_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let inputs = json!({"appointment_id": "APT-1", "customer_name": "Maria Lopez", "customer_phone": "+15125550147",
        "appointment_at": appointment_at, "dealership_name": "Austin Toyota", "service": "oil change",
        "messaging_webhook": format!("{messaging_url}/send"), "service_desk_webhook": format!("{desk_url}/desk")});
    let run = start(&server, &token, &workflow, inputs.clone()).await;
    until_waiting(&server, &token, &run, "await_confirmation").await;
    let reminders = messaging.to("POST", "/send");
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].body["kind"], "appointment_reminder");
    assert!(reminders[0].body["message"].as_str().unwrap().contains("oil change"));
    // Another appointment's confirmation is not this run's.
    let other = send_event(&server, &token, &run, "appointment.confirmed", json!({"appointment_id": "APT-2"})).await;
    assert_eq!(other["delivered_to"], json!([]));
    let delivered =
        send_event(&server, &token, &run, "appointment.confirmed", json!({"appointment_id": "APT-1"})).await;
    assert_eq!(delivered["delivered_to"], json!(["await_confirmation"]));
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["confirmed"], true);
    assert_eq!(run["output"]["second_reminder_sent"], false);
    let confirmations = desk.to("POST", "/desk");
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].body["appointment_id"], "APT-1");
    assert!(confirmations[0].body["confirmed_at"].is_string());

    // Nobody confirms: with the wait shortened to 1 s (a new version), the second reminder goes out.
    let mut definition = workflow["definition"].clone();
    for step in definition["steps"].as_array_mut().unwrap() {
        if step["id"] == "await_confirmation" {
            step["timeout"] = json!("1s");
        }
    }
    let id = workflow["id"].as_str().unwrap();
    let (status, updated) = server.call("PUT", &format!("/api/workflows/{id}"), Some(&token), Some(definition)).await;
    assert_eq!(status, 200, "{updated}");
    let silent = start(&server, &token, &updated, inputs).await;
    let silent = finished(&server, &token, &silent).await;
    assert_eq!(silent["status"], "completed", "{silent}");
    assert_eq!(silent["output"]["second_reminder_sent"], true);
    let kinds: Vec<Value> = messaging.to("POST", "/send").iter().map(|r| r.body["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [json!("appointment_reminder"), json!("appointment_reminder"), json!("appointment_second_reminder")]
    );
    assert_eq!(desk.received().len(), 1);
    server.finish().await;
}

pub async fn review_response_template_runs(backend: Backend) {
    let draft = json!({"reply": "Sam, we're sorry about the wait. Please call our service manager, Dana, at 512-555-0100.",
                       "sentiment": "negative"});
    let (ai, ai_url) = fake_ai(draft.clone()).await;
    let (reviews, reviews_url) = Fake::start(Duration::ZERO, |_| (201, json!({"posted": true}))).await;
    let (team, team_url) = Fake::start(Duration::ZERO, |_| (200, json!({}))).await;
    let ai_base = ai_url.clone();
    let server = TestServer::start_with(backend, move |config| with_ai_endpoint(config, &ai_base)).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "review-response-draft", None).await;
    let inputs = |id: &str| {
        json!({"review_id": id, "reviewer_name": "Sam K.", "rating": 2,
               "review_text": "Waited two hours for an oil change and nobody told me why.",
               "dealership_name": "Austin Toyota", "reviews_api_url": reviews_url, "team_webhook": format!("{team_url}/team")})
    };

    let run = start(&server, &token, &workflow, inputs("g-1")).await;
    until_waiting(&server, &token, &run, "review").await;
    let prompt = &ai.to("POST", "/v1/chat/completions")[0].body;
    assert!(prompt["messages"][1]["content"].as_str().unwrap().contains("2-star"), "{prompt}");
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{run}/steps/review/approve"),
            Some(&token),
            Some(json!({"comment": "good"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"posted": true, "reply": draft["reply"], "sentiment": "negative", "decision": "approved"})
    );
    let posted = reviews.to("POST", "/reviews/g-1/reply");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body["reply"], draft["reply"]);
    assert!(posted[0].body["approved_by"].is_string(), "{:?}", posted[0].body);
    assert!(team.received().is_empty());

    let rejected = start(&server, &token, &workflow, inputs("g-2")).await;
    until_waiting(&server, &token, &rejected, "review").await;
    let (status, body) = server
        .call(
            "POST",
            &format!("/api/workflows/runs/{rejected}/steps/review/reject"),
            Some(&token),
            Some(json!({"comment": "too apologetic"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rejected = finished(&server, &token, &rejected).await;
    assert_eq!(rejected["status"], "completed", "{rejected}");
    assert_eq!(rejected["output"]["posted"], false);
    assert_eq!(rejected["output"]["decision"], "rejected");
    let told = team.to("POST", "/team");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].body["comment"], "too apologetic");
    assert!(reviews.to("POST", "/reviews/g-2/reply").is_empty());
    server.finish().await;
}

/// A clinical services API: every call recorded, answers by path.
async fn fake_clinical_api(valid: bool) -> (Fake, String) {
    Fake::start(Duration::ZERO, move |request| {
        let path = request.path.as_str();
        let answer = match path {
            "/devices/setup" => json!({"connections": [{"device": "eeg-cap-32", "channel": "ws://dev/1"}]}),
            p if p.ends_with("/validate") && valid => json!({"valid": true}),
            p if p.ends_with("/validate") => json!({"valid": false, "reason": "consent missing"}),
            p if p.ends_with("/collection") => json!({"started": true}),
            p if p.ends_with("/safety") => json!({"status": "ok", "alerts": []}),
            p if p.ends_with("/signal-quality") => json!({"snr_db": 18.5}),
            p if p.ends_with("/analysis") => json!({"features": 64, "quality": "good"}),
            p if p.ends_with("/report") => json!({"report_id": "R-9", "url": "https://clinical.example/r/9"}),
            _ => return (404, json!({})),
        };
        (200, answer)
    })
    .await
}

pub async fn clinical_session_template_runs(backend: Backend) {
    let (api, api_url) = fake_clinical_api(true).await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "clinical-session", None).await;
    let inputs = json!({"session_id": "S-1", "patient_id": "P-7", "provider_id": "DR-5",
                        "device_config": {"devices": ["eeg-cap-32"]}, "clinical_api_url": api_url});
    let run = start(&server, &token, &workflow, inputs).await;
    until_waiting(&server, &token, &run, "collect").await;
    assert_eq!(api.to("POST", "/sessions/S-1/collection")[0].body["device_connections"][0]["device"], "eeg-cap-32");
    send_event(&server, &token, &run, "session.data_collected", json!({"session_id": "S-1", "samples": 3_600_000}))
        .await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"status": "completed", "session_id": "S-1", "reason": null,
               "report": {"report_id": "R-9", "url": "https://clinical.example/r/9"}})
    );
    let analysis = &api.to("POST", "/sessions/S-1/analysis")[0].body;
    assert_eq!(analysis["collection"]["samples"], 3_600_000);
    assert_eq!(
        analysis["monitoring"],
        json!({"safety": {"status": "ok", "alerts": []}, "signal_quality": {"snr_db": 18.5}})
    );
    let order: Vec<String> = api.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(order.first().map(String::as_str), Some("/sessions/S-1/validate"));
    assert_eq!(order.last().map(String::as_str), Some("/sessions/S-1/report"));
    assert_eq!(order.len(), 7, "{order:?}");

    // Prerequisites not met: nothing is set up.
    let (refusing, refusing_url) = fake_clinical_api(false).await;
    let inputs = json!({"session_id": "S-2", "patient_id": "P-7", "provider_id": "DR-5",
                        "device_config": {}, "clinical_api_url": refusing_url});
    let failed = start(&server, &token, &workflow, inputs).await;
    let failed = finished(&server, &token, &failed).await;
    assert_eq!(failed["output"]["status"], "failed", "{failed}");
    assert_eq!(failed["output"]["reason"], "consent missing");
    assert_eq!(refusing.received().len(), 1);
    server.finish().await;
}

pub async fn patient_onboarding_template_runs(backend: Backend) {
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = counts.clone();
    let (ehr, ehr_url) = Fake::start(Duration::ZERO, move |request| {
        *seen.lock().unwrap().entry(request.path.clone()).or_default() += 1;
        match request.path.as_str() {
            "/patients" => (201, json!({"patient_id": "P-100"})),
            "/patients/P-100/access" => (200, json!({"account": "ana.silva"})),
            "/patients/P-100/treatment-plans" => (201, json!({"id": "TP-1"})),
            "/patients/P-100/monitoring" => (200, json!({"program": "remote-vitals", "enrolled": true})),
            "/patients/P-100/onboarding" => (200, json!({"complete": true})),
            _ => (404, json!({})),
        }
    })
    .await;
    let (care, care_url) = Fake::start(Duration::ZERO, |_| (200, json!({}))).await;
    let server = TestServer::start(backend).await;
    let token = server.admin_token().await;
    let workflow = instantiate(&server, &token, "patient-onboarding", None).await;
    let inputs = json!({"patient": {"first_name": "Ana", "last_name": "Silva", "date_of_birth": "1984-03-12",
                                    "email": "ana.silva@example.com"},
                        "clinic_id": "CL-3", "ehr_api_url": ehr_url, "care_team_webhook": format!("{care_url}/care")});
    let run = start(&server, &token, &workflow, inputs).await;
    until_waiting(&server, &token, &run, "collect_intake").await;
    assert_eq!(care.to("POST", "/care")[0].body["kind"], "intake_forms_requested");
    send_event(
        &server,
        &token,
        &run,
        "patient.intake_completed",
        json!({"patient_id": "P-100", "allergies": ["penicillin"]}),
    )
    .await;
    let run = finished(&server, &token, &run).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"patient_id": "P-100", "onboarding_complete": true, "reason": null}));
    assert_eq!(ehr.to("POST", "/patients/P-100/treatment-plans")[0].body["intake"]["allergies"], json!(["penicillin"]));
    let finalize = &ehr.to("POST", "/patients/P-100/onboarding")[0].body;
    assert_eq!(finalize["treatment_plan"], json!({"id": "TP-1"}));
    assert_eq!(finalize["monitoring"]["enrolled"], true);
    let report = care.to("POST", "/care");
    assert_eq!(report.len(), 2);
    assert_eq!(report[1].body["kind"], "onboarding_complete");
    assert_eq!(report[1].body["treatment_plan_id"], "TP-1");
    assert!(counts.lock().unwrap().values().all(|n| *n == 1), "every EHR call once: {:?}", counts.lock().unwrap());
    server.finish().await;
}
