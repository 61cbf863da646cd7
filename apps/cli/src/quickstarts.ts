/**
 * The quickstart of each domain: load its quickstart config from configs/, call the package's
 * own train/evaluate functions, and return one summary row. No model logic lives here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { evaluate as evaluateCrcMil, loadRunConfig as loadCrcMilConfig } from '@meddl/crc-mil';
import { quickstart as mdfNetQuickstart } from '@meddl/mdf-net';
import { evaluateTissueBert, TissueBertRunConfigSchema, trainTissueBert } from '@meddl/tissuebert';
import { loadPretrainConfig, pretrain } from '@meddl/vjepa3d';
import { parse as parseYaml } from 'yaml';
import type { QuickstartSpec } from './commands/quickstart';

/** configs/<model>/quickstart.yaml, from the working directory or the repository root. */
function configPath(model: string): string {
  const candidates = [
    resolve('configs', model, 'quickstart.yaml'),
    resolve(new URL('../../../configs', import.meta.url).pathname, model, 'quickstart.yaml'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new Error(`meddl quickstart: configs/${model}/quickstart.yaml not found (run from the repo root)`);
  return found;
}

const ci = (e: { estimate: number | null; lower: number | null; upper: number | null }) =>
  e.estimate === null ? 'n/a' : `${e.estimate.toFixed(3)} [${e.lower?.toFixed(3)}, ${e.upper?.toFixed(3)}]`;

const tissuebert: QuickstartSpec = {
  model: 'tissuebert',
  async run({ outDir }) {
    const t0 = Date.now();
    const raw = parseYaml(readFileSync(configPath('tissuebert'), 'utf8')) as Record<string, unknown>;
    const config = TissueBertRunConfigSchema.parse({
      ...raw,
      trainer: { ...(raw.trainer as object), name: 'tissuebert', runsDir: outDir },
    });
    const r = await trainTissueBert(config);
    const e = await evaluateTissueBert({ runDir: r.runDir });
    const dir = e.deconvolution.kinds[0];
    return {
      data: `${r.store.files} methylation files (${r.store.valFiles} held out), ${e.reads} held-out reads`,
      headline: `read macro-F1 ${ci(e.classification.macroF1)}${e.classification.bayes ? ` (Bayes ceiling ${e.classification.bayes.macroF1.estimate.toFixed(3)})` : ''}`,
      secondary: `deconv RMSE ${dir.model.rmse.toFixed(3)} vs NNLS ${dir.nnls.rmse.toFixed(3)}${dir.bayes ? `, exact posteriors ${dir.bayes.rmse.toFixed(3)}` : ''}`,
      seconds: Math.round((Date.now() - t0) / 1000),
      run: r.runDir,
    };
  },
};

const crcMil: QuickstartSpec = {
  model: 'crc-mil',
  async run({ outDir }) {
    const t0 = Date.now();
    const config = loadCrcMilConfig(configPath('crc-mil'), { name: 'crc-mil' });
    const r = await evaluateCrcMil({ ...config, runsDir: outDir });
    return {
      data: `${r.perFold.reduce((a, f) => a + f.testPatients, 0)} patients, ${r.perFold.length}-fold CV (synthetic slides)`,
      headline: `macro AUROC ${ci(r.pooled.macroAuroc)}`,
      secondary: `accuracy ${ci(r.pooled.accuracy)}`,
      seconds: Math.round((Date.now() - t0) / 1000),
      run: r.runDir,
    };
  },
};

const mdfNet: QuickstartSpec = {
  model: 'mdf-net',
  async run({ outDir }) {
    const row = await mdfNetQuickstart.run({ outDir });
    return {
      data: `synthetic CXR studies, ${row['test studies']} in the test split`,
      headline: `mean AUROC ${row['test mean AUROC']} [${row['95% CI']}]`,
      secondary: `worst-class AUROC ${row['worst-class AUROC']}`,
      seconds: row.seconds,
      run: row.run,
    };
  },
};

const vjepa3d: QuickstartSpec = {
  model: 'vjepa3d',
  async run({ outDir }) {
    const t0 = Date.now();
    const config = loadPretrainConfig(configPath('vjepa3d'), { name: 'vjepa3d' });
    const r = await pretrain({ ...config, trainer: { ...config.trainer, runsDir: outDir } });
    const p = r.probe;
    const data = `${r.data.volumes} OCT volumes (${Object.keys(r.data.devices).length} makers)`;
    const rep = p?.repeated;
    const g = (x: { mean: number; lower: number; upper: number }) =>
      `${x.mean >= 0 ? '+' : ''}${x.mean.toFixed(3)} [${x.lower.toFixed(3)}, ${x.upper.toFixed(3)}]`;
    return {
      data,
      // Over repeated patient splits (paired 95% CI) when the config asks for them: one split of
      // a few dozen volumes alone says little.
      headline: rep
        ? `linear probe gain over random init ${g(rep.linearGain)} (${rep.pretrained.linear.length} splits)`
        : p
          ? `linear probe acc ${p.pretrained.linear.accuracy.toFixed(3)} vs random init ${p.randomInit.linear.accuracy.toFixed(3)}`
          : 'no probe',
      secondary: p
        ? `k-NN acc ${p.pretrained.knn.accuracy.toFixed(3)} vs ${p.randomInit.knn.accuracy.toFixed(3)}`
        : '',
      seconds: Math.round((Date.now() - t0) / 1000),
      run: r.runDir,
    };
  },
};

export function allQuickstarts(): QuickstartSpec[] {
  return [tissuebert, crcMil, mdfNet, vjepa3d];
}
