// Restate peer benchmark driver: starts restate-server (fresh temp base dir) and
// the Node service endpoint (service.mjs), registers the deployment through the
// admin API, then runs one shape through the HTTP ingress and prints a RESULT
// line. Usage: node bench.mjs chain|throughput|fanout|restart
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER_BIN = path.join(HERE, "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server");
const INGRESS_PORT = Number(process.env.RESTATE_BENCH_INGRESS_PORT || 18080);
const ADMIN_PORT = Number(process.env.RESTATE_BENCH_ADMIN_PORT || 19070);
const FABRIC_PORT = Number(process.env.RESTATE_BENCH_FABRIC_PORT || 15122);
const SERVICE_PORT = Number(process.env.RESTATE_BENCH_SERVICE_PORT || 19080);
const INGRESS = `http://127.0.0.1:${INGRESS_PORT}`;
const ADMIN = `http://127.0.0.1:${ADMIN_PORT}`;
const env = process.env;
const num = (k, d) => Number(env[k] || d);

const CHAIN_STEPS = num("CHAIN_STEPS", 40), CHAIN_RUNS = num("CHAIN_RUNS", 20);
const TP_WORKFLOWS = num("TP_WORKFLOWS", 200), TP_STEPS = num("TP_STEPS", 10);
const FANOUT = num("FANOUT", 1000), FANOUT_RUNS = num("FANOUT_RUNS", 3);
const RESTART_N = num("RESTART_N", 10000), RESTART_MAX_SETUP_S = num("RESTART_MAX_SETUP_S", 180);
const RESUME_TIMEOUT_S = num("RESUME_TIMEOUT_S", 400);
// restart the server this long before the timers are due (negative: after)
const DUE_AFTER_SPAWN_MS = num("RESTART_DUE_AFTER_SPAWN_MS", 1000);
// A sleeping invocation keeps its HTTP/2 stream to the service open until the
// invoker's inactivity timeout (default 1m) suspends it, and the invoker runs at
// most 1000 invocations at once by default; with the default, 10k sleepers would
// take ~10 x 1 min to all get parked. Lowered to 2s for all shapes (steps never
// go idle that long).
const INACTIVITY = env.RESTATE_BENCH_INACTIVITY_TIMEOUT || "2s";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const result = (shape, kv) =>
  console.log(`RESULT peer=restate backend=- shape=${shape} ` + Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(" "));

const children = [];
function startServer(dir) {
  const log = fs.openSync(path.join(dir, "server.log"), "a");
  const p = spawn(SERVER_BIN, ["--no-logo", "--base-dir", path.join(dir, "data"), "--node-name", "bench-node"], {
    cwd: dir,
    stdio: ["ignore", log, log],
    env: {
      ...env,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${INGRESS_PORT}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${ADMIN_PORT}`,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${FABRIC_PORT}`,
      RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${FABRIC_PORT}/`,
      RESTATE_LISTEN_MODE: "tcp",
      RESTATE_DISABLE_TELEMETRY: "true",
      RESTATE_LOG_FILTER: env.RESTATE_LOG_FILTER || "warn,restate=info",
      RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT: INACTIVITY,
    },
  });
  children.push(p);
  return p;
}
function startService(dir, marker) {
  const log = fs.openSync(path.join(dir, "service.log"), "a");
  const p = spawn(process.execPath, [path.join(HERE, "service.mjs")], {
    cwd: HERE, stdio: ["ignore", log, log],
    env: { ...env, SERVICE_PORT: String(SERVICE_PORT), BENCH_MARKER: marker },
  });
  children.push(p);
  return p;
}
function killAll() { for (const c of children) { try { if (c.exitCode === null) c.kill("SIGKILL"); } catch {} } }
process.on("exit", killAll);
process.on("SIGINT", () => { killAll(); process.exit(130); });
process.on("SIGTERM", () => { killAll(); process.exit(143); });

async function waitHttp(url, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try { const r = await fetch(url); if (r.ok) return; } catch {}
    await sleep(50);
  }
  throw new Error(`timeout waiting for ${url}`);
}
async function register() {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${ADMIN}/deployments`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: `http://127.0.0.1:${SERVICE_PORT}`, force: true }),
    }).catch((e) => ({ ok: false, status: 0, text: async () => String(e) }));
    if (r.ok) return;
    await sleep(200);
  }
  throw new Error("deployment registration failed");
}
async function call(handler, arg) {
  const r = await fetch(`${INGRESS}/bench/${handler}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(arg),
  });
  if (!r.ok) throw new Error(`${handler}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}
async function send(handler, arg) {
  const r = await fetch(`${INGRESS}/bench/${handler}/send`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(arg),
  });
  if (!r.ok) throw new Error(`${handler}/send: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}
async function query(sql) {
  const r = await fetch(`${ADMIN}/query`, {
    method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: sql }),
  });
  if (!r.ok) throw new Error(`query: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).rows;
}

async function portFree(port) {
  const net = await import("node:net");
  return new Promise((res) => {
    const s = net.createServer().once("error", () => res(false)).once("listening", () => s.close(() => res(true)));
    s.listen(port, "127.0.0.1");
  });
}
async function up(dir, marker) {
  for (const p of [INGRESS_PORT, ADMIN_PORT, FABRIC_PORT, SERVICE_PORT])
    if (!(await portFree(p))) throw new Error(`port 127.0.0.1:${p} is in use (another restate-server?)`);
  startServer(dir);
  startService(dir, marker);
  await waitHttp(`${ADMIN}/health`);
  await waitHttp(`${INGRESS}/restate/health`);
  await register();
  // the first invocations after registration can be slow while partitions settle
  await call("chain", 1);
}

// ------------------------------------------------------------------ shapes
async function chain() {
  for (let i = 0; i < 2; i++) await call("chain", CHAIN_STEPS);
  const e2e = [];
  for (let i = 0; i < CHAIN_RUNS; i++) {
    const t = performance.now();
    const r = await call("chain", CHAIN_STEPS);
    e2e.push(performance.now() - t);
    if (r !== (CHAIN_STEPS * (CHAIN_STEPS - 1)) / 2) throw new Error(`bad chain result ${r}`);
  }
  result("chain", {
    steps: CHAIN_STEPS, runs: CHAIN_RUNS, e2e_p50_ms: median(e2e).toFixed(2),
    per_step_p50_ms: median(e2e.map((x) => x / CHAIN_STEPS)).toFixed(3),
    e2e_min_ms: Math.min(...e2e).toFixed(2), e2e_max_ms: Math.max(...e2e).toFixed(2),
  });
}
async function throughput() {
  await call("chain", TP_STEPS);
  const t = performance.now();
  const res = await Promise.all(Array.from({ length: TP_WORKFLOWS }, () => call("chain", TP_STEPS)));
  const wall = (performance.now() - t) / 1000;
  if (!res.every((r) => r === (TP_STEPS * (TP_STEPS - 1)) / 2)) throw new Error("bad throughput result");
  const total = TP_WORKFLOWS * TP_STEPS;
  result("throughput", {
    workflows: TP_WORKFLOWS, steps: total, wall_ms: (wall * 1000).toFixed(0),
    steps_per_s: (total / wall).toFixed(0), workflows_per_s: (TP_WORKFLOWS / wall).toFixed(1),
  });
}
async function fanout() {
  await call("fanout", 10);
  const xs = [];
  for (let i = 0; i < FANOUT_RUNS; i++) {
    const t = performance.now();
    const r = await call("fanout", FANOUT);
    xs.push(performance.now() - t);
    if (r !== FANOUT) throw new Error(`bad fanout result ${r}`);
  }
  result("fanout", {
    width: FANOUT, runs: FANOUT_RUNS, e2e_ms: median(xs).toFixed(0),
    e2e_min_ms: Math.min(...xs).toFixed(0), e2e_max_ms: Math.max(...xs).toFixed(0),
  });
}

function readMarker(marker) {
  if (!fs.existsSync(marker)) return [];
  return fs.readFileSync(marker, "utf8").split("\n").filter(Boolean).map((l) => l.split(" ").map(Number));
}

async function restart(dir, marker) {
  // calibrate the setup rate with 200 concurrent one-step invocations
  let t = Date.now();
  await Promise.all(Array.from({ length: 200 }, () => call("chain", 1)));
  const rate = 200 / ((Date.now() - t) / 1000);
  const est = Math.min(RESTART_N / rate * 2.5 + 10, RESTART_MAX_SETUP_S); // seconds
  const t0 = Date.now();
  const wakeAt = t0 + est * 1000;
  console.error(`[setup] calibration ${rate.toFixed(0)} inv/s, setup budget ${est.toFixed(1)}s`);
  let started = 0, next = 0;
  const stopAt = t0 + est * 850;
  async function sender() {
    while (next < RESTART_N && Date.now() < stopAt) {
      const i = next++;
      await send("sleeper", { i, wakeAt });
      started++;
    }
  }
  await Promise.all(Array.from({ length: 64 }, sender));
  // wait until every invocation has journaled its sleep and been suspended
  let sleeping = 0, running = 0;
  while (true) {
    sleeping = Number((await query("SELECT count(*) AS c FROM sys_journal WHERE entry_type = 'Command: Sleep'"))[0].c);
    running = Number((await query("SELECT count(*) AS c FROM sys_invocation WHERE target_handler_name = 'sleeper' AND status <> 'suspended'"))[0].c);
    if (sleeping >= started && running === 0) break;
    if (Date.now() > wakeAt - 2000) { console.error(`[setup] only ${sleeping}/${started} asleep (${running} not suspended) at deadline`); break; }
    await sleep(250);
  }
  const tAll = Date.now();
  console.error(`[setup] ${started} sent, ${sleeping} sleeping after ${((tAll - t0) / 1000).toFixed(1)}s`);
  const server = children[0];
  server.kill("SIGKILL");
  await new Promise((r) => (server.exitCode !== null || server.signalCode !== null ? r() : server.once("exit", r)));
  const pre = readMarker(marker).length;
  const wait = wakeAt - DUE_AFTER_SPAWN_MS - Date.now();
  if (wait > 0) await sleep(wait);
  const tSpawn = Date.now();
  children[0] = startServer(dir);
  const readyP = waitHttp(`${INGRESS}/restate/health`, RESUME_TIMEOUT_S * 1000).then(() => Date.now());
  let first = null, done = new Set(), last = null;
  const end = Date.now() + RESUME_TIMEOUT_S * 1000;
  while (Date.now() < end) {
    const rows = readMarker(marker);
    for (const [ts, i] of rows) {
      if (first === null || ts < first) first = ts;
      if (!done.has(i)) { done.add(i); if (last === null || ts > last) last = ts; }
    }
    if (done.size >= started) break;
    await sleep(50);
  }
  if (first === null) throw new Error("no invocation resumed after restart");
  const tReady = await readyP;
  result("restart", {
    runs: started, setup_s: ((tAll - t0) / 1000).toFixed(1),
    restart_to_first_step_ms: first - tSpawn, restart_to_ingress_ready_ms: tReady - tSpawn,
    timer_due_after_spawn_ms: Math.round(wakeAt - tSpawn),
    first_step_after_due_ms: Math.round(first - wakeAt),
    restart_to_all_resumed_ms: last - tSpawn, resumed: done.size, resumed_before_kill: pre,
  });
}

// -------------------------------------------------------------------- main
const shape = process.argv[2];
const dir = fs.mkdtempSync(path.join(env.BENCH_TMP || os.tmpdir(), `restate-${shape}-`));
const marker = path.join(dir, "resumed.txt");
try {
  await up(dir, marker);
  if (shape === "chain") await chain();
  else if (shape === "throughput") await throughput();
  else if (shape === "fanout") await fanout();
  else if (shape === "restart") await restart(dir, marker);
  else throw new Error(`unknown shape ${shape}`);
} catch (e) {
  console.error(`restate ${shape} failed: ${e.stack || e}\n(logs in ${dir})`);
  killAll();
  process.exit(1);
}
killAll();
if (!env.KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
