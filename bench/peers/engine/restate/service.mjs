// Restate peer: the Node service endpoint (SDK @restatedev/restate-sdk).
// One Restate *service* "bench" whose handlers are durable invocations; each
// ctx.run is a journaled step (its result is acknowledged by restate-server
// before the handler continues). Listens on 127.0.0.1:$SERVICE_PORT (HTTP/2).
import * as restate from "@restatedev/restate-sdk";
import http2 from "node:http2";
import fs from "node:fs";

const PORT = Number(process.env.SERVICE_PORT || 19080);
const MARKER = process.env.BENCH_MARKER || "/tmp/restate-resumed.txt";

const bench = restate.service({
  name: "bench",
  handlers: {
    // n sequential no-op steps
    chain: async (ctx, n) => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += await ctx.run(`s${i}`, async () => i);
      return acc;
    },
    // n concurrent no-op steps, joined
    fanout: async (ctx, n) => {
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(ctx.run(`f${i}`, async () => i));
      const res = await restate.RestatePromise.all(ps);
      return res.length;
    },
    // step, durable sleep until an absolute time, step that records it resumed
    sleeper: async (ctx, req) => {
      // The first no-op step returns the sleep length so that every timer ends at
      // the same absolute wakeAt; being journaled it is deterministic on replay.
      const ms = await ctx.run("dur", async () => Math.max(0, req.wakeAt - Date.now()));
      await ctx.sleep(ms);
      return await ctx.run("mark", async () => {
        fs.appendFileSync(MARKER, `${Date.now()} ${req.i} ${process.pid}\n`);
        return req.i;
      });
    },
  },
});

const server = http2.createServer(restate.createEndpointHandler({ services: [bench] }));
server.listen(PORT, "127.0.0.1", () => console.log(`service listening on 127.0.0.1:${PORT}`));
