//! Conformance tests of `WorkflowRepo`'s step queue: claims by priority, leases and heartbeats,
//! guarded group commits, joins, signals and timers.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_workflow_queue {
    () => {
        mod workflow_queue {
            use $crate::conformance::prelude::*;

            $crate::__store_conformance_workflow_fixture!();

            #[::tokio::test]
            async fn claims_take_due_ready_steps_of_running_runs_by_priority() {
                let f = fixture().await;
                let store = &f.store;
                let t = now();
                let lease = Duration::seconds(30);
                let (low, _) = f
                    .start(
                        0,
                        run_status::RUNNING,
                        &[
                            ("a", "ready"),
                            ("b", "ready"),
                            ("later", "ready"),
                            ("join", "pending"),
                            ("timer", "waiting"),
                            ("done", "completed"),
                        ],
                    )
                    .await;
                let (high, _) = f.start(10, run_status::RUNNING, &[("a", "ready")]).await;
                let (paused, _) = f.start(99, run_status::PAUSED, &[("a", "ready")]).await;
                let (pending, _) = f.start(99, run_status::PENDING, &[("a", "ready")]).await;
                // Due times: low.a oldest, then high.a, then low.b; `later` is in the future.
                let mut plan = Vec::new();
                for (run, key, due) in [
                    (&low, "a", t - Duration::seconds(3)),
                    (&high, "a", t - Duration::seconds(2)),
                    (&low, "b", t - Duration::seconds(1)),
                    (&low, "later", t + Duration::seconds(60)),
                    (&paused, "a", t - Duration::seconds(10)),
                    (&pending, "a", t - Duration::seconds(10)),
                ] {
                    let set = StepChange::Set {
                        step_key: key.to_owned(),
                        status: step_status::READY.to_owned(),
                        output: None,
                        error: None,
                        ready_at: Some(due),
                        wake_at: None,
                        completed_at: None,
                    };
                    plan.push(Transition { step_changes: vec![set], ..transition(run, t - Duration::seconds(20)) });
                }
                assert_eq!(store.workflows.commit_transitions(&plan).await.unwrap(), vec![true; 6]);

                assert!(store.workflows.claim_steps("w1", t, t + lease, 0).await.unwrap().is_empty());
                let first = store.workflows.claim_steps("w1", t, t + lease, 2).await.unwrap();
                assert_eq!(
                    first.iter().map(|s| (s.run_id, s.step_key.as_str())).collect::<Vec<_>>(),
                    [(high.id, "a"), (low.id, "a")]
                );
                for claimed in &first {
                    assert_eq!(claimed.status, "running");
                    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
                    assert_eq!(claimed.lease_expires_at, Some(t + lease));
                    assert_eq!((claimed.attempt, claimed.started_at, claimed.updated_at), (1, Some(t), t));
                }
                assert_eq!(f.step(&low, "a").await, first[1], "returned as stored");
                let second = store.workflows.claim_steps("w2", t, t + lease, 10).await.unwrap();
                assert_eq!(second.iter().map(|s| (s.run_id, s.step_key.as_str())).collect::<Vec<_>>(), [(low.id, "b")]);
                // Nothing else is due, and a leased step is not claimed again before its lease ends.
                assert!(store.workflows.claim_steps("w3", t + lease, t + lease * 2, 10).await.unwrap().is_empty());
                for (key, status) in
                    [("join", "pending"), ("timer", "waiting"), ("done", "completed"), ("later", "ready")]
                {
                    assert_eq!(f.step(&low, key).await.status, status);
                }
                assert_eq!(f.step(&paused, "a").await.status, "ready");
                assert_eq!(f.step(&pending, "a").await.status, "ready");

                // After the leases expire, the interrupted attempts are claimed again, attempt + 1.
                let after = t + lease + Duration::seconds(1);
                let again = store.workflows.claim_steps("w3", after, after + lease, 10).await.unwrap();
                assert_eq!(
                    again.iter().map(|s| (s.run_id, s.step_key.as_str())).collect::<Vec<_>>(),
                    [(high.id, "a"), (low.id, "a"), (low.id, "b")]
                );
                assert!(again.iter().all(|s| s.attempt == 2 && s.lease_owner.as_deref() == Some("w3")));
                assert!(again.iter().all(|s| s.started_at == Some(after) && s.lease_expires_at == Some(after + lease)));

                // A paused run's steps become claimable when it runs again.
                let resume = Transition {
                    run_change: Some(RunChange {
                        status: run_status::RUNNING.to_owned(),
                        output: None,
                        error: None,
                        started_at: Some(t),
                        completed_at: None,
                    }),
                    ..transition(&paused, t)
                };
                assert_eq!(store.workflows.commit_transitions(&[resume]).await.unwrap(), vec![true]);
                let resumed = store.workflows.claim_steps("w4", after, after + lease, 10).await.unwrap();
                assert_eq!(keys(&resumed), ["a"]);
                assert_eq!(resumed[0].run_id, paused.id);
                assert_eq!(resumed[0].priority, 99);
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_claimers_never_get_the_same_step() {
                let f = fixture().await;
                let mut expected = Vec::new();
                for n in 0..4 {
                    let steps: Vec<String> = (0..15).map(|k| format!("s{k}")).collect();
                    let pairs: Vec<(&str, &str)> = steps.iter().map(|k| (k.as_str(), "ready")).collect();
                    let (run, _) = f.start(n, run_status::RUNNING, &pairs).await;
                    expected.extend(steps.into_iter().map(|k| (run.id, k)));
                }
                let t = now() + Duration::seconds(1);
                let mut tasks = Vec::new();
                for worker in 0..4 {
                    let store = f.store.clone();
                    tasks.push(::tokio::spawn(async move {
                        let owner = format!("worker-{worker}");
                        let mut mine = Vec::new();
                        loop {
                            let claimed =
                                store.workflows.claim_steps(&owner, t, t + Duration::minutes(5), 3).await.unwrap();
                            if claimed.is_empty() {
                                return mine;
                            }
                            assert!(claimed.iter().all(|s| s.lease_owner.as_deref() == Some(owner.as_str())));
                            mine.extend(claimed.into_iter().map(|s| (s.run_id, s.step_key)));
                        }
                    }));
                }
                let mut claimed = Vec::new();
                for task in tasks {
                    claimed.extend(task.await.unwrap());
                }
                let total = claimed.len();
                claimed.sort();
                claimed.dedup();
                assert_eq!(claimed.len(), total, "a step was claimed twice");
                expected.sort();
                assert_eq!(claimed, expected, "every ready step was claimed");
            }

            #[::tokio::test]
            async fn a_stale_lease_holder_writes_nothing() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let (run, _) = f.start(0, run_status::RUNNING, &[("fetch", "ready")]).await;
                let t = now() + Duration::seconds(1);
                let lease = Duration::seconds(10);
                let stale = store.workflows.claim_steps("w1", t, t + lease, 1).await.unwrap().remove(0);
                let later = t + lease + Duration::seconds(1);
                let current = store.workflows.claim_steps("w2", later, later + lease, 1).await.unwrap().remove(0);
                assert_eq!((stale.attempt, current.attempt), (1, 2));

                let outcome = |claimed: &StepRecord, at: DateTime<Utc>, name: &str| Transition {
                    guard: Some(guard(claimed)),
                    step_changes: vec![complete("fetch", json!({ "by": name }), at)],
                    new_steps: vec![step(&run, &format!("after-{name}"), step_status::READY)],
                    attempt: Some(attempt(claimed, "completed", at)),
                    run_change: Some(RunChange {
                        status: run_status::COMPLETED.to_owned(),
                        output: Some(json!({ "by": name })),
                        error: None,
                        started_at: None,
                        completed_at: Some(at),
                    }),
                    events: vec![event(Some(scope.org_id()), &format!("step.completed.{name}"))],
                    ..transition(&run, at)
                };
                let before = f.steps(&run).await;
                let stale_commit = outcome(&stale, later, "stale");
                assert_eq!(
                    store.workflows.commit_transitions(std::slice::from_ref(&stale_commit)).await.unwrap(),
                    vec![false]
                );
                assert_eq!(f.steps(&run).await, before, "the stale owner changed a step");
                assert!(store.workflows.list_attempts(scope, run.id).await.unwrap().is_empty());
                assert_eq!(store.workflows.get_run(scope, run.id).await.unwrap(), Some(run.clone()));
                assert!(f.outbox().await.is_empty());
                assert_eq!(unified_execution(store, run.id).await.unwrap().unwrap().status, "running");

                // Owner right but attempt wrong is stale too; a transition without a guard is not checked.
                let mut wrong_attempt = outcome(&current, later, "wrong");
                wrong_attempt.guard.as_mut().unwrap().attempt = 1;
                let done_at = later + Duration::seconds(2);
                let current_commit = outcome(&current, done_at, "current");
                let results = store
                    .workflows
                    .commit_transitions(&[wrong_attempt, stale_commit, current_commit.clone()])
                    .await
                    .unwrap();
                assert_eq!(results, vec![false, false, true]);
                let fetched = f.step(&run, "fetch").await;
                assert_eq!(fetched.status, "completed");
                assert_eq!(fetched.output, Some(json!({ "by": "current" })));
                assert_eq!((fetched.lease_owner, fetched.lease_expires_at), (None, None), "lease cleared");
                assert_eq!((fetched.completed_at, fetched.updated_at, fetched.attempt), (Some(done_at), done_at, 2));
                assert_eq!(keys(&f.steps(&run).await), ["fetch", "after-current"]);
                let attempts = store.workflows.list_attempts(scope, run.id).await.unwrap();
                assert_eq!(attempts, vec![attempt(&current, "completed", done_at)]);
                assert_eq!(f.outbox().await, current_commit.events);
                // The same guard again: the step is no longer running, so it is refused.
                assert_eq!(store.workflows.commit_transitions(&[current_commit]).await.unwrap(), vec![false]);
                assert_eq!(f.outbox().await.len(), 1);
            }

            #[::tokio::test]
            async fn fifty_transitions_commit_in_one_call() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let mut runs = Vec::new();
                for _ in 0..5 {
                    let steps: Vec<String> = (0..10).map(|k| format!("s{k}")).collect();
                    let pairs: Vec<(&str, &str)> = steps.iter().map(|k| (k.as_str(), "ready")).collect();
                    runs.push(f.start(0, run_status::RUNNING, &pairs).await.0);
                }
                let t = now() + Duration::seconds(1);
                let claimed = store.workflows.claim_steps("w1", t, t + Duration::minutes(1), 100).await.unwrap();
                assert_eq!(claimed.len(), 50);
                let done = t + Duration::seconds(1);
                let batch: Vec<Transition> = claimed
                    .iter()
                    .map(|c| {
                        let run = runs.iter().find(|r| r.id == c.run_id).unwrap();
                        Transition {
                            guard: Some(guard(c)),
                            step_changes: vec![complete(&c.step_key, json!({ "n": c.step_key }), done)],
                            new_steps: vec![step(run, &format!("{}.next", c.step_key), step_status::READY)],
                            attempt: Some(attempt(c, "completed", done)),
                            events: vec![event(Some(scope.org_id()), "workflow.step.completed")],
                            ..transition(run, done)
                        }
                    })
                    .collect();
                assert_eq!(store.workflows.commit_transitions(&batch).await.unwrap(), vec![true; 50]);
                for run in &runs {
                    let steps = f.steps(run).await;
                    assert_eq!(steps.len(), 20);
                    assert_eq!(steps.iter().filter(|s| s.status == "completed").count(), 10);
                    assert!(steps[10..].iter().all(|s| s.step_key.ends_with(".next") && s.status == "ready"));
                    assert_eq!(store.workflows.list_attempts(scope, run.id).await.unwrap().len(), 10);
                }
                let events = f.outbox().await;
                assert_eq!(events, batch.iter().flat_map(|t| t.events.clone()).collect::<Vec<_>>());
                assert_eq!(store.workflows.commit_transitions(&[]).await.unwrap(), Vec::<bool>::new());
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_arrivals_fire_a_join_exactly_once() {
                let f = fixture().await;
                for round in 0..3 {
                    let mut run = run(&f.wf, f.ann.id);
                    run.priority = round;
                    let mut steps: Vec<StepRecord> =
                        ["b0", "b1", "b2"].iter().map(|k| step(&run, k, step_status::READY)).collect();
                    let mut join = step(&run, "join", step_status::PENDING);
                    join.remaining = 3;
                    steps.push(join);
                    f.store.workflows.create_run(&run, &steps, &Effects::none()).await.unwrap();
                    let t = now() + Duration::seconds(1);
                    let claimed = f.store.workflows.claim_steps("w", t, t + Duration::minutes(1), 10).await.unwrap();
                    assert_eq!(claimed.len(), 3);
                    let mut tasks = Vec::new();
                    let mut arrivals = Vec::new();
                    for (n, branch) in claimed.into_iter().enumerate() {
                        let store = f.store.clone();
                        let at = t + Duration::milliseconds(10 * (n as i64 + 1));
                        arrivals.push(at);
                        let arrive = Transition {
                            guard: Some(guard(&branch)),
                            step_changes: vec![
                                complete(&branch.step_key, json!(n), at),
                                StepChange::ArriveAtJoin { step_key: "join".to_owned(), at },
                            ],
                            ..transition(&run, at)
                        };
                        tasks.push(::tokio::spawn(async move {
                            store.workflows.commit_transitions(&[arrive]).await.unwrap()
                        }));
                    }
                    for task in tasks {
                        assert_eq!(task.await.unwrap(), vec![true]);
                    }
                    let join = f.step(&run, "join").await;
                    assert_eq!((join.status.as_str(), join.remaining), ("ready", 0));
                    assert!(arrivals.contains(&join.ready_at.unwrap()), "ready_at is the last arrival's");
                    let later = t + Duration::seconds(1);
                    let fired =
                        f.store.workflows.claim_steps("w", later, later + Duration::minutes(1), 10).await.unwrap();
                    assert_eq!(keys(&fired), ["join"], "the join fired once");
                    // A late extra arrival changes nothing.
                    let extra = Transition {
                        step_changes: vec![StepChange::ArriveAtJoin { step_key: "join".to_owned(), at: later }],
                        ..transition(&run, later)
                    };
                    assert_eq!(f.store.workflows.commit_transitions(&[extra]).await.unwrap(), vec![true]);
                    let join = f.step(&run, "join").await;
                    assert_eq!((join.status.as_str(), join.remaining, join.attempt), ("running", 0, 1));
                }
            }

            #[::tokio::test]
            async fn new_steps_are_idempotent_and_run_changes_reach_unified_executions() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                let (run, _) = f.start(3, run_status::RUNNING, &[("a", "completed")]).await;
                let t = now() + Duration::seconds(1);
                let mut next = step(&run, "b", step_status::PENDING);
                next.remaining = 2;
                let first = Transition { new_steps: vec![next.clone()], ..transition(&run, t) };
                let mut changed = next.clone();
                changed.status = step_status::READY.to_owned();
                changed.remaining = 0;
                let second = Transition {
                    new_steps: vec![changed, step(&run, "c", step_status::READY)],
                    events: vec![event(Some(scope.org_id()), "scheduled")],
                    ..transition(&run, t)
                };
                assert_eq!(store.workflows.commit_transitions(&[first, second]).await.unwrap(), vec![true, true]);
                let steps = f.steps(&run).await;
                assert_eq!(keys(&steps), ["a", "b", "c"]);
                assert_eq!(steps[1], next, "an existing key is left as it is");

                // A run change keeps the first start time and is mirrored into unified_executions.
                let done = t + Duration::seconds(5);
                let finish = Transition {
                    run_change: Some(RunChange {
                        status: run_status::FAILED.to_owned(),
                        output: Some(json!({ "partial": true })),
                        error: Some(json!({ "code": "step_failed", "message": "dealer API returned 503" })),
                        started_at: Some(done),
                        completed_at: Some(done),
                    }),
                    events: vec![event(Some(scope.org_id()), "workflow.run.failed")],
                    ..transition(&run, done)
                };
                assert_eq!(
                    store.workflows.commit_transitions(std::slice::from_ref(&finish)).await.unwrap(),
                    vec![true]
                );
                let stored = store.workflows.get_run(scope, run.id).await.unwrap().unwrap();
                assert_eq!(stored.status, "failed");
                assert_eq!(stored.output, Some(json!({ "partial": true })));
                assert_eq!(stored.error.as_ref().unwrap()["code"], json!("step_failed"));
                assert_eq!(
                    (stored.started_at, stored.completed_at, stored.updated_at),
                    (run.started_at, Some(done), done)
                );
                assert_eq!(
                    (stored.inputs, stored.priority, stored.created_at),
                    (run.inputs.clone(), 3, run.created_at)
                );
                let unified = unified_execution(store, run.id).await.unwrap().unwrap();
                assert_eq!(unified.status, "failed");
                assert_eq!(unified.completed_at, Some(done));
                assert_eq!(unified.error_message.as_deref(), Some("dealer API returned 503"));
                let events: Vec<String> = f.outbox().await.into_iter().map(|e| e.event_type).collect();
                assert_eq!(events, ["scheduled", "workflow.run.failed"]);

                // A run started later gets its first start time; a string error is the message.
                let mut fresh = self::run(&f.wf, f.ann.id);
                fresh.status = run_status::PENDING.to_owned();
                fresh.started_at = None;
                store.workflows.create_run(&fresh, &[], &Effects::none()).await.unwrap();
                let start = Transition {
                    run_change: Some(RunChange {
                        status: run_status::CANCELLED.to_owned(),
                        output: None,
                        error: Some(json!("cancelled by ann")),
                        started_at: Some(done),
                        completed_at: Some(done),
                    }),
                    ..transition(&fresh, done)
                };
                assert_eq!(store.workflows.commit_transitions(&[start]).await.unwrap(), vec![true]);
                assert_eq!(store.workflows.get_run(scope, fresh.id).await.unwrap().unwrap().started_at, Some(done));
                let unified = unified_execution(store, fresh.id).await.unwrap().unwrap();
                assert_eq!(
                    (unified.status.as_str(), unified.error_message.as_deref()),
                    ("cancelled", Some("cancelled by ann"))
                );

                // A transition that fails on a constraint is skipped without spoiling its batch.
                let duplicate = event(Some(scope.org_id()), "dup");
                let failing = Transition {
                    step_changes: vec![complete("c", json!(1), done)],
                    events: vec![duplicate.clone(), duplicate],
                    ..transition(&run, done)
                };
                let fine =
                    Transition { new_steps: vec![step(&run, "d", step_status::READY)], ..transition(&run, done) };
                let unknown_run =
                    Transition { run_id: Uuid::now_v7(), org_id: None, at: done, ..Transition::default() };
                assert_eq!(
                    store.workflows.commit_transitions(&[failing, fine, unknown_run]).await.unwrap(),
                    vec![false, true, false]
                );
                assert_eq!(keys(&f.steps(&run).await), ["a", "b", "c", "d"]);
                assert_eq!(f.step(&run, "c").await.status, "ready", "the failed transition wrote nothing");
                assert_eq!(f.outbox().await.len(), 2);
            }

            #[::tokio::test]
            async fn signals_apply_once_and_waiting_runs_progress() {
                let f = fixture().await;
                let store = &f.store;
                let (run, _) = f.start(0, run_status::WAITING, &[("ask", "waiting"), ("other", "ready")]).await;
                let t = now() + Duration::seconds(1);
                // A run waiting on one step still has its other ready steps claimed.
                let claimed = store.workflows.claim_steps("worker", t, t + Duration::seconds(20), 10).await.unwrap();
                assert_eq!(keys(&claimed), ["other"]);
                // Two signals race for the same waiting step: the first applies, the second writes nothing.
                let signal = |output: serde_json::Value| Transition {
                    expect_status: Some(("ask".to_owned(), step_status::WAITING.to_owned())),
                    step_changes: vec![StepChange::Set {
                        step_key: "ask".to_owned(),
                        status: step_status::READY.to_owned(),
                        output: Some(output),
                        error: None,
                        ready_at: Some(t),
                        wake_at: None,
                        completed_at: None,
                    }],
                    ..transition(&run, t)
                };
                let applied = store
                    .workflows
                    .commit_transitions(&[signal(json!({"decision": "approved"})), signal(json!({"decision": "rejected"}))])
                    .await
                    .unwrap();
                assert_eq!(applied, vec![true, false]);
                let ask = f.step(&run, "ask").await;
                assert_eq!((ask.status.as_str(), ask.output), ("ready", Some(json!({"decision": "approved"}))));
                assert_eq!(store.workflows.commit_transitions(&[signal(json!({}))]).await.unwrap(), vec![false]);
                let missing = Transition {
                    expect_status: Some(("nope".to_owned(), step_status::WAITING.to_owned())),
                    ..transition(&run, t)
                };
                assert_eq!(store.workflows.commit_transitions(&[missing]).await.unwrap(), vec![false]);
            }

            #[::tokio::test]
            async fn timers_next_due_queue_depth_and_heartbeats() {
                let f = fixture().await;
                let (store, scope) = (&f.store, f.scope);
                assert_eq!(store.workflows.next_due().await.unwrap(), None);
                assert_eq!(store.workflows.queue_depth(now()).await.unwrap(), (0, None));
                let t = now();
                let (run, _) = f
                    .start(
                        0,
                        run_status::RUNNING,
                        &[
                            ("r1", "ready"),
                            ("r2", "ready"),
                            ("r3", "ready"),
                            ("w1", "waiting"),
                            ("w2", "waiting"),
                            ("w3", "waiting"),
                            ("signal", "waiting"),
                        ],
                    )
                    .await;
                let (paused, _) = f.start(0, run_status::PAUSED, &[("r", "ready")]).await;
                let mut setup = Vec::new();
                for (run, key, status, ready_at, wake_at) in [
                    (&run, "r1", "ready", Some(t - Duration::seconds(4)), None),
                    (&run, "r2", "ready", Some(t - Duration::seconds(2)), None),
                    (&run, "r3", "ready", Some(t + Duration::seconds(40)), None),
                    (&run, "w1", "waiting", None, Some(t + Duration::seconds(30))),
                    (&run, "w2", "waiting", None, Some(t - Duration::seconds(5))),
                    (&run, "w3", "waiting", None, Some(t - Duration::seconds(1))),
                    (&paused, "r", "ready", Some(t - Duration::seconds(60)), None),
                ] {
                    let set = StepChange::Set {
                        step_key: key.to_owned(),
                        status: status.to_owned(),
                        output: None,
                        error: None,
                        ready_at,
                        wake_at,
                        completed_at: None,
                    };
                    setup.push(Transition { step_changes: vec![set], ..transition(run, t) });
                }
                assert_eq!(store.workflows.commit_transitions(&setup).await.unwrap(), vec![true; 7]);

                // Timers: due ones oldest first; the signal step (no wake_at) is never due.
                let due = store.workflows.due_waiting_steps(t, 10).await.unwrap();
                assert_eq!(keys(&due), ["w2", "w3"]);
                assert_eq!(keys(&store.workflows.due_waiting_steps(t, 1).await.unwrap()), ["w2"]);
                assert!(store.workflows.due_waiting_steps(t - Duration::seconds(10), 10).await.unwrap().is_empty());
                let waiting = store.workflows.waiting_steps(scope, run.id).await.unwrap();
                assert_eq!(keys(&waiting), ["w1", "w2", "w3", "signal"]);

                // Event waits are found by their memo, per organization and event type.
                assert!(store.workflows.runs_waiting_for_event(scope, "lead.received").await.unwrap().is_empty());
                let memo = StepChange::Set {
                    step_key: "signal".to_owned(),
                    status: "waiting".to_owned(),
                    output: Some(json!({"waiting_for": "event", "event_type": "lead.received"})),
                    error: None,
                    ready_at: None,
                    wake_at: None,
                    completed_at: None,
                };
                let wait = Transition { step_changes: vec![memo], ..transition(&run, t) };
                assert_eq!(store.workflows.commit_transitions(&[wait]).await.unwrap(), vec![true]);
                assert_eq!(store.workflows.runs_waiting_for_event(scope, "lead.received").await.unwrap(), vec![run.id]);
                assert!(store.workflows.runs_waiting_for_event(scope, "lead.lost").await.unwrap().is_empty());
                let elsewhere = OrgScope(OrgId(Uuid::now_v7()));
                assert!(store.workflows.runs_waiting_for_event(elsewhere, "lead.received").await.unwrap().is_empty());

                // Queue depth counts due ready steps of running runs only.
                assert_eq!(store.workflows.queue_depth(t).await.unwrap(), (2, Some(t - Duration::seconds(4))));
                assert_eq!(
                    store.workflows.queue_depth(t - Duration::seconds(3)).await.unwrap(),
                    (1, Some(t - Duration::seconds(4)))
                );
                assert_eq!(store.workflows.queue_depth(t - Duration::seconds(9)).await.unwrap(), (0, None));
                assert_eq!(store.workflows.next_due().await.unwrap(), Some(t - Duration::seconds(5)), "w2's timer");

                // Claim the due ready steps and fire the due timers: next is r3 (t+40) vs w1 (t+30)
                // vs the leases (t+20).
                let claimed = store.workflows.claim_steps("worker", t, t + Duration::seconds(20), 10).await.unwrap();
                assert_eq!(keys(&claimed), ["r1", "r2"]);
                let fire: Vec<Transition> = ["w2", "w3"]
                    .iter()
                    .map(|key| Transition {
                        step_changes: vec![complete(key, json!("fired"), t)],
                        ..transition(&run, t)
                    })
                    .collect();
                assert_eq!(store.workflows.commit_transitions(&fire).await.unwrap(), vec![true, true]);
                assert_eq!(store.workflows.queue_depth(t).await.unwrap(), (0, None));
                assert_eq!(store.workflows.next_due().await.unwrap(), Some(t + Duration::seconds(20)), "the leases");

                // Heartbeats extend only leases the owner still holds, at their attempt.
                let until = t + Duration::seconds(60);
                let leases = vec![(run.id, "r1".to_owned(), 1), (run.id, "r2".to_owned(), 1)];
                assert_eq!(store.workflows.heartbeat("worker", &leases, until).await.unwrap(), 2);
                assert_eq!(
                    store.workflows.heartbeat("intruder", &leases, until + Duration::seconds(100)).await.unwrap(),
                    0
                );
                let stale = vec![
                    (run.id, "r1".to_owned(), 2),
                    (run.id, "w1".to_owned(), 0),
                    (Uuid::now_v7(), "r1".to_owned(), 1),
                ];
                assert_eq!(
                    store.workflows.heartbeat("worker", &stale, until + Duration::seconds(100)).await.unwrap(),
                    0
                );
                assert_eq!(store.workflows.heartbeat("worker", &[], until).await.unwrap(), 0);
                for key in ["r1", "r2"] {
                    let leased = f.step(&run, key).await;
                    assert_eq!((leased.lease_owner.as_deref(), leased.lease_expires_at), (Some("worker"), Some(until)));
                }
                assert_eq!(store.workflows.next_due().await.unwrap(), Some(t + Duration::seconds(30)), "w1's timer");
                // Not reclaimed while the extended lease holds.
                let at = t + Duration::seconds(25);
                assert!(
                    store.workflows.claim_steps("other", at, at + Duration::seconds(20), 10).await.unwrap().is_empty()
                );
            }
        }
    };
}
