#!/usr/bin/env bash
# Webhook-to-run-recorded throughput: signed deliveries to POST /api/hooks/{id}, each answered 202
# once its run (with the signature's replay receipt) is committed. The server runs in-process with
# the `api` role only (runs are recorded, not executed); 32 keep-alive clients send 4000 requests.
#
#   bench/webhook_starts.sh            # debug build
#   PROFILE=release bench/webhook_starts.sh
#
# PostgreSQL: AUTERITY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
profile_args=()
if [[ "${PROFILE:-debug}" == "release" ]]; then
  profile_args=(--cargo-profile release)
fi
cargo nextest run -p auterity-testkit "${profile_args[@]}" --run-ignored only --no-capture \
  -E 'test(/bench::webhook_starts/)' --test-threads 1 2>&1 | grep -E 'webhook_starts (sqlite|postgres):|FAIL|panicked'
