//! Conformance tests of `WorkflowRepo`: definitions and versions, runs, run-status guards and
//! tenancy. The step queue (claims, leases, heartbeats, timers, guarded group commits) is in
//! `workflow_queue.rs`.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_workflows {
    () => {
        mod workflows {
            use $crate::conformance::prelude::*;

            $crate::__store_conformance_workflow_fixture!();

            #[::tokio::test]
            async fn definitions_are_created_versioned_listed_and_soft_deleted() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                assert_eq!(store.workflows.get_workflow(scope, f.wf.id).await.unwrap(), Some(f.wf.clone()));
                assert_eq!(store.workflows.get_workflow_by_name(scope, "intake").await.unwrap(), Some(f.wf.clone()));
                assert_eq!(store.workflows.get_workflow_by_name(scope, "other").await.unwrap(), None);
                let v1 = store.workflows.get_workflow_version(scope, f.wf.id, 1).await.unwrap().unwrap();
                assert_eq!(v1.definition, f.wf.definition);
                assert_eq!(v1.created_by, f.ann.id);

                // The name is taken, and the refused create writes none of its effects.
                let (mut twin, twin_v1) = workflow(&f.ann, "intake");
                twin.definition = json!({ "twin": true });
                let fx = Effects::none().event(event(Some(scope.org_id()), "workflow.created"));
                let err = store.workflows.create_workflow(scope, &twin, &twin_v1, &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                assert_eq!(store.workflows.get_workflow(scope, twin.id).await.unwrap(), None);
                assert!(f.outbox().await.is_empty());

                // Versions: only `latest + 1` is accepted, and the head follows it.
                let v2 = workflow_version(&f.wf, 2, f.ann.id);
                let updated = event(Some(scope.org_id()), "workflow.updated");
                let fx = Effects::none().event(updated.clone());
                assert!(store.workflows.add_workflow_version(scope, &v2, Some("second"), &fx).await.unwrap());
                let fx = Effects::none().event(event(None, "must.not.happen"));
                assert!(!store.workflows.add_workflow_version(scope, &v2, Some("again"), &fx).await.unwrap());
                let v4 = workflow_version(&f.wf, 4, f.ann.id);
                assert!(!store.workflows.add_workflow_version(scope, &v4, None, &fx).await.unwrap(), "skips 3");
                let v0 = workflow_version(&f.wf, 0, f.ann.id);
                assert!(!store.workflows.add_workflow_version(scope, &v0, None, &fx).await.unwrap());
                let mut unknown = workflow_version(&f.wf, 2, f.ann.id);
                unknown.workflow_id = Uuid::now_v7();
                assert!(!store.workflows.add_workflow_version(scope, &unknown, None, &fx).await.unwrap());
                assert_eq!(f.outbox().await, vec![updated]);
                let head = store.workflows.get_workflow(scope, f.wf.id).await.unwrap().unwrap();
                assert_eq!(head.latest_version, 2);
                assert_eq!(head.definition, v2.definition);
                assert_eq!(head.description.as_deref(), Some("second"));
                assert_eq!(head.updated_at, v2.created_at);
                assert_eq!(head.created_at, f.wf.created_at);
                let v3 = workflow_version(&f.wf, 3, f.ann.id);
                assert!(store.workflows.add_workflow_version(scope, &v3, None, &Effects::none()).await.unwrap());
                let head = store.workflows.get_workflow(scope, f.wf.id).await.unwrap().unwrap();
                assert_eq!((head.latest_version, head.description.as_deref()), (3, Some("second")), "kept");
                let versions = store.workflows.list_workflow_versions(scope, f.wf.id).await.unwrap();
                assert_eq!(versions, vec![v1, v2.clone(), v3]);
                assert_eq!(store.workflows.get_workflow_version(scope, f.wf.id, 2).await.unwrap(), Some(v2));
                assert_eq!(store.workflows.get_workflow_version(scope, f.wf.id, 9).await.unwrap(), None);

                // Listing in id order with paging; soft delete hides, restore shows again.
                let (second, second_v1) = workflow(&f.ann, "follow-up");
                let (third, third_v1) = workflow(&f.ann, "appraisal");
                store.workflows.create_workflow(scope, &second, &second_v1, &Effects::none()).await.unwrap();
                store.workflows.create_workflow(scope, &third, &third_v1, &Effects::none()).await.unwrap();
                let all = store.workflows.list_workflows(scope, false, PageRequest::default()).await.unwrap();
                assert_eq!(all.iter().map(|w| w.id).collect::<Vec<_>>(), [f.wf.id, second.id, third.id]);
                let page = PageRequest { limit: 1, after: Some(f.wf.id) };
                assert_eq!(store.workflows.list_workflows(scope, false, page).await.unwrap(), vec![second.clone()]);

                let deleted = event(Some(scope.org_id()), "workflow.deleted");
                let fx = Effects::none().event(deleted.clone());
                assert!(store.workflows.set_workflow_active(scope, second.id, false, &fx).await.unwrap());
                let fx = Effects::none().event(event(None, "must.not.happen"));
                assert!(!store.workflows.set_workflow_active(scope, Uuid::now_v7(), false, &fx).await.unwrap());
                assert_eq!(f.outbox().await.last(), Some(&deleted));
                let active = store.workflows.list_workflows(scope, false, PageRequest::default()).await.unwrap();
                assert_eq!(active.iter().map(|w| w.id).collect::<Vec<_>>(), [f.wf.id, third.id]);
                let every = store.workflows.list_workflows(scope, true, PageRequest::default()).await.unwrap();
                assert_eq!(every.len(), 3);
                let hidden = store.workflows.get_workflow(scope, second.id).await.unwrap().unwrap();
                assert!(!hidden.is_active);
                assert_eq!(store.workflows.get_workflow_by_name(scope, "follow-up").await.unwrap(), Some(hidden));
                // An inactive workflow still holds its name.
                let (again, again_v1) = workflow(&f.ann, "follow-up");
                let err =
                    store.workflows.create_workflow(scope, &again, &again_v1, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                assert!(store.workflows.set_workflow_active(scope, second.id, true, &Effects::none()).await.unwrap());
                assert_eq!(
                    store.workflows.list_workflows(scope, false, PageRequest::default()).await.unwrap().len(),
                    3
                );
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn of_writers_adding_the_same_version_exactly_one_wins() {
                let f = fixture().await;
                let mut tasks = Vec::new();
                for n in 0..4 {
                    let (store, scope) = (f.store.clone(), f.scope);
                    let mut v2 = workflow_version(&f.wf, 2, f.ann.id);
                    v2.definition = json!({ "writer": n });
                    tasks.push(::tokio::spawn(async move {
                        let added = store.workflows.add_workflow_version(scope, &v2, None, &Effects::none()).await;
                        (added.unwrap(), v2)
                    }));
                }
                let mut winners = Vec::new();
                for task in tasks {
                    let (added, version) = task.await.unwrap();
                    if added {
                        winners.push(version);
                    }
                }
                assert_eq!(winners.len(), 1, "exactly one writer adds version 2");
                let versions = f.store.workflows.list_workflow_versions(f.scope, f.wf.id).await.unwrap();
                assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
                assert_eq!(versions[1], winners[0]);
                let head = f.store.workflows.get_workflow(f.scope, f.wf.id).await.unwrap().unwrap();
                assert_eq!(head.definition, winners[0].definition);
            }

            #[::tokio::test]
            async fn create_run_writes_run_steps_and_unified_execution() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let mut run = run(&f.wf, f.ann.id);
                run.concurrency_key = Some("north".to_owned());
                run.priority = 5;
                run.status = run_status::PENDING.to_owned();
                run.started_at = None;
                // Creation order is not key order.
                let mut steps = vec![
                    step(&run, "zeta", step_status::READY),
                    step(&run, "alpha", step_status::PENDING),
                    step(&run, "loop[3].fetch", step_status::WAITING),
                ];
                steps[1].remaining = 2;
                steps[2].wake_at = Some(now() + Duration::minutes(5));
                steps[2].output = Some(json!(null));
                let started = event(Some(scope.org_id()), "workflow.run.started");
                let fx = Effects::none().event(started.clone());
                store.workflows.create_run(&run, &steps, &fx).await.unwrap();

                assert_eq!(store.workflows.get_run(scope, run.id).await.unwrap(), Some(run.clone()));
                assert_eq!(store.workflows.list_steps(scope, run.id).await.unwrap(), steps);
                assert_eq!(store.workflows.waiting_steps(scope, run.id).await.unwrap(), vec![steps[2].clone()]);
                assert_eq!(f.outbox().await, vec![started]);
                let unified = unified_execution(store, run.id).await.unwrap().unwrap();
                assert_eq!(unified.id, run.id);
                assert_eq!(unified.org_id, run.org_id);
                assert_eq!(
                    (unified.execution_type.as_str(), unified.source_system.as_str()),
                    ("workflow", "autmatrix")
                );
                assert_eq!((unified.source_id, unified.user_id), (run.id, f.ann.id));
                assert_eq!(unified.status, "pending");
                assert_eq!(unified.started_at, Some(run.created_at));
                assert_eq!((unified.completed_at, unified.error_message), (None, None));
                let metadata = unified.metadata.unwrap();
                assert_eq!(metadata["workflow_id"], json!(f.wf.id));
                assert_eq!(metadata["version"], json!(1));
                assert_eq!(metadata["trigger"], json!("manual"));

                // A run twice, a step of another run, a missing version or workflow: refused whole.
                let err = store.workflows.create_run(&run, &[], &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                let other = self::run(&f.wf, f.ann.id);
                let err = store.workflows.create_run(&other, &steps, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let mut unversioned = self::run(&f.wf, f.ann.id);
                unversioned.version = 7;
                let err = store.workflows.create_run(&unversioned, &[], &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let mut orphan = self::run(&f.wf, f.ann.id);
                orphan.workflow_id = Uuid::now_v7();
                let err = store.workflows.create_run(&orphan, &[], &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                let dup = self::run(&f.wf, f.ann.id);
                let twice = [step(&dup, "a", step_status::READY), step(&dup, "a", step_status::READY)];
                let err = store.workflows.create_run(&dup, &twice, &Effects::none()).await.unwrap_err();
                assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                for id in [other.id, unversioned.id, orphan.id, dup.id] {
                    assert_eq!(store.workflows.get_run(scope, id).await.unwrap(), None);
                    assert_eq!(unified_execution(store, id).await.unwrap(), None);
                }
                assert_eq!(f.outbox().await.len(), 1);
            }

            #[::tokio::test]
            async fn runs_list_newest_first_filter_and_count_active() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let (other_wf, other_v1) = workflow(&f.ann, "other");
                store.workflows.create_workflow(scope, &other_wf, &other_v1, &Effects::none()).await.unwrap();
                let mut runs = Vec::new();
                for (n, status) in
                    ["running", "completed", "waiting", "failed", "running", "cancelled"].iter().enumerate()
                {
                    let wf = if n % 2 == 0 { &f.wf } else { &other_wf };
                    let mut run = run(wf, f.ann.id);
                    run.status = (*status).to_owned();
                    run.concurrency_key = Some(if n < 3 { "north" } else { "south" }.to_owned());
                    store.workflows.create_run(&run, &[], &Effects::none()).await.unwrap();
                    runs.push(run);
                }
                let mut newest: Vec<RunRecord> = runs.clone();
                newest.reverse();
                let all =
                    store.workflows.list_runs(scope, &RunFilter::default(), PageRequest::default()).await.unwrap();
                assert_eq!(all, newest);
                let first =
                    store.workflows.list_runs(scope, &RunFilter::default(), PageRequest::first(2)).await.unwrap();
                assert_eq!(first, newest[..2]);
                let page = PageRequest { limit: 10, after: Some(first[1].id) };
                assert_eq!(store.workflows.list_runs(scope, &RunFilter::default(), page).await.unwrap(), newest[2..]);
                let of_wf = RunFilter { workflow_id: Some(f.wf.id), status: None, ..RunFilter::default() };
                let listed = store.workflows.list_runs(scope, &of_wf, PageRequest::default()).await.unwrap();
                assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [runs[4].id, runs[2].id, runs[0].id]);
                let running = RunFilter { workflow_id: None, status: Some("running".to_owned()), ..RunFilter::default() };
                let listed = store.workflows.list_runs(scope, &running, PageRequest::default()).await.unwrap();
                assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [runs[4].id, runs[0].id]);
                let both = RunFilter { workflow_id: Some(other_wf.id), status: Some("running".to_owned()), ..RunFilter::default() };
                assert!(store.workflows.list_runs(scope, &both, PageRequest::default()).await.unwrap().is_empty());

                // Active = not completed, failed or cancelled: runs 0, 2, 4.
                let count = |wf: Option<Uuid>, key: Option<&'static str>| {
                    let store = store.clone();
                    async move { store.workflows.count_active_runs(scope, wf, key).await.unwrap() }
                };
                assert_eq!(count(None, None).await, 3);
                assert_eq!(count(Some(f.wf.id), None).await, 3);
                assert_eq!(count(Some(other_wf.id), None).await, 0);
                assert_eq!(count(None, Some("north")).await, 2);
                assert_eq!(count(Some(f.wf.id), Some("south")).await, 1);
                assert_eq!(count(None, Some("west")).await, 0);
            }

            #[::tokio::test]
            async fn nothing_of_a_workflow_leaks_or_changes_across_organizations() {
                let a = fixture().await;
                let store = &a.store;
                let (run, _) = a.start(0, run_status::RUNNING, &[("fetch", "ready"), ("wait", "waiting")]).await;
                let t = now() + Duration::seconds(1);
                let claimed = store.workflows.claim_steps("w", t, t + Duration::minutes(1), 1).await.unwrap().remove(0);
                let record = Transition { attempt: Some(attempt(&claimed, "retrying", t)), ..transition(&run, t) };
                assert_eq!(store.workflows.commit_transitions(&[record]).await.unwrap(), vec![true]);

                let org_b = org("bravo");
                store.orgs.create_org(&org_b, &Effects::none()).await.unwrap();
                let b = OrgScope(org_b.id);
                let bob = user(org_b.id, "bob");
                store.users.create_user(b, &bob, &[], &Effects::none()).await.unwrap();

                let snapshot = || async {
                    (
                        store.workflows.get_workflow(a.scope, a.wf.id).await.unwrap(),
                        store.workflows.list_workflow_versions(a.scope, a.wf.id).await.unwrap(),
                        store.workflows.get_run(a.scope, run.id).await.unwrap(),
                        store.workflows.list_steps(a.scope, run.id).await.unwrap(),
                        store.workflows.list_attempts(a.scope, run.id).await.unwrap(),
                    )
                };
                let before = snapshot().await;
                assert_eq!(before.4.len(), 1);

                // Reads through B's scope see nothing of A.
                assert_eq!(store.workflows.get_workflow(b, a.wf.id).await.unwrap(), None);
                assert_eq!(store.workflows.get_workflow_by_name(b, "intake").await.unwrap(), None);
                assert!(store.workflows.list_workflows(b, true, PageRequest::default()).await.unwrap().is_empty());
                assert_eq!(store.workflows.get_workflow_version(b, a.wf.id, 1).await.unwrap(), None);
                assert!(store.workflows.list_workflow_versions(b, a.wf.id).await.unwrap().is_empty());
                assert_eq!(store.workflows.get_run(b, run.id).await.unwrap(), None);
                assert!(
                    store
                        .workflows
                        .list_runs(b, &RunFilter::default(), PageRequest::default())
                        .await
                        .unwrap()
                        .is_empty()
                );
                let of_a = RunFilter { workflow_id: Some(a.wf.id), status: None, ..RunFilter::default() };
                assert!(store.workflows.list_runs(b, &of_a, PageRequest::default()).await.unwrap().is_empty());
                assert!(store.workflows.list_steps(b, run.id).await.unwrap().is_empty());
                assert!(store.workflows.waiting_steps(b, run.id).await.unwrap().is_empty());
                assert!(store.workflows.list_attempts(b, run.id).await.unwrap().is_empty());
                assert_eq!(store.workflows.count_active_runs(b, None, None).await.unwrap(), 0);
                assert_eq!(store.workflows.count_active_runs(b, Some(a.wf.id), None).await.unwrap(), 0);

                // Writes through B's scope change nothing of A and announce nothing.
                let fx = Effects::none().event(event(Some(b.org_id()), "must.not.happen"));
                let v2 = workflow_version(&a.wf, 2, bob.id);
                assert!(!store.workflows.add_workflow_version(b, &v2, Some("hijacked"), &fx).await.unwrap());
                assert!(!store.workflows.set_workflow_active(b, a.wf.id, false, &fx).await.unwrap());
                let (planted, planted_v1) = workflow(&a.ann, "planted");
                let err = store.workflows.create_workflow(b, &planted, &planted_v1, &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                // In B's name but owned by A's user.
                let (mut borrowed, borrowed_v1) = workflow(&a.ann, "borrowed");
                borrowed.org_id = b.org_id();
                let err = store.workflows.create_workflow(b, &borrowed, &borrowed_v1, &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                // A run in B's name of A's workflow.
                let mut intruder = self::run(&a.wf, bob.id);
                intruder.org_id = b.org_id();
                let err = store.workflows.create_run(&intruder, &[], &fx).await.unwrap_err();
                assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
                // A transition scoped to B on A's run, even with A's valid lease, and one that
                // plants a B step into A's run.
                let hijack = Transition {
                    org_id: Some(b.org_id()),
                    guard: Some(guard(&claimed)),
                    step_changes: vec![complete("fetch", json!("hijacked"), t)],
                    run_change: Some(RunChange {
                        status: run_status::CANCELLED.to_owned(),
                        output: None,
                        error: None,
                        started_at: None,
                        completed_at: Some(t),
                    }),
                    events: fx.events.clone(),
                    ..transition(&run, t)
                };
                let mut foreign_step = step(&run, "foreign", step_status::READY);
                foreign_step.org_id = b.org_id();
                let plant = Transition { org_id: None, new_steps: vec![foreign_step], ..transition(&run, t) };
                assert_eq!(store.workflows.commit_transitions(&[hijack, plant]).await.unwrap(), vec![false, false]);

                assert_eq!(snapshot().await, before, "organization A changed through B's scope");
                assert!(a.outbox().await.is_empty(), "refused writes announced something");
                assert_eq!(unified_execution(store, run.id).await.unwrap().unwrap().status, "running");
                // B has a namespace of its own: the same name is free there.
                let (own, own_v1) = workflow(&bob, "intake");
                store.workflows.create_workflow(b, &own, &own_v1, &Effects::none()).await.unwrap();
                assert_eq!(store.workflows.list_workflows(b, true, PageRequest::default()).await.unwrap(), vec![own]);
                assert_eq!(
                    store.workflows.list_workflows(a.scope, true, PageRequest::default()).await.unwrap().len(),
                    1
                );
            }

            #[::tokio::test]
            async fn run_status_guards_finish_steps_and_step_attempts() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let (run, _) = f.start(0, run_status::RUNNING, &[("a", "ready"), ("b", "ready")]).await;
                let t = now() + Duration::seconds(1);
                let claimed = store.workflows.claim_steps("w1", t, t + Duration::seconds(10), 2).await.unwrap();
                assert_eq!(claimed.len(), 2);
                let finish = step(&run, "#finish", step_status::READY);
                let ended = |claimed: &StepRecord| {
                    let mut tried = attempt(claimed, "completed", t);
                    tried.worker = Some("w1".to_owned());
                    Transition {
                        guard: Some(guard(claimed)),
                        step_changes: vec![complete(&claimed.step_key, json!(1), t)],
                        attempt: Some(tried),
                        finish_step: Some(finish.clone()),
                        ..transition(&run, t)
                    }
                };
                // The first path to end finds the other still open: no finishing step yet.
                assert_eq!(store.workflows.commit_transitions(&[ended(&claimed[0])]).await.unwrap(), vec![true]);
                assert_eq!(keys(&f.steps(&run).await), ["a", "b"]);
                // The last one schedules it, once.
                let again = Transition { finish_step: Some(finish.clone()), ..transition(&run, t) };
                assert_eq!(
                    store.workflows.commit_transitions(&[ended(&claimed[1]), again]).await.unwrap(),
                    vec![true, true]
                );
                assert_eq!(keys(&f.steps(&run).await), ["a", "b", "#finish"]);
                // A finishing step of another run is refused.
                let (other, _) = f.start(0, run_status::RUNNING, &[]).await;
                let foreign = Transition { finish_step: Some(finish.clone()), ..transition(&other, t) };
                assert_eq!(store.workflows.commit_transitions(&[foreign]).await.unwrap(), vec![false]);
                assert!(f.steps(&other).await.is_empty());

                // A transition guarded on the run's status applies only in one of those statuses.
                let pause = |from: &str| Transition {
                    run_change: Some(RunChange {
                        status: run_status::PAUSED.to_owned(),
                        output: None,
                        error: None,
                        started_at: None,
                        completed_at: None,
                    }),
                    events: vec![event(Some(scope.org_id()), "workflow.run.paused")],
                    run_status_in: vec![from.to_owned()],
                    ..transition(&run, t)
                };
                let before = f.outbox().await.len();
                assert_eq!(store.workflows.commit_transitions(&[pause("failed")]).await.unwrap(), vec![false]);
                assert_eq!(store.workflows.get_run(scope, run.id).await.unwrap().unwrap().status, "running");
                assert_eq!(f.outbox().await.len(), before, "a refused transition announced something");
                let results = store.workflows.commit_transitions(&[pause("running"), pause("running")]).await.unwrap();
                assert_eq!(results, vec![true, false], "the second sees the first's status");
                assert_eq!(store.workflows.get_run(scope, run.id).await.unwrap().unwrap().status, "paused");
                assert_eq!(unified_execution(store, run.id).await.unwrap().unwrap().status, "paused");

                // One step's attempts, with the worker, a page at a time.
                let attempts = store.workflows.list_step_attempts(scope, run.id, "a", None, 10).await.unwrap();
                assert_eq!(attempts.len(), 1);
                assert_eq!((attempts[0].attempt, attempts[0].worker.as_deref()), (1, Some("w1")));
                assert!(store.workflows.list_step_attempts(scope, run.id, "a", Some(1), 10).await.unwrap().is_empty());
                let outsider = OrgScope(OrgId(Uuid::now_v7()));
                assert!(store.workflows.list_step_attempts(outsider, run.id, "a", None, 10).await.unwrap().is_empty());
            }
        }
    };
}
