/**
 * Single-modality baselines at the quickstart's scale, compared with an existing quickstart run
 * (runs/mdf-net-quickstart, same data, split and seed): per finding a paired DeLong test, and a
 * paired bootstrap of the mean-AUROC difference. From the repo root, after the quickstart:
 *   npx tsx packages/mdf-net/scripts/quickstart-singles.ts      (MODS=image,text to choose)
 */
import { fileURLToPath } from 'node:url';
import { bootstrapCI, delongTest } from '@meddl/metrics';
import { initBackend } from '@meddl/tensor';
import {
  evaluate,
  FINDINGS,
  type MdfNetRunConfigInput,
  QUICKSTART_CONFIG,
  summaryMetrics,
  train,
} from '../src/index';

await initBackend();
const root = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
const full = await evaluate(`${root}/runs/mdf-net-quickstart`, { resamples: 300 });
const K = 14;
for (const m of (process.env.MODS ?? 'clinical,image,text').split(',')) {
  const t0 = Date.now();
  const r = await train({
    ...QUICKSTART_CONFIG,
    data: { ...QUICKSTART_CONFIG.data, dir: `${root}/.data/mdf-net-quickstart` },
    model: { preset: 'mdf-net-small', overrides: { fusion: 'concat', modalities: [m] } },
    trainer: {
      name: `mdf-net-quickstart-${m}`,
      runsDir: `${root}/runs`,
      seed: 0,
      loggers: { console: false, tensorboard: false },
      handleSignals: false,
    },
  } as MdfNetRunConfigInput);
  const ev = await evaluate(r.runDir, { resamples: 300 });
  const sig: string[] = [];
  FINDINGS.forEach((f, k) => {
    const y: number[] = [];
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < ev.studies; i++)
      if (full.certain[i * K + k]) {
        y.push(full.target[i * K + k]);
        a.push(full.probs[i * K + k]);
        b.push(ev.probs[i * K + k]);
      }
    const t = delongTest(y, a, b);
    if (t.defined && t.pValue < 0.05)
      sig.push(`${f} ${t.aucB.toFixed(3)} vs ${t.aucA.toFixed(3)} p=${t.pValue.toExponential(1)}`);
  });
  const diff = (idx?: ArrayLike<number>) =>
    summaryMetrics(ev.probs, ev.target, ev.certain, idx).meanAuroc -
    summaryMetrics(full.probs, full.target, full.certain, idx).meanAuroc;
  const ci = bootstrapCI((idx) => diff(idx), ev.studies, { seed: 1, resamples: 300 });
  console.log(
    JSON.stringify({
      modality: m,
      seconds: (Date.now() - t0) / 1000,
      epochs2: r.stage2?.summary.epochs,
      meanAuroc: ev.meanAuroc,
      diff: { value: diff(), lower: ci.lower, upper: ci.upper },
      sig,
      full: full.meanAuroc,
    }),
  );
}
