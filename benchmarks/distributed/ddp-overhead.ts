// Step-time overhead of DistributedDataParallel for the tissuebert-small model: the same per-rank
// batch (8 sequences of 150 tokens) trained by 1 process and by N processes under `launch()`.
//
//   (after building: npx pnpm@10.34.8 build)
//   cd packages/distributed && node --import tsx ../../benchmarks/distributed/ddp-overhead.ts [world=2] [steps=12]
//
// Prints, per world size, the median optimizer-step time (forward + backward + gradient averaging
// + AdamW), the median time of reduceGradients alone, and the gradient bytes exchanged per step.
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { DistributedDataParallel } from '../../packages/distributed/src/ddp';
import { resolveDistributedEnv } from '../../packages/distributed/src/env';
import { launch } from '../../packages/distributed/src/launcher';
import { ProcessGroup } from '../../packages/distributed/src/process-group';
import { Generator, initBackend, tf } from '../../packages/tensor/dist/index.js';
import { createModel } from '../../packages/tissuebert/src/model';
import { AdamW, crossEntropy } from '../../packages/trainer/dist/index.js';

const world = Number(process.argv[2] ?? 2);
const steps = Number(process.argv[3] ?? 12);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function worker() {
  const env = resolveDistributedEnv();
  const backend = await initBackend();
  const group = await ProcessGroup.init(env);
  const model = createModel('tissuebert-small', { dropout: 0 }, new Generator(1));
  const ddp = new DistributedDataParallel(group, model);
  await ddp.syncParameters();
  const opt = new AdamW(model.trainableParameters(), { lr: 1e-4 });
  const g = new Generator(100 + env.rank);
  const B = 8;
  const L = 150;
  const stepMs: number[] = [];
  const reduceMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const tokens = tf.tensor2d(
      Int32Array.from({ length: B * L }, () => 5 + Math.floor(g.random() * 64)),
      [B, L],
      'int32',
    );
    const meth = tf.tensor2d(
      Int32Array.from({ length: B * L }, () => Math.floor(g.random() * 3)),
      [B, L],
      'int32',
    );
    const labels = Array.from({ length: B }, () => Math.floor(g.random() * 22));
    await group.barrier();
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(model.forward(tokens, meth), labels) as tf.Scalar,
      model.trainableParameters(),
    );
    value.dataSync();
    const reduced = world > 1 ? await ddp.reduceGradients(grads) : grads;
    opt.step(reduced);
    tf.dispose([value, tokens, meth, Object.values(reduced)]);
    const t = performance.now() - t0;
    if (s >= 2) {
      stepMs.push(t);
      reduceMs.push(world > 1 ? ddp.stats.lastReduceMs : 0);
    }
  }
  const all = await group.allGatherObject({ step: median(stepMs), reduce: median(reduceMs) });
  await group.destroy();
  if (env.rank === 0) {
    const params = model.trainableParameters().reduce((n, v) => n + v.size, 0);
    console.log(
      `world ${world}, backend ${backend.name} (${backend.threads} threads), ${params} parameters (${((params * 4) / 1e6).toFixed(2)} MB of gradients), ` +
        `per-rank batch ${B}×${L}, medians of ${stepMs.length} steps; load average ${loadavg()[0].toFixed(1)}`,
    );
    for (const [r, a] of all.entries())
      console.log(
        `  rank ${r}: step ${a.step.toFixed(0)} ms, of which gradient averaging ${a.reduce.toFixed(1)} ms`,
      );
  }
}

if (resolveDistributedEnv().source === 'torchrun') await worker();
else {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  s.close();
  await launch({
    command: [
      process.execPath,
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      String(world),
      String(steps),
    ],
    nprocPerNode: world,
    masterPort: port,
  });
}
