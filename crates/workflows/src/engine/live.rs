//! Live run status for WebSocket and SSE clients: a snapshot of the run and its steps, then every
//! step and run change after it commits, ending with the run. The database is the record and other
//! processes may be executing the run, so changes are read from it: polled every
//! `WATCH_INTERVAL`, so states a step passes through within one interval are coalesced (the state
//! it settles in is always sent), and the stream ends once the run has ended and its last changes
//! were sent.

use auterity_store::OrgScope;
use auterity_types::OrgId;
use auterity_types::workflow_records::{RunRecord, StepRecord, run_status};
use chrono::{DateTime, Utc};
use futures::Stream;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use uuid::Uuid;

use super::finish::FINISH_KEY;
use super::service::{WorkflowError, WorkflowService};

pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// One message of a run's live feed.
#[derive(Clone, Debug, PartialEq)]
pub enum RunUpdate {
    /// First message: the run and all its steps.
    Snapshot { run: RunRecord, steps: Vec<StepRecord> },
    /// A step was created or changed.
    Step(StepRecord),
    /// The run's status, output or error changed (it is still going).
    Run(RunRecord),
    /// Last message: the run ended.
    End(RunRecord),
}

type StepMark = (String, i32, DateTime<Utc>);

struct Watch {
    service_store: auterity_store::Store,
    scope: OrgScope,
    run_id: Uuid,
    run_mark: (String, DateTime<Utc>),
    steps: HashMap<String, StepMark>,
    queue: VecDeque<RunUpdate>,
    ended: bool,
}

fn visible(steps: Vec<StepRecord>) -> Vec<StepRecord> {
    steps.into_iter().filter(|s| s.step_key != FINISH_KEY).collect()
}

fn mark(step: &StepRecord) -> StepMark {
    (step.status.clone(), step.attempt, step.updated_at)
}

impl Watch {
    /// Reads the run again and queues what changed since the last read.
    async fn poll(&mut self) -> Result<(), WorkflowError> {
        let store = &self.service_store.workflows;
        let Some(run) = store.get_run(self.scope, self.run_id).await? else {
            self.ended = true;
            return Ok(());
        };
        let steps = visible(store.list_steps(self.scope, self.run_id).await?);
        for step in steps {
            let now = mark(&step);
            if self.steps.get(&step.step_key) != Some(&now) {
                self.steps.insert(step.step_key.clone(), now);
                self.queue.push_back(RunUpdate::Step(step));
            }
        }
        if run_status::TERMINAL.contains(&run.status.as_str()) {
            self.ended = true;
            self.queue.push_back(RunUpdate::End(run));
        } else if (run.status.clone(), run.updated_at) != self.run_mark {
            self.run_mark = (run.status.clone(), run.updated_at);
            self.queue.push_back(RunUpdate::Run(run));
        }
        Ok(())
    }
}

impl WorkflowService {
    /// The live feed of a run; `NotFound` when the organization has no such run.
    pub async fn watch(
        &self,
        org: OrgId,
        run_id: Uuid,
    ) -> Result<impl Stream<Item = RunUpdate> + Send + use<>, WorkflowError> {
        let scope = OrgScope(org);
        let run = self.store.workflows.get_run(scope, run_id).await?.ok_or(WorkflowError::NotFound("run"))?;
        let steps = visible(self.store.workflows.list_steps(scope, run_id).await?);
        let ended = run_status::TERMINAL.contains(&run.status.as_str());
        let mut watch = Watch {
            service_store: self.store.clone(),
            scope,
            run_id,
            run_mark: (run.status.clone(), run.updated_at),
            steps: steps.iter().map(|s| (s.step_key.clone(), mark(s))).collect(),
            queue: VecDeque::new(),
            ended,
        };
        watch.queue.push_back(RunUpdate::Snapshot { run: run.clone(), steps });
        if ended {
            watch.queue.push_back(RunUpdate::End(run));
        }
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            loop {
                if let Some(update) = watch.queue.pop_front() {
                    return Some((update, watch));
                }
                if watch.ended {
                    return None;
                }
                tokio::time::sleep(WATCH_INTERVAL).await;
                if let Err(error) = watch.poll().await {
                    tracing::warn!(%error, run_id = %watch.run_id, "reading a watched run failed; retrying");
                }
            }
        }))
    }
}
