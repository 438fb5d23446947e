//! Live run status: `GET /api/workflows/runs/{run_id}/events` (Server-Sent Events) and
//! `GET /ws/runs/{id}` (WebSocket). Both send the same messages — a `snapshot` (the run with its
//! steps), then `step` and `run` changes as they commit, then `end` (the finished run) — and close.
//! Both accept `?access_token=` because browsers cannot set headers on these connections.

use auterity_workflows::engine::live::RunUpdate;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use std::convert::Infallible;
use uuid::Uuid;

use super::workflows::{RunView, StepView};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::guard::{Autmatrix, Read};
use crate::query_token::QueryTokenAuthorized;
use crate::state::AppState;

/// The SSE event name and JSON data of an update (the WebSocket message is `{"type", "data"}`).
fn message(update: RunUpdate) -> (&'static str, Value) {
    let view = |run| serde_json::to_value(RunView::from(run)).unwrap_or(Value::Null);
    match update {
        RunUpdate::Snapshot { run, steps } => {
            let mut run = RunView::from(run);
            run.steps = Some(steps.into_iter().map(StepView::from).collect());
            ("snapshot", serde_json::to_value(run).unwrap_or(Value::Null))
        }
        RunUpdate::Step(step) => ("step", serde_json::to_value(StepView::from(step)).unwrap_or(Value::Null)),
        RunUpdate::Run(run) => ("run", view(run)),
        RunUpdate::End(run) => ("end", view(run)),
    }
}

#[utoipa::path(get, path = "/api/workflows/runs/{run_id}/events", tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id"),
        ("access_token" = Option<String>, Query, description = "Credential, for clients that cannot set headers")),
    responses((status = 200, content_type = "text/event-stream",
        description = "Events `snapshot`, `step`, `run`, then `end` when the run has ended")))]
pub async fn run_events_handler(
    caller: QueryTokenAuthorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let updates = state.workflows.watch(caller.principal.org_id, run_id).await?;
    let events = updates.map(|update| {
        let (name, data) = message(update);
        Ok(Event::default().event(name).data(data.to_string()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[utoipa::path(get, path = "/ws/runs/{id}", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"),
        ("access_token" = Option<String>, Query, description = "Credential, for clients that cannot set headers")),
    responses((status = 101, description = "WebSocket of `{\"type\": snapshot|step|run|end, \"data\"}` text messages")))]
pub async fn run_socket_handler(
    caller: QueryTokenAuthorized<Autmatrix, Read>,
    State(state): State<AppState>,
    ApiPath(run_id): ApiPath<Uuid>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade =
        upgrade.map_err(|rejection| ApiError::bad_request(format!("not a WebSocket request: {rejection}")))?;
    let updates = state.workflows.watch(caller.principal.org_id, run_id).await?;
    Ok(upgrade.on_upgrade(move |socket| send_updates(socket, updates)).into_response())
}

async fn send_updates(mut socket: WebSocket, updates: impl Stream<Item = RunUpdate> + Send + 'static) {
    let mut updates = std::pin::pin!(updates);
    loop {
        tokio::select! {
            update = updates.next() => {
                let Some(update) = update else { break };
                let (kind, data) = message(update);
                let text = json!({"type": kind, "data": data}).to_string();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // The client went away (or closed): stop watching.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
