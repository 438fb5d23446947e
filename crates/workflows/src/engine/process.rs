//! One claimed step instance, start to commit, and what follows it in the same task.
//!
//! A step reads only what its expressions can see: the run's top-level steps and those of the
//! scopes around it (a `foreach` item does not load its 999 siblings). Its result is committed with
//! its successors, and the successors that are due at once are claimed in that same transaction
//! (`claim_after`) when this process has room for them: the first continues in this task, the
//! others in new ones, each starting from what this step already knew of the run instead of
//! reading it again. What needs the whole run — a join, the finishing step, a compensation
//! handler, a failure that cancels what is still open — reads the whole run from the store.

use auterity_store::{OrgScope, StoreError};
use auterity_types::workflow_records::{ClaimAfter, RunRecord, StepChange, StepRecord, Transition, step_status};
use chrono::Utc;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

use super::keys::{JOIN_SUFFIX, parse_key, step_in_scope};
use super::outcome::Outcome;
use super::{Engine, context, execute, finish, plan, redact};

/// What a step knows of its run when it starts: the run row and the step instances its
/// expressions can see (all of them when `whole`).
#[derive(Clone)]
pub(super) struct RunView {
    pub run: RunRecord,
    pub steps: Vec<StepRecord>,
    pub whole: bool,
}

/// The prefixes of the scopes around `key`, outermost first (empty at the top level): a step's
/// context is built from the steps of these scopes and the top level.
pub(super) fn scope_prefixes(key: &str) -> Vec<String> {
    let mut prefixes = Vec::new();
    let mut current = key.to_owned();
    loop {
        let (scope, _) = parse_key(&current);
        match scope.container_key().map(str::to_owned) {
            Some(container) => {
                prefixes.push(scope.prefix());
                current = container;
            }
            None => break,
        }
    }
    prefixes.reverse();
    prefixes
}

/// Whether `step_key` is visible to a step whose scopes are `prefixes`.
fn visible(step_key: &str, prefixes: &[String]) -> bool {
    !step_key.contains('/') || prefixes.iter().any(|p| step_key.starts_with(p.as_str()))
}

/// Whether a step needs the whole run, not just its scopes.
fn needs_whole_run(definition: &crate::definition::WorkflowDefinition, key: &str) -> bool {
    key == finish::FINISH_KEY || key.ends_with(JOIN_SUFFIX) || super::saga::is_handler(definition, key)
}

impl RunView {
    /// The view after `transition` committed and `claimed` were claimed, for a successor with scopes `prefixes`.
    fn after(&self, transition: &Transition, claimed: &[StepRecord], prefixes: &[String]) -> RunView {
        let mut steps: Vec<StepRecord> =
            self.steps.iter().filter(|s| visible(&s.step_key, prefixes)).cloned().collect();
        for change in &transition.step_changes {
            if let StepChange::Set { step_key, status, output, error, ready_at, wake_at, completed_at } = change
                && let Some(step) = steps.iter_mut().find(|s| s.step_key == *step_key)
            {
                step.status = status.clone();
                step.output = output.clone();
                step.error = error.clone();
                step.ready_at = *ready_at;
                step.wake_at = *wake_at;
                step.completed_at = *completed_at;
                step.lease_owner = None;
                step.lease_expires_at = None;
                step.updated_at = transition.at;
            }
        }
        for new in &transition.new_steps {
            if visible(&new.step_key, prefixes) && !steps.iter().any(|s| s.step_key == new.step_key) {
                let claimed = claimed.iter().find(|c| c.step_key == new.step_key);
                steps.push(claimed.cloned().unwrap_or_else(|| new.clone()));
            }
        }
        let mut run = self.run.clone();
        if let Some(change) = &transition.run_change {
            run.status = change.status.clone();
            run.output = change.output.clone();
            run.error = change.error.clone();
        }
        RunView { run, steps, whole: false }
    }
}

impl Engine {
    /// Runs `step` (and the successors it claims) in a task holding `permit`.
    pub(super) fn spawn_step(self: Arc<Self>, step: StepRecord, view: Option<RunView>, permit: OwnedSemaphorePermit) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert((step.run_id, step.step_key.clone()), step.attempt);
        }
        tokio::spawn(async move {
            let mut next = Some((step, view));
            while let Some((step, view)) = next.take() {
                let key = (step.run_id, step.step_key.clone());
                let mut followers = self.process(step, view).await.into_iter();
                if let Ok(mut in_flight) = self.in_flight.lock() {
                    in_flight.remove(&key);
                }
                // The first successor continues here, under this task's permit; the others got theirs.
                next = followers.next().map(|(step, view, _)| (step, Some(view)));
                for (step, view, permit) in followers {
                    match permit {
                        Some(permit) => self.clone().spawn_step(step, Some(view), permit),
                        None => tracing::error!(step = %step.step_key, "a claimed successor without a permit"),
                    }
                }
                if let Some((step, _)) = &next
                    && let Ok(mut in_flight) = self.in_flight.lock()
                {
                    in_flight.insert((step.run_id, step.step_key.clone()), step.attempt);
                }
            }
            drop(permit);
            self.wake.notify_one();
        });
    }

    /// Reads what `step` needs of its run; `None` (logged) when that fails: the lease then expires
    /// and the step is claimed again.
    async fn load_view(&self, step: &StepRecord, whole: bool) -> Option<RunView> {
        match self.read_view(step, whole).await {
            Ok(view) => Some(view),
            Err(error) => {
                tracing::warn!(%error, run_id = %step.run_id, "failed to load a run; the lease will expire and it retries");
                None
            }
        }
    }

    async fn read_view(&self, step: &StepRecord, whole: bool) -> Result<RunView, StoreError> {
        let scope = OrgScope(step.org_id);
        let workflows = &self.store.workflows;
        // Two reads on two pooled connections at once: a step's start waits for one round trip.
        let (run, steps) = if whole {
            tokio::join!(workflows.get_run(scope, step.run_id), workflows.list_steps(scope, step.run_id))
        } else {
            let prefixes = scope_prefixes(&step.step_key);
            tokio::join!(
                workflows.get_run(scope, step.run_id),
                workflows.list_scoped_steps(scope, step.run_id, &prefixes)
            )
        };
        let run = run?.ok_or(StoreError::NotFound("run".into()))?;
        Ok(RunView { run, steps: steps?, whole })
    }

    /// Executes one claimed step and commits its result; answers the successors claimed with it,
    /// each with its view of the run and, but for the first, a permit of its own.
    async fn process(
        &self,
        step: StepRecord,
        view: Option<RunView>,
    ) -> Vec<(StepRecord, RunView, Option<OwnedSemaphorePermit>)> {
        let started = Instant::now();
        let started_at = Utc::now();
        // The finishing step and joins need the whole run; known from the key alone.
        let whole = step.step_key == finish::FINISH_KEY || step.step_key.ends_with(JOIN_SUFFIX);
        let view = match view {
            Some(view) => Some(view),
            None => self.load_view(&step, whole).await,
        };
        let Some(mut view) = view else { return Vec::new() };
        let definition = match self.definition(&view.run).await {
            Ok(definition) => definition,
            Err(error) => {
                tracing::error!(%error, run_id = %view.run.id, "failed to load the run's definition");
                return Vec::new();
            }
        };
        if !view.whole && needs_whole_run(&definition, &step.step_key) {
            let Some(full) = self.load_view(&step, true).await else { return Vec::new() };
            view = full;
        }
        if step.step_key == finish::FINISH_KEY {
            self.finish(&definition, &view.run, &view.steps, &step, started_at).await;
            return Vec::new();
        }
        let run = &view.run;
        let super::OutsideValues { secrets, env, failed: load_failed } = self.outside_values(&definition, run).await;
        let (outcome, kind) = if step.step_key.ends_with(JOIN_SUFFIX) {
            (self.join_outcome(&definition, run, &view.steps, &step, &secrets, &env), "join")
        } else {
            let (scope_of_step, id) = parse_key(&step.step_key);
            match step_in_scope(&definition, &scope_of_step, id) {
                Some(step_def) => {
                    let mut context = context::build(run, &view.steps, &step.step_key);
                    context.secrets = secrets.clone();
                    context.env = env;
                    // The organization's choice applies to every call to a URL the workflow names.
                    let deny_private = match step_def.kind {
                        crate::definition::StepKind::Http(_) | crate::definition::StepKind::Notify(_) => {
                            self.deny_private_for(run.org_id).await
                        }
                        _ => self.config.deny_private,
                    };
                    let idempotency_key = match &step_def.idempotency_key {
                        Some(template) => crate::expr::Template::parse(template)
                            .and_then(|t| t.render_string(&context))
                            .unwrap_or_else(|_| format!("{}:{}", run.id, step.step_key)),
                        None => format!("{}:{}", run.id, step.step_key),
                    };
                    let call = execute::StepCall {
                        step: step_def,
                        key: &step.step_key,
                        memo: step.output.as_ref(),
                        context: &context,
                        idempotency_key,
                        now: started_at,
                        deny_private,
                    };
                    let outcome = match load_failed {
                        Some(failed) => failed,
                        None => self.dispatch(call, run).await,
                    };
                    (outcome, step_def.kind.name())
                }
                None => (
                    Outcome::failed(crate::definition::ErrorClass::Internal, "step not found in the definition"),
                    "unknown",
                ),
            }
        };
        metrics::histogram!("auterity_workflow_step_duration_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        if matches!(outcome, Outcome::Failed { .. }) && !view.whole {
            // A failure may cancel every open step or start compensation: plan it on the whole run.
            let Some(full) = self.load_view(&step, true).await else { return Vec::new() };
            view = full;
        }
        let run = &view.run;
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let state = plan::RunState { definition: &definition, run, steps: &view.steps, owner: &self.config.owner };
        let mut planned = plan::plan(&state, &step, outcome, started_at, jitter);
        redact::redact_transition(&mut planned.transition, &secrets);
        let mut permits = self.claim_successors(&mut planned.transition);
        let run_failed = planned.run_failed;
        let retrying = planned.transition.attempt.as_ref().is_some_and(|a| a.outcome == "retrying");
        let claimed = match self.committer.commit_and_claim(planned.transition.clone()).await {
            Ok(Some(claimed)) => claimed,
            Ok(None) => {
                tracing::debug!(run_id = %run.id, step = %step.step_key, "stale result discarded: the lease was lost");
                return Vec::new();
            }
            Err(error) => {
                tracing::warn!(%error, run_id = %run.id, "commit failed; the step will be retried after its lease");
                return Vec::new();
            }
        };
        let timer = planned.transition.step_changes.iter().find_map(|change| match change {
            StepChange::Set { status, ready_at: Some(at), .. }
                if status == step_status::READY && *at > planned.transition.at =>
            {
                Some(*at)
            }
            _ => None,
        });
        if let Some(at) = timer {
            self.schedule_due(at);
        }
        if run_failed {
            metrics::counter!("auterity_workflow_runs_total", "status" => "failed").increment(1);
            self.wake_parent(run).await;
        }
        if retrying {
            metrics::counter!("auterity_workflow_retries_total").increment(1);
        }
        let mut followers = Vec::with_capacity(claimed.len());
        for (index, next) in claimed.iter().enumerate() {
            let prefixes = scope_prefixes(&next.step_key);
            let next_view = view.after(&planned.transition, &claimed, &prefixes);
            // The first continues under the current permit.
            let permit = if index == 0 { None } else { permits.pop() };
            followers.push((next.clone(), next_view, permit));
        }
        followers
    }

    /// Asks the commit of `transition` to claim its new steps that are due now, as many as this
    /// process has room for (the current step's permit and free ones); the extra permits taken.
    fn claim_successors(&self, transition: &mut Transition) -> Vec<OwnedSemaphorePermit> {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Vec::new();
        }
        let due: Vec<String> =
            transition.new_steps.iter().filter(|s| s.is_due(transition.at)).map(|s| s.step_key.clone()).collect();
        if due.is_empty() {
            return Vec::new();
        }
        let mut permits = Vec::new();
        while permits.len() + 1 < due.len() {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        transition.claim_after = Some(ClaimAfter {
            owner: self.config.owner.clone(),
            lease_until: self.lease_until(transition.at),
            keys: due.into_iter().take(permits.len() + 1).collect(),
        });
        permits
    }
}
