//! Conformance tests of `WorkflowRepo`'s fast paths: successors claimed in their predecessor's
//! commit, scoped step reads, and the set-based group commit of guarded results (join arrivals
//! of one batch, run ends, finishing steps), and group-committed run starts.

/// Part of [`store_conformance_suite!`](crate::store_conformance_suite); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_workflow_fast_paths {
    () => {
        mod workflow_fast_paths {
            use $crate::conformance::prelude::*;

            $crate::__store_conformance_workflow_fixture!();

            #[::tokio::test]
            async fn a_commit_claims_its_due_successors_while_the_run_runs() {
                let f = fixture().await;
                let store = &f.store;
                let t = now() + Duration::seconds(1);
                let lease = t + Duration::seconds(30);
                let (run, _) = f.start(0, run_status::RUNNING, &[("a", "ready"), ("taken", "completed")]).await;
                let claimed = store.workflows.claim_steps("w1", t, lease, 1).await.unwrap();
                assert_eq!(keys(&claimed), ["a"]);
                let due = |key: &str| plan_step(&run, key, t);
                let mut later = due("later");
                later.ready_at = Some(t + Duration::seconds(60));
                let result = Transition {
                    guard: Some(guard(&claimed[0])),
                    step_changes: vec![complete("a", json!(1), t)],
                    new_steps: vec![due("b"), due("c"), due("d"), later, due("taken")],
                    claim_after: Some(ClaimAfter {
                        owner: "w1".to_owned(),
                        lease_until: lease,
                        keys: vec!["b".into(), "c".into(), "later".into(), "taken".into(), "nowhere".into()],
                    }),
                    ..transition(&run, t)
                };
                // With another transition of the run in the batch, each is applied on its own.
                let committed = store.workflows.commit_and_claim(&[result, transition(&run, t)]).await.unwrap();
                assert!(committed[0].applied && committed[1].applied);
                let mut got = keys(&committed[0].claimed);
                got.sort();
                // Not `d` (not asked), `later` (not due), `taken` (already there, completed), `nowhere`.
                assert_eq!(got, ["b", "c"]);
                for claimed in &committed[0].claimed {
                    assert_eq!(*claimed, f.step(&run, &claimed.step_key).await, "returned as stored");
                    assert_eq!((claimed.status.as_str(), claimed.attempt), ("running", 1));
                    assert_eq!((claimed.lease_owner.as_deref(), claimed.lease_expires_at), (Some("w1"), Some(lease)));
                    assert_eq!(claimed.started_at, Some(t));
                }
                assert_eq!(f.step(&run, "d").await.status, "ready");
                assert_eq!(keys(&store.workflows.claim_steps("w2", t, lease, 10).await.unwrap()), ["d"]);

                // A paused run: the successors are written, not claimed.
                let (paused, _) = f.start(0, run_status::RUNNING, &[("a", "ready")]).await;
                let claimed = store.workflows.claim_steps("w1", t, lease, 1).await.unwrap();
                let pause = Transition {
                    run_change: Some(RunChange {
                        status: run_status::PAUSED.to_owned(),
                        output: None,
                        error: None,
                        started_at: None,
                        completed_at: None,
                    }),
                    ..transition(&paused, t)
                };
                assert_eq!(store.workflows.commit_transitions(&[pause]).await.unwrap(), vec![true]);
                let result = Transition {
                    guard: Some(guard(&claimed[0])),
                    step_changes: vec![complete("a", json!(1), t)],
                    new_steps: vec![plan_step(&paused, "b", t)],
                    claim_after: Some(ClaimAfter {
                        owner: "w1".to_owned(),
                        lease_until: lease,
                        keys: vec!["b".into()],
                    }),
                    ..transition(&paused, t)
                };
                // Alone of its run, a plain result takes the set-based path: same answer.
                let committed = store.workflows.commit_and_claim(std::slice::from_ref(&result)).await.unwrap();
                assert!(committed[0].applied && committed[0].claimed.is_empty());
                assert_eq!(f.step(&paused, "b").await.status, "ready");
                // A transition that does not apply claims nothing.
                let committed = store.workflows.commit_and_claim(&[result]).await.unwrap();
                assert_eq!(committed[0], Committed::default());
            }

            #[::tokio::test]
            async fn scoped_steps_are_the_top_level_and_the_given_scopes() {
                let f = fixture().await;
                let (run, _) = f
                    .start(
                        0,
                        run_status::RUNNING,
                        &[
                            ("each", "waiting"),
                            ("each#join", "pending"),
                            ("each[0]/work", "ready"),
                            ("each[1]/work", "ready"),
                            ("each[10]/work", "ready"),
                            ("par/left/x_y", "ready"),
                            ("par/left/x_y2", "ready"),
                            ("par/lefty/x", "ready"),
                        ],
                    )
                    .await;
                let scoped = |prefixes: &[&str]| {
                    let prefixes: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
                    let store = f.store.clone();
                    let scope = f.scope;
                    async move { keys(&store.workflows.list_scoped_steps(scope, run.id, &prefixes).await.unwrap()) }
                };
                assert_eq!(scoped(&[]).await, ["each", "each#join"]);
                assert_eq!(scoped(&["each[1]/"]).await, ["each", "each#join", "each[1]/work"]);
                assert_eq!(
                    scoped(&["par/left/", "each[0]/"]).await,
                    ["each", "each#join", "each[0]/work", "par/left/x_y", "par/left/x_y2"]
                );
                let other = OrgScope(OrgId(Uuid::now_v7()));
                assert!(f.store.workflows.list_scoped_steps(other, run.id, &[]).await.unwrap().is_empty());
            }

            #[::tokio::test]
            async fn a_bad_result_in_a_set_based_batch_is_skipped_alone() {
                let f = fixture().await;
                let store = &f.store;
                let t = now() + Duration::seconds(1);
                let (good_run, _) = f.start(0, run_status::RUNNING, &[("a", "ready")]).await;
                let (bad_run, _) = f.start(0, run_status::RUNNING, &[("a", "ready")]).await;
                let claimed = store.workflows.claim_steps("w1", t, t + Duration::seconds(30), 2).await.unwrap();
                assert_eq!(claimed.len(), 2);
                let result = |claimed: &StepRecord, attempt_key: &str| {
                    let run = if claimed.run_id == good_run.id { &good_run } else { &bad_run };
                    Transition {
                        guard: Some(guard(claimed)),
                        step_changes: vec![complete("a", json!(1), t)],
                        new_steps: vec![plan_step(run, "b", t)],
                        attempt: Some(AttemptRecord {
                            run_id: run.id,
                            step_key: attempt_key.to_owned(),
                            attempt: 1,
                            outcome: "completed".to_owned(),
                            error: None,
                            started_at: t,
                            finished_at: t,
                            worker: Some("w1".to_owned()),
                        }),
                        ..transition(run, t)
                    }
                };
                let batch: Vec<Transition> = claimed
                    .iter()
                    .map(|c| result(c, if c.run_id == good_run.id { "a" } else { "no-such-step" }))
                    .collect();
                let applied = store.workflows.commit_transitions(&batch).await.unwrap();
                let expected: Vec<bool> = claimed.iter().map(|c| c.run_id == good_run.id).collect();
                assert_eq!(applied, expected);
                assert_eq!(keys(&f.steps(&good_run).await), ["a", "b"]);
                assert_eq!(f.step(&good_run, "a").await.status, "completed");
                assert_eq!(store.workflows.list_attempts(f.scope, good_run.id).await.unwrap().len(), 1);
                assert_eq!(keys(&f.steps(&bad_run).await), ["a"]);
                assert_eq!(f.step(&bad_run, "a").await.status, "running", "nothing of the bad one written");
            }

            #[::tokio::test]
            async fn arrivals_of_one_batch_add_up_at_their_join() {
                let f = fixture().await;
                let store = &f.store;
                let t = now() + Duration::seconds(1);
                let lease = t + Duration::seconds(30);
                let mut run = run(&f.wf, f.ann.id);
                run.status = run_status::RUNNING.to_owned();
                let mut steps: Vec<StepRecord> = ["b1", "b2", "b3"].iter().map(|k| step(&run, k, "ready")).collect();
                let mut join = step(&run, "join", "pending");
                join.remaining = 3;
                steps.push(join);
                store.workflows.create_run(&run, &steps, &Effects::none()).await.unwrap();
                let claimed = store.workflows.claim_steps("w1", t, lease, 10).await.unwrap();
                assert_eq!(claimed.len(), 3);
                let arrive = |claimed: &StepRecord, at: DateTime<Utc>| Transition {
                    guard: Some(guard(claimed)),
                    step_changes: vec![
                        complete(&claimed.step_key, json!(1), at),
                        StepChange::ArriveAtJoin { step_key: "join".to_owned(), at },
                    ],
                    ..transition(&run, at)
                };
                let (t1, t2) = (t + Duration::milliseconds(5), t + Duration::milliseconds(9));
                let first = vec![arrive(&claimed[0], t2), arrive(&claimed[1], t1)];
                assert_eq!(store.workflows.commit_transitions(&first).await.unwrap(), vec![true, true]);
                let join = f.step(&run, "join").await;
                assert_eq!((join.status.as_str(), join.remaining), ("pending", 1), "two arrivals counted");
                // The last arrival, and a repeated one whose guard no longer holds, in one batch.
                let t3 = t + Duration::milliseconds(20);
                let last = vec![arrive(&claimed[2], t3), arrive(&claimed[0], t3)];
                assert_eq!(store.workflows.commit_transitions(&last).await.unwrap(), vec![true, false]);
                let join = f.step(&run, "join").await;
                assert_eq!((join.status.as_str(), join.remaining, join.ready_at), ("ready", 0, Some(t3)));
                for key in ["b1", "b2", "b3"] {
                    assert_eq!(f.step(&run, key).await.status, "completed");
                }
                let fired = store.workflows.claim_steps("w1", t3, lease, 10).await.unwrap();
                assert_eq!(keys(&fired), ["join"], "the join fired once");
            }

            #[::tokio::test]
            async fn a_batch_ends_runs_and_schedules_their_finishing_steps() {
                let f = fixture().await;
                let store = &f.store;
                let t = now() + Duration::seconds(1);
                let lease = t + Duration::seconds(30);
                let (busy, _) = f.start(0, run_status::RUNNING, &[("x", "ready"), ("y", "ready")]).await;
                let (done, _) = f.start(0, run_status::RUNNING, &[("x", "ready")]).await;
                let claimed = store.workflows.claim_steps("w1", t, lease, 10).await.unwrap();
                assert_eq!(claimed.len(), 3);
                let x_of = |run: &RunRecord| claimed.iter().find(|c| c.run_id == run.id && c.step_key == "x").unwrap();
                let end_path = |run: &RunRecord| Transition {
                    guard: Some(guard(x_of(run))),
                    step_changes: vec![complete("x", json!(1), t)],
                    finish_step: Some(plan_step(run, "#finish", t)),
                    ..transition(run, t)
                };
                let applied = store.workflows.commit_transitions(&[end_path(&busy), end_path(&done)]).await.unwrap();
                assert_eq!(applied, vec![true, true]);
                assert_eq!(keys(&f.steps(&busy).await), ["x", "y"], "`y` is still running: no finishing step");
                assert_eq!(keys(&f.steps(&done).await), ["x", "#finish"]);

                let finishing = store.workflows.claim_steps("w1", t, lease, 10).await.unwrap();
                assert_eq!(keys(&finishing), ["#finish"]);
                let finish = |attempt_at: DateTime<Utc>| Transition {
                    guard: Some(guard(&finishing[0])),
                    step_changes: vec![complete("#finish", json!(null), attempt_at)],
                    run_change: Some(RunChange {
                        output: Some(json!({"ok": true})),
                        ..end_run(run_status::COMPLETED, attempt_at)
                    }),
                    events: vec![SystemEvent::new("workflow.run.completed", "autmatrix", Some(done.org_id), json!({}))],
                    run_status_in: vec![run_status::RUNNING.to_owned()],
                    ..transition(&done, attempt_at)
                };
                assert_eq!(store.workflows.commit_transitions(&[finish(t)]).await.unwrap(), vec![true]);
                let stored = store.workflows.get_run(f.scope, done.id).await.unwrap().unwrap();
                assert_eq!((stored.status.as_str(), stored.output), ("completed", Some(json!({"ok": true}))));
                assert_eq!(stored.completed_at, Some(t));
                let events: Vec<String> = f.outbox().await.into_iter().map(|e| e.event_type).collect();
                assert_eq!(events, ["workflow.run.completed"]);
                // The run has ended: the same transition again (guard aside) does not apply.
                assert_eq!(store.workflows.commit_transitions(&[finish(t)]).await.unwrap(), vec![false]);
                assert_eq!(f.outbox().await.len(), 1, "nothing of it written");
            }

            #[::tokio::test]
            async fn run_changes_of_one_batch_apply_only_under_their_run_status() {
                let f = fixture().await;
                let store = &f.store;
                let t = now() + Duration::seconds(1);
                let lease = t + Duration::seconds(30);
                let (first, _) = f.start(0, run_status::RUNNING, &[("x", "ready"), ("y", "ready")]).await;
                let (second, _) = f.start(0, run_status::RUNNING, &[("z", "ready")]).await;
                let claimed = store.workflows.claim_steps("w1", t, lease, 10).await.unwrap();
                assert_eq!(claimed.len(), 3);
                let held = |key: &str| claimed.iter().find(|c| c.step_key == key).unwrap();
                let end = |run: &RunRecord, key: &str, status: &str, event: &str| Transition {
                    guard: Some(guard(held(key))),
                    step_changes: vec![complete(key, json!(key), t)],
                    run_change: Some(end_run(status, t)),
                    events: vec![SystemEvent::new(event, "autmatrix", Some(run.org_id), json!({}))],
                    run_status_in: vec![run_status::RUNNING.to_owned(), run_status::WAITING.to_owned()],
                    ..transition(run, t)
                };
                let cancel = end(&first, "x", run_status::CANCELLED, "workflow.run.cancelled");
                assert_eq!(store.workflows.commit_transitions(&[cancel]).await.unwrap(), vec![true]);
                // `y`'s guard still holds, but its run is no longer running: it alone does not apply.
                let late = end(&first, "y", run_status::COMPLETED, "workflow.run.completed");
                let other = end(&second, "z", run_status::COMPLETED, "workflow.run.completed");
                assert_eq!(store.workflows.commit_transitions(&[late, other]).await.unwrap(), vec![false, true]);
                assert_eq!(f.step(&first, "y").await.status, "running", "nothing of it written");
                let first_now = store.workflows.get_run(f.scope, first.id).await.unwrap().unwrap();
                assert_eq!(first_now.status, "cancelled");
                let second_now = store.workflows.get_run(f.scope, second.id).await.unwrap().unwrap();
                assert_eq!((second_now.status.as_str(), second_now.completed_at), ("completed", Some(t)));
                assert_eq!(f.step(&second, "z").await.status, "completed");
                let events: Vec<String> = f.outbox().await.into_iter().map(|e| e.event_type).collect();
                assert_eq!(events, ["workflow.run.cancelled", "workflow.run.completed"]);
            }

            #[::tokio::test]
            async fn run_starts_of_one_batch_answer_each_on_its_own() {
                let f = fixture().await;
                let store = &f.store;
                let start = |receipt_key: Option<&str>| {
                    let mut run = run(&f.wf, f.ann.id);
                    run.status = run_status::RUNNING.to_owned();
                    let steps = vec![step(&run, "a", "ready")];
                    let event = SystemEvent::new("workflow.run.started", "autmatrix", Some(run.org_id), json!({}));
                    let receipt = receipt_key.map(|key| TriggerReceipt {
                        workflow_id: f.wf.id,
                        trigger_id: "hook".to_owned(),
                        key: key.to_owned(),
                        run_id: run.id,
                        expires_at: None,
                        created_at: now(),
                    });
                    NewRun { run, steps, effects: Effects::none().event(event), receipt, advance: None }
                };
                let manual = start(None);
                let mut foreign = start(None);
                foreign.run.workflow_id = Uuid::now_v7();
                let mut stray = start(None);
                stray.steps[0].run_id = manual.run.id;
                let hooked = start(Some("sig:1"));
                let replayed_in_batch = start(Some("sig:1"));
                let other_hook = start(Some("sig:2"));
                let batch =
                    vec![manual.clone(), foreign, stray, hooked.clone(), replayed_in_batch, other_hook.clone()];
                let outcome = store.workflows.create_runs(&batch).await.unwrap();
                let answers: Vec<String> = outcome
                    .iter()
                    .map(|o| match o {
                        Ok(written) => written.to_string(),
                        Err(StoreError::NotFound(_)) => "not found".to_owned(),
                        Err(other) => other.to_string(),
                    })
                    .collect();
                assert_eq!(answers, ["true", "not found", "not found", "true", "false", "true"]);
                for written in [&manual, &hooked, &other_hook] {
                    let run = store.workflows.get_run(f.scope, written.run.id).await.unwrap().unwrap();
                    assert_eq!(run, written.run);
                    assert_eq!(keys(&f.steps(&run).await), ["a"]);
                }
                let runs = store.workflows.list_runs(f.scope, &RunFilter::default(), PageRequest::default()).await.unwrap();
                assert_eq!(runs.len(), 3, "nothing of the others written");
                assert_eq!(f.outbox().await.len(), 3);

                // A replay in a later batch, next to a start whose run id exists already: the
                // set-based write fails on the duplicate and each goes alone.
                let replay = start(Some("sig:2"));
                let fresh = start(None);
                let outcome = store.workflows.create_runs(&[replay, manual.clone(), fresh.clone()]).await.unwrap();
                assert!(matches!(outcome[0], Ok(false)));
                assert!(matches!(outcome[1], Err(StoreError::Conflict(_))));
                assert!(matches!(outcome[2], Ok(true)));
                assert!(store.workflows.get_run(f.scope, fresh.run.id).await.unwrap().is_some());
                assert_eq!(f.outbox().await.len(), 4);
            }
        }
    };
}
