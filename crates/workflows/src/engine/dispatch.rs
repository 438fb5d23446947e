//! Routes one attempt to the code of its kind: the kinds that need the engine (its store, its
//! configured services) run here; the self-contained ones in [`super::execute`].

use auterity_types::workflow_records::RunRecord;
use std::future::Future;
use std::time::Duration;

use super::execute::{self, DEFAULT_STEP_TIMEOUT, StepCall};
use super::outcome::Outcome;
use super::{Engine, ai, notify, waits};
use crate::definition::{ErrorClass, StepKind};

/// `work` under the step's start-to-close limit.
async fn limited(timeout: Duration, work: impl Future<Output = Outcome>) -> Outcome {
    match tokio::time::timeout(timeout, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            Outcome::failed(ErrorClass::Timeout, format!("attempt exceeded its timeout of {} ms", timeout.as_millis()))
        }
    }
}

impl Engine {
    pub(crate) async fn dispatch(&self, call: StepCall<'_>, run: &RunRecord) -> Outcome {
        let timeout = call.step.timeout.map(|t| t.as_std()).unwrap_or(DEFAULT_STEP_TIMEOUT);
        let services = &self.config.services;
        match &call.step.kind {
            StepKind::Approval(step) => waits::approval(&call, step),
            StepKind::WaitEvent(step) => waits::wait_event(&call, step),
            StepKind::Subworkflow(step) => self.subworkflow(&call, step, run).await,
            StepKind::Notify(step) => {
                let work = notify::run(
                    &self.config.outbound,
                    call.deny_private,
                    services.smtp.as_ref(),
                    step,
                    call.context,
                    &call.idempotency_key,
                    timeout,
                );
                limited(timeout, work).await
            }
            StepKind::Ai(step) => {
                let work = ai::run(
                    &self.config.outbound,
                    services.ai.as_ref(),
                    step,
                    call.context,
                    &call.idempotency_key,
                    timeout,
                );
                limited(timeout, work).await
            }
            _ => execute::execute(call, &self.config.outbound).await,
        }
    }
}
