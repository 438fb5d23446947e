//! Conformance tests of `WorkflowRepo`'s fast paths: successors claimed in their predecessor's
//! commit, scoped step reads, and the set-based group commit of plain results.

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
        }
    };
}
