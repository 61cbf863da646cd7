// A training script run as a child process by resume.test.ts:
//   tsx test/train-xor.ts <outDir> [--resume] [--pause-at <step>]
// With --pause-at it prints PAUSED after that optimizer step and waits for a signal, so the
// parent's SIGINT lands at a known step. Writes <outDir>/final.json with the final weights.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, initBackend } from '@meddl/tensor';
import type { Callback } from '../src/callbacks';
import { DataLoader } from '../src/data/loader';
import { Mlp, weightsOf, xorDataset, xorTask } from '../src/test-utils';
import { Trainer } from '../src/trainer';
import { DirectorySink } from './dir-sink';

const [outDir, ...flags] = process.argv.slice(2);
const resume = flags.includes('--resume');
const pauseIdx = flags.indexOf('--pause-at');
const pauseAt = pauseIdx >= 0 ? Number(flags[pauseIdx + 1]) : -1;

await initBackend('cpu');
const model = new Mlp(16, new Generator(7), 0.1);
const sink = new DirectorySink(join(outDir, 'checkpoints'));
const pause: Callback = {
  name: 'pause',
  onTrainStepEnd: async (_t, r) => {
    if (r.step !== pauseAt) return;
    const keepAlive = setInterval(() => {}, 1000); // a signal listener alone does not keep Node running
    const got = new Promise<void>((res) => process.once('SIGINT', () => res()));
    process.stdout.write('PAUSED\n');
    await got;
    clearInterval(keepAlive);
  },
};
const trainer = new Trainer(
  {
    seed: 3,
    runsDir: null,
    maxEpochs: 4,
    accumulateGradBatches: 2,
    gradClipNorm: 1,
    optimizer: { name: 'adamw', lr: 0.03 },
    scheduler: { name: 'onecycle' },
    loggers: { console: false },
    checkpoint: { everyNSteps: 3 },
  },
  { checkpointSink: sink, callbacks: [pause] },
);
const summary = await trainer.fit(
  xorTask(model),
  {
    train: new DataLoader(xorDataset(128, 1), { batchSize: 16, shuffle: true, seed: 5 }),
    val: new DataLoader(xorDataset(64, 2), { batchSize: 64 }),
  },
  { resume },
);
if (summary.status === 'interrupted') {
  process.stdout.write(`INTERRUPTED at step ${summary.steps}\n`);
  process.exit(130);
}
writeFileSync(
  join(outDir, 'final.json'),
  JSON.stringify({ steps: summary.steps, resumedFrom: summary.resumedFrom, weights: weightsOf(model) }),
);
process.stdout.write(`DONE ${summary.steps}\n`);
