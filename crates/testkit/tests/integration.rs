//! End-to-end tests of the running server over HTTP, each run against SQLite and PostgreSQL.

#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test scenarios fail loudly")]

mod http;

/// Instantiates each listed scenario once per backend; attributes before a scenario (`#[ignore]`)
/// apply to both.
macro_rules! on_both_backends {
    ($($(#[$attribute:meta])* $module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $($(#[$attribute])* #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { crate::http::$module::$name(auterity_testkit::Backend::Sqlite).await; })*
        }
        mod postgres {
            $($(#[$attribute])* #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { crate::http::$module::$name(auterity_testkit::Backend::Postgres).await; })*
        }
    };
}

on_both_backends!(
    probes::health_ready_and_metrics,
    probes::openapi_document_declares_every_route,
    sessions::login_refresh_reuse_logout,
    sessions::password_change_ends_sessions,
    sessions::disabled_user_cannot_sign_in_or_use_tokens,
    bad_input::bad_credentials_and_tokens_are_4xx_problems,
    bad_input::bad_bodies_are_4xx_problems_and_change_nothing,
    api_keys::api_key_is_scoped_shown_once_and_revocable,
    matrix::every_route_enforces_its_declared_access,
    tenancy::nothing_leaks_across_organizations,
    mfa::totp_enrolment_login_and_recovery_codes,
    mfa::mfa_can_be_mandatory_per_role,
    throttle::repeated_failures_are_throttled_temporarily,
    admin::users_access_grants_and_audit_log,
    admin::self_signup_is_off_by_default_and_policy_is_enforced,
    events::auth_changes_are_published_through_the_outbox,
    restart::data_survives_a_restart,
    workflows::definitions_are_validated_versioned_and_published,
    workflows::http_condition_and_retries_run_durably,
    workflows::failures_timeouts_and_cancellation,
    workflows::parallel_foreach_and_delay,
    run_control::pause_resume_and_invalid_transitions,
    run_control::retry_from_failed_step_keeps_completed_steps,
    run_control::parallel_paths_complete_a_run_exactly_once,
    run_control::rerun_filters_and_pagination,
    run_control::live_updates_over_sse_and_websocket,
    run_control::coordinator_aliases_and_metrics,
    run_control::a_run_left_after_its_last_step_is_completed_after_restart,
    run_control::a_run_starts_with_its_entry_step_claimed,
    run_control::retry_restores_a_parallel_join,
    steps::approval_approve_reject_timeout_and_restart,
    steps::wait_event_matched_from_api_and_bus_and_timed_out,
    steps::subworkflow_success_failure_and_cancellation,
    steps::notify_webhook_and_email,
    steps::ai_chat_completion_and_unconfigured_email,
    steps::saga_compensates_in_reverse_completion_order,
    egress::egress_policy_limits_and_timeouts,
    egress::configured_default_denies_private_ranges,
    secrets::secrets_are_write_only_encrypted_and_redacted,
    variables::variables_are_set_listed_and_read_as_env,
    triggers::webhooks_are_signed_replay_guarded_and_rotatable,
    triggers::trigger_declarations_are_validated,
    triggers::cron_fires_on_schedule_and_missed_ticks_fire_once,
    triggers::event_triggers_start_one_run_per_event,
    triggers::flow_limits_hold_and_priority_orders_pending_runs,
    triggers::pending_runs_survive_a_restart,
    templates::template_library_lists_instantiates_and_validates,
    templates::dms_inventory_sync_template_runs,
    templates::dealership_lead_intake_template_runs,
    templates::service_appointment_reminder_template_runs,
    templates::review_response_template_runs,
    templates::clinical_session_template_runs,
    templates::patient_onboarding_template_runs,
);

mod bench {
    //! Throughput measurements, ignored by default: `bench/webhook_starts.sh` runs them.
    const REQUESTS: usize = 4000;
    const CONCURRENCY: usize = 32;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark; run by bench/webhook_starts.sh"]
    async fn webhook_starts_sqlite() {
        let (rate, stats) =
            crate::http::triggers::webhook_starts_throughput(auterity_testkit::Backend::Sqlite, REQUESTS, CONCURRENCY)
                .await;
        println!(
            "webhook_starts sqlite: {rate:.0} starts/s ({REQUESTS} signed deliveries, {CONCURRENCY} clients) {stats}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark; run by bench/webhook_starts.sh"]
    async fn webhook_starts_postgres() {
        let (rate, stats) = crate::http::triggers::webhook_starts_throughput(
            auterity_testkit::Backend::Postgres,
            REQUESTS,
            CONCURRENCY,
        )
        .await;
        println!(
            "webhook_starts postgres: {rate:.0} starts/s ({REQUESTS} signed deliveries, {CONCURRENCY} clients) {stats}"
        );
    }
}

mod engine_bench {
    //! Engine benchmarks, ignored by default: `bench/engine.sh` runs them (release build).
    use crate::http::engine_bench;
    use auterity_testkit::Backend;

    /// How many runs the restart shape puts to sleep (`BENCH_RESTART_RUNS`, default 10,000).
    fn restart_runs() -> usize {
        std::env::var("BENCH_RESTART_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
    }

    macro_rules! engine_benches {
        ($($name:ident => $backend:expr, |$b:ident| $body:expr;)*) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "benchmark; run by bench/engine.sh"]
            async fn $name() {
                let $b = $backend;
                println!("{}", $body.await);
            }
        )*};
    }

    engine_benches! {
        chain_sqlite => Backend::Sqlite, |b| engine_bench::chain_latency(b, 40, 20);
        chain_postgres => Backend::Postgres, |b| engine_bench::chain_latency(b, 40, 20);
        throughput_sqlite => Backend::Sqlite, |b| engine_bench::throughput(b, 500, 10);
        throughput_postgres => Backend::Postgres, |b| engine_bench::throughput(b, 500, 10);
        fanout_sqlite => Backend::Sqlite, |b| engine_bench::fanout(b, 1000, 3);
        fanout_postgres => Backend::Postgres, |b| engine_bench::fanout(b, 1000, 3);
        restart_sqlite => Backend::Sqlite, |b| engine_bench::restart(b, restart_runs());
        restart_postgres => Backend::Postgres, |b| engine_bench::restart(b, restart_runs());
    }
}

mod shared_state {
    //! Two replicas sharing PostgreSQL and Redis agree on revocation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revocation_is_shared_across_replicas_through_redis() {
        crate::http::replicas::revocation_is_shared_across_replicas_through_redis().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_workers_on_postgres_complete_each_run_once() {
        crate::http::run_control::two_workers_on_postgres_complete_each_run_once().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwarded_for_is_trusted_only_from_configured_proxies() {
        crate::http::admin::forwarded_for_is_trusted_only_from_configured_proxies().await;
    }
}
