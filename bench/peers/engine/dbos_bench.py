#!/usr/bin/env python3
"""DBOS (Python) peer benchmark: chain, throughput, fanout, restart.

DBOS is a library: the "engine" is the Python process that imports it, and the
client (the code that starts a workflow and awaits its result) lives in the
same process. Every workflow here is an *async* DBOS workflow and every step an
async @DBOS.step(), so 10,000 sleeping workflows are 10,000 asyncio tasks, not
10,000 threads, and fan-out uses what the DBOS docs give for parallel steps:
asyncio.create_task on the steps in a fixed order, then asyncio.gather.

Usage (see README.md; run.sh drives it):
  dbos_bench.py shape chain|throughput|fanout --db URL --backend sqlite|postgres
  dbos_bench.py restart --db URL --backend B --n N      (driver: spawns workers)
  dbos_bench.py restart-worker --db URL --phase setup|recover ...   (internal)
"""
import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time

from dbos import DBOS, DBOSConfig

MARKER = os.environ.get("BENCH_MARKER", "")  # file the post-sleep step appends to
WAKE_AT = float(os.environ.get("BENCH_WAKE_AT", "0") or 0)  # absolute epoch seconds


# ---------------------------------------------------------------- definitions
@DBOS.step()
async def noop(i: int) -> int:
    return i


@DBOS.workflow()
async def chain_wf(n: int) -> int:
    acc = 0
    for i in range(n):
        acc += await noop(i)
    return acc


@DBOS.workflow()
async def fanout_wf(n: int) -> int:
    # DBOS-documented parallel steps: tasks created in a deterministic order,
    # then gathered (step ids are taken before the first await of each task).
    tasks = [asyncio.create_task(noop(i)) for i in range(n)]
    res = await asyncio.gather(*tasks)
    return len(res)


@DBOS.step()
async def sleep_for() -> float:
    # The first (no-op) step returns how long to sleep so that every workflow's
    # timer ends at the same absolute WAKE_AT. Being a step, its output is
    # checkpointed, so the value is deterministic on recovery (and DBOS.sleep
    # itself records the wake-up time durably on first execution anyway).
    return max(0.0, WAKE_AT - time.time())


@DBOS.step()
async def mark_resumed(i: int) -> int:
    with open(MARKER, "a") as f:
        f.write(f"{time.time():.6f} {i} {os.getpid()}\n")
    return i


@DBOS.workflow()
async def sleeper_wf(i: int) -> int:
    secs = await sleep_for()
    await DBOS.sleep_async(secs)
    return await mark_resumed(i)


# ------------------------------------------------------------------- helpers
def launch(db_url: str) -> None:
    config: DBOSConfig = {
        "name": "peer-bench",
        "system_database_url": db_url,
        "log_level": os.environ.get("DBOS_LOG_LEVEL", "WARNING"),
    }
    DBOS(config=config)
    DBOS.launch()


def p50(xs):
    return statistics.median(xs)


def result(peer_backend: str, shape: str, **kv) -> None:
    fields = " ".join(f"{k}={v}" for k, v in kv.items())
    print(f"RESULT peer=dbos backend={peer_backend} shape={shape} {fields}", flush=True)


async def run_wf(fn, *args):
    h = await DBOS.start_workflow_async(fn, *args)
    return await h.get_result()


# -------------------------------------------------------------------- shapes
async def shape_chain(backend: str, steps: int, runs: int, warmup: int) -> None:
    for _ in range(warmup):
        assert await run_wf(chain_wf, steps) == steps * (steps - 1) // 2
    e2e = []
    for _ in range(runs):
        t = time.perf_counter()
        r = await run_wf(chain_wf, steps)
        e2e.append((time.perf_counter() - t) * 1000)
        assert r == steps * (steps - 1) // 2
    per = [x / steps for x in e2e]
    result(backend, "chain", steps=steps, runs=runs, e2e_p50_ms=f"{p50(e2e):.2f}",
           per_step_p50_ms=f"{p50(per):.3f}", e2e_min_ms=f"{min(e2e):.2f}",
           e2e_max_ms=f"{max(e2e):.2f}")


async def shape_throughput(backend: str, wfs: int, steps: int) -> None:
    await run_wf(chain_wf, steps)  # warm-up
    t = time.perf_counter()
    handles = await asyncio.gather(*[DBOS.start_workflow_async(chain_wf, steps) for _ in range(wfs)])
    res = await asyncio.gather(*[h.get_result() for h in handles])
    wall = time.perf_counter() - t
    assert all(r == steps * (steps - 1) // 2 for r in res)
    total = wfs * steps
    result(backend, "throughput", workflows=wfs, steps=total, wall_ms=f"{wall*1000:.0f}",
           steps_per_s=f"{total/wall:.0f}", workflows_per_s=f"{wfs/wall:.1f}")


async def shape_fanout(backend: str, width: int, runs: int) -> None:
    await run_wf(fanout_wf, 10)  # warm-up
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        r = await run_wf(fanout_wf, width)
        xs.append((time.perf_counter() - t) * 1000)
        assert r == width, r
    result(backend, "fanout", width=width, runs=runs, e2e_ms=f"{p50(xs):.0f}",
           e2e_min_ms=f"{min(xs):.0f}", e2e_max_ms=f"{max(xs):.0f}")


# ------------------------------------------------------------------- restart
def count_sleeping(db_url: str, engine_cache={}) -> int:
    import sqlalchemy as sa
    if "e" not in engine_cache:
        url = db_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        engine_cache["e"] = sa.create_engine(url)
        engine_cache["t"] = "operation_outputs" if url.startswith("sqlite") else "dbos.operation_outputs"
    with engine_cache["e"].connect() as c:
        return c.execute(sa.text(
            f"select count(*) from {engine_cache['t']} where function_name = 'DBOS.sleep'")).scalar()


async def worker_setup(args) -> None:
    # Calibrate: how fast does this process start+finish short workflows?
    # That sets WAKE_AT so the 10k timers end ~1 s after the planned restart
    # without the driver idling for long.
    global WAKE_AT
    t = time.time()
    cal = 200
    await asyncio.gather(*[run_wf(chain_wf, 1) for _ in range(cal)])
    rate = cal / (time.time() - t)
    est = args.n / rate * 2.5 + 10.0  # setup + margin, seconds (calibration underestimates the start rate)
    est = min(est, args.max_setup_s)
    t0 = time.time()
    WAKE_AT = t0 + est
    print(f"[setup] calibration {rate:.0f} wf/s, setup budget {est:.1f}s", file=sys.stderr, flush=True)
    started = 0
    batch = 200
    while started < args.n:
        # stop starting new ones if we would not get them all asleep before kill
        if time.time() > t0 + est * 0.85:
            break
        k = min(batch, args.n - started)
        await asyncio.gather(*[DBOS.start_workflow_async(sleeper_wf, started + j) for j in range(k)])
        started += k
    t_started = time.time()
    while True:
        c = await asyncio.to_thread(count_sleeping, args.db)
        if c >= started:
            break
        if time.time() > WAKE_AT - 2:
            print(f"[setup] only {c}/{started} asleep before deadline", file=sys.stderr, flush=True)
            break
        await asyncio.sleep(0.2)
    t_all = time.time()
    with open(args.ready, "w") as f:
        f.write(f"{started} {WAKE_AT:.6f} {t0:.6f} {t_started:.6f} {t_all:.6f}\n")
    print(f"[setup] {started} sleeping after {t_all - t0:.1f}s", file=sys.stderr, flush=True)
    while True:
        await asyncio.sleep(3600)


async def worker_recover(args) -> None:
    # DBOS.launch() already started recovery of this executor's pending workflows.
    with open(args.ready + ".launched", "w") as f:
        f.write(f"{time.time():.6f}\n")
    while True:
        await asyncio.sleep(3600)


def driver_restart(args) -> None:
    here = os.path.abspath(__file__)
    marker = os.path.join(args.tmp, "resumed.txt")
    ready = os.path.join(args.tmp, "ready.txt")
    for p in (marker, ready, ready + ".launched"):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ, BENCH_MARKER=marker)
    common = [sys.executable, here, "restart-worker", "--db", args.db, "--ready", ready,
              "--n", str(args.n), "--max-setup-s", str(args.max_setup_s)]
    log = open(os.path.join(args.tmp, "worker-setup.log"), "w")
    w1 = subprocess.Popen(common + ["--phase", "setup"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + args.max_setup_s + 120
    while not os.path.exists(ready) or not open(ready).read().endswith("\n"):
        if w1.poll() is not None or time.time() > deadline:
            print(open(os.path.join(args.tmp, "worker-setup.log")).read()[-3000:], file=sys.stderr)
            raise SystemExit("setup worker failed")
        time.sleep(0.1)
    started, wake_at, t0, t_started, t_all = [float(x) for x in open(ready).read().split()]
    started = int(started)
    os.kill(w1.pid, signal.SIGKILL)
    w1.wait()
    t_kill = time.time()
    pre = len(open(marker).readlines()) if os.path.exists(marker) else 0
    # Restart so the (absolute) timers expire ~1 s after the new process is spawned.
    wait = wake_at - float(os.environ.get("RESTART_DUE_AFTER_SPAWN_MS", 1000)) / 1000 - time.time()
    if wait > 0:
        time.sleep(wait)
    log2 = open(os.path.join(args.tmp, "worker-recover.log"), "w")
    t_spawn = time.time()
    w2 = subprocess.Popen(common + ["--phase", "recover"], env=env, stdout=log2, stderr=subprocess.STDOUT)
    first = None
    n_done = 0
    end = time.time() + args.resume_timeout_s
    while time.time() < end:
        if os.path.exists(marker):
            lines = [l.split() for l in open(marker).read().splitlines() if l.strip()]
            if lines and first is None:
                first = min(float(l[0]) for l in lines)
            n_done = len({l[1] for l in lines})  # distinct workflows (a step may rerun)
            if n_done >= started:
                break
        if w2.poll() is not None:
            break
        time.sleep(0.05)
    t_last = max(float(l.split()[0]) for l in open(marker).read().splitlines()) if n_done else None
    os.kill(w2.pid, signal.SIGKILL)
    w2.wait()
    t_launched = float(open(ready + ".launched").read()) if os.path.exists(ready + ".launched") else None
    if first is None:
        print(open(os.path.join(args.tmp, "worker-recover.log")).read()[-3000:], file=sys.stderr)
        raise SystemExit("no workflow resumed")
    result(args.backend, "restart", runs=started, setup_s=f"{t_all - t0:.1f}",
           restart_to_first_step_ms=f"{(first - t_spawn)*1000:.0f}",
           restart_to_launched_ms=f"{(t_launched - t_spawn)*1000:.0f}" if t_launched else "-",
           timer_due_after_spawn_ms=f"{(wake_at - t_spawn)*1000:.0f}",
           first_step_after_due_ms=f"{(first - wake_at)*1000:.0f}",
           restart_to_all_resumed_ms=f"{(t_last - t_spawn)*1000:.0f}",
           resumed=n_done, resumed_before_kill=pre)


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["shape", "restart", "restart-worker"])
    ap.add_argument("shape", nargs="?")
    ap.add_argument("--db", required=True)
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--n", type=int, default=int(os.environ.get("RESTART_N", 10000)))
    ap.add_argument("--max-setup-s", type=float, default=float(os.environ.get("RESTART_MAX_SETUP_S", 180)))
    ap.add_argument("--resume-timeout-s", type=float, default=float(os.environ.get("RESUME_TIMEOUT_S", 400)))
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--phase")
    ap.add_argument("--ready")
    ap.add_argument("--chain-steps", type=int, default=int(os.environ.get("CHAIN_STEPS", 40)))
    ap.add_argument("--chain-runs", type=int, default=int(os.environ.get("CHAIN_RUNS", 20)))
    ap.add_argument("--tp-workflows", type=int, default=int(os.environ.get("TP_WORKFLOWS", 200)))
    ap.add_argument("--tp-steps", type=int, default=int(os.environ.get("TP_STEPS", 10)))
    ap.add_argument("--fanout", type=int, default=int(os.environ.get("FANOUT", 1000)))
    ap.add_argument("--fanout-runs", type=int, default=int(os.environ.get("FANOUT_RUNS", 3)))
    args = ap.parse_args()

    if args.cmd == "restart":
        driver_restart(args)
        return

    async def amain():
        # launch inside the running loop so async workflows use it
        launch(args.db)
        try:
            if args.cmd == "shape":
                if args.shape == "chain":
                    await shape_chain(args.backend, args.chain_steps, args.chain_runs, 2)
                elif args.shape == "throughput":
                    await shape_throughput(args.backend, args.tp_workflows, args.tp_steps)
                elif args.shape == "fanout":
                    await shape_fanout(args.backend, args.fanout, args.fanout_runs)
                else:
                    raise SystemExit(f"unknown shape {args.shape}")
            elif args.phase == "setup":
                await worker_setup(args)
            else:
                await worker_recover(args)
        finally:
            if args.cmd == "shape":
                DBOS.destroy()

    asyncio.run(amain())


if __name__ == "__main__":
    main()
