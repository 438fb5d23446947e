//! The fixture the workflow conformance modules share: a store with one organization, one user
//! and one workflow, and helpers to start runs and read their steps.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_workflow_fixture {
    () => {
        /// A store with one organization, one user and one workflow.
        struct Fixture {
            store: Store,
            scope: OrgScope,
            ann: User,
            wf: WorkflowRecord,
        }

        async fn fixture() -> Fixture {
            let store = super::__conformance_store().await;
            let org = org("acme");
            store.orgs.create_org(&org, &Effects::none()).await.unwrap();
            let scope = OrgScope(org.id);
            let ann = user(org.id, "ann");
            store.users.create_user(scope, &ann, &[], &Effects::none()).await.unwrap();
            let (wf, v1) = workflow(&ann, "intake");
            store.workflows.create_workflow(scope, &wf, &v1, &Effects::none()).await.unwrap();
            Fixture { store, scope, ann, wf }
        }

        impl Fixture {
            /// Starts a run with `priority` and `status`, and the given steps.
            async fn start(&self, priority: i32, status: &str, steps: &[(&str, &str)]) -> (RunRecord, Vec<StepRecord>) {
                let mut run = run(&self.wf, self.ann.id);
                run.priority = priority;
                run.status = status.to_owned();
                let steps: Vec<StepRecord> = steps.iter().map(|(key, status)| step(&run, key, status)).collect();
                self.store.workflows.create_run(&run, &steps, &Effects::none()).await.unwrap();
                (run, steps)
            }

            async fn steps(&self, run: &RunRecord) -> Vec<StepRecord> {
                self.store.workflows.list_steps(self.scope, run.id).await.unwrap()
            }

            async fn step(&self, run: &RunRecord, key: &str) -> StepRecord {
                self.steps(run).await.into_iter().find(|s| s.step_key == key).unwrap()
            }

            async fn outbox(&self) -> Vec<SystemEvent> {
                self.store.outbox.fetch_unpublished(0, 1000).await.unwrap().into_iter().map(|r| r.event).collect()
            }
        }

        fn keys(steps: &[StepRecord]) -> Vec<String> {
            steps.iter().map(|s| s.step_key.clone()).collect()
        }
    };
}
