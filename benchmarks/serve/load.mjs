#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
// Loopback load test of the inference service (apps/serve): a real redis-server on a random
// port, the service on 127.0.0.1:<random>, a synthetic methylation panel and tiny random
// TissueBERT weights (the fixture of the integration tests), driven by autocannon.
//
// Scenarios (each bounded by --duration seconds):
//   sustained  POST /v1/predict, result cache off, connections = sync.maxConcurrent: model throughput
//   cached     the same with the cache on: every request after the first is a cache hit
//   overload   cache off, --overload connections (≫ capacity): must shed with 503, never crash
//   ratelimit  a key limited to --key-limit requests per minute: must answer 429
//   submit     POST /v1/jobs with no worker running: 202 until queue.maxWaiting (500) jobs wait, then 503
// Afterwards /healthz must still answer 200.
//
// Usage: pnpm --filter @meddl/serve build && node benchmarks/serve/load.mjs [--duration 10] [--overload 32]
//        [--concurrency 2] [--threads 0] [--scenarios sustained,cached,overload,ratelimit,submit] [--json out.json]
// --threads N runs the model in N worker threads (models[].threads), off the API's event loop.
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { addKey, createService, parseConfig } from '../../apps/serve/dist/index.js';
import { hasRedis, startRedis, tissueBertFixture } from '../../apps/serve/dist/testing.js';

const require = createRequire(new URL('../../apps/serve/package.json', import.meta.url));
const autocannon = require('autocannon');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const duration = Number(arg('duration', 10));
const overload = Number(arg('overload', 32));
const concurrency = Number(arg('concurrency', 2));
const keyLimit = Number(arg('key-limit', 60));
const jsonOut = arg('json', null);
const threads = Number(arg('threads', 0));
const scenarios = new Set(arg('scenarios', 'sustained,cached,overload,ratelimit,submit').split(','));

if (!hasRedis) {
  console.log('redis-server not found (set MEDDL_REDIS_SERVER); skipping');
  process.exit(0);
}

const redis = await startRedis();
const fx = await tissueBertFixture();
// The smallest sample: a "small input" for synchronous prediction.
const smallest = [...fx.dataset.samples].sort((a, b) => a.reads - b.reads)[0];

async function run(name, { cache, key, connections, route = '/v1/predict', maxWaiting = 10_000 }) {
  const config = parseConfig({
    redis: { url: redis.url, prefix: `bench-${name}` },
    keysFile: join(fx.dir, 'keys.json'),
    auditLog: join(fx.dir, `audit-${name}.jsonl`),
    server: { port: 0 },
    storage: { uploadDir: join(fx.dir, 'uploads'), roots: { samples: join(fx.reference, 'samples') } },
    sync: { maxConcurrent: concurrency },
    queue: { maxWaiting },
    cache: { enabled: cache },
    rateLimit: { max: 1_000_000 },
    models: [
      {
        kind: 'tissuebert',
        checkpoint: fx.checkpoint,
        reference: fx.reference,
        preset: 'tissuebert-tiny',
        batchSize: 64,
        threads,
      },
    ],
  });
  const service = await createService(config, { workers: false });
  const base = await service.listen();
  const body = JSON.stringify({
    model: 'tissuebert',
    input: { root: 'samples', path: smallest.file.replace('samples/', '') },
  });
  const r = await autocannon({
    url: `${base}${route}`,
    method: 'POST',
    connections,
    duration,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  const health = await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${admin}` } });
  const healthStatus = health.status;
  await health.text();
  await service.shutdown();
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([c, s]) => [c, s.count]));
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  const ok = (codes['200'] ?? 0) + (codes['202'] ?? 0);
  const out = {
    scenario: name,
    connections,
    durationS: duration,
    requests: total,
    reqPerSec: total / duration,
    okPerSec: ok / duration,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    statusCodes: codes,
    errorRate: total ? (total - ok) / total : 0,
    shed: (codes['429'] ?? 0) + (codes['503'] ?? 0),
    other5xx: Object.entries(codes)
      .filter(([c]) => c.startsWith('5') && c !== '503')
      .reduce((a, [, n]) => a + n, 0),
    socketErrors: r.errors,
    timeouts: r.timeouts,
    healthAfter: healthStatus,
  };
  console.log(
    `${name.padEnd(10)} conns=${String(connections).padStart(3)} req/s=${out.reqPerSec.toFixed(1).padStart(7)} ok/s=${out.okPerSec
      .toFixed(1)
      .padStart(
        7,
      )} p50=${out.latencyMs.p50}ms p99=${out.latencyMs.p99}ms errors=${(100 * out.errorRate).toFixed(1)}% codes=${JSON.stringify(codes)} health=${healthStatus}`,
  );
  return out;
}

const admin = addKey(join(fx.dir, 'keys.json'), { name: 'bench', roles: ['admin'] }).key;
const limited = addKey(join(fx.dir, 'keys.json'), {
  name: 'bench-limited',
  roles: ['submit'],
  rateLimit: keyLimit,
}).key;
console.log(
  `input: ${smallest.file} (${smallest.reads} reads), model tissuebert-tiny; host ${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(`model threads: ${threads} (0 = on the API's event loop)`);
const results = [];
try {
  if (scenarios.has('sustained'))
    results.push(await run('sustained', { cache: false, key: admin, connections: concurrency }));
  if (scenarios.has('cached'))
    results.push(await run('cached', { cache: true, key: admin, connections: concurrency }));
  if (scenarios.has('overload'))
    results.push(await run('overload', { cache: false, key: admin, connections: overload }));
  if (scenarios.has('ratelimit'))
    results.push(await run('ratelimit', { cache: true, key: limited, connections: 4 }));
  // Job submission with no worker running: the backlog reaches queue.maxWaiting, then 503.
  if (scenarios.has('submit'))
    results.push(
      await run('submit', { cache: true, key: admin, connections: 8, route: '/v1/jobs', maxWaiting: 500 }),
    );
} finally {
  await redis.stop();
}
const failed = results.filter((r) => r.other5xx > 0 || r.socketErrors > 0 || r.healthAfter !== 200);
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ loadavg: loadavg(), threads, results }, null, 2)}\n`);
if (failed.length) {
  console.error(
    `FAILED: ${failed.map((r) => r.scenario).join(', ')} (5xx other than 503, socket errors or unhealthy after)`,
  );
  process.exit(1);
}
const ov = results.find((r) => r.scenario === 'overload');
const rl = results.find((r) => r.scenario === 'ratelimit');
const sub = results.find((r) => r.scenario === 'submit');
if (
  (ov && !(ov.statusCodes['503'] > 0)) ||
  (rl && !(rl.statusCodes['429'] > 0)) ||
  (sub && !(sub.statusCodes['202'] >= 500 && sub.statusCodes['202'] <= 508))
) {
  console.error(
    'FAILED: overload did not shed with 503, the rate limit did not answer 429, or the queue bound was not 500',
  );
  process.exit(1);
}
process.exit(0);
