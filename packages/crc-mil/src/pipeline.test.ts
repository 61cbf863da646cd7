// End to end on a tiny synthetic cohort: synth → preprocess (QC, Macenko, features, HDF5 bags) →
// 2-fold patient-grouped CV → train → predict. Kept small for CPU time.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hdf5File, readFeatureBag } from '@meddl/data';
import { pearson } from '@meddl/metrics';
import { exportRegistry, runExport } from '@meddl/onnx';
import { readEvalArtifact } from '@meddl/report';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCohort } from './bags';
import { commands } from './commands';
import { evaluate, parseRunConfig } from './evaluate';
import { registerCrcMilExporter } from './onnx-export';
import { predict, train } from './predict';
import { type PreprocessConfigInput, type PreprocessResult, preprocess } from './preprocess';
import { type SynthResult, synthesize } from './synth/generator';
import { predictAux, trainModel } from './train';

const dir = mkdtempSync(join(tmpdir(), 'crc-mil-test-'));
const pre: PreprocessConfigInput = {
  patchSize: 32,
  magnification: 20,
  tissue: { maxSize: 256, minTissueArea: 10_000, minHoleArea: 4_000 },
  qc: { minLaplacianVariance: 30 },
  encoder: { dim: 16 },
};
let synth: SynthResult;
let result: PreprocessResult;

beforeAll(async () => {
  synth = await synthesize(join(dir, 'data'), {
    seed: 3,
    patients: 6,
    width: 512,
    height: 384,
    blurFraction: 1,
    penFraction: 0.5,
    blankSlides: 1,
    multiSlideFraction: 0.3,
  });
  writeFileSync(join(dir, 'data', 'slides', 'broken.svs'), 'not a slide at all');
  result = await preprocess(join(dir, 'data', 'slides'), join(dir, 'pre'), pre, () => {});
}, 120_000);

describe('synthetic data', () => {
  it('writes slides, a clinical table with several slides for some patients, and artifacts', () => {
    const csv = readFileSync(synth.clinicalCsv, 'utf8').trim().split('\n');
    expect(csv[0]).toBe(
      'patient_id,slide_id,slide_file,institution,subtype,msi,braf,age_band,survival_months,event,pathway_canonical,pathway_immune,pathway_stromal',
    );
    // Pathway scores: z-scored over the patients with tissue, empty for the blank slide's patient,
    // and the immune score is highest in the Immune patients.
    const withTissue = synth.slides.filter((s) => s.pathway_immune !== null);
    expect(withTissue.length).toBe(synth.slides.length - 1);
    expect(synth.slides[synth.slides.length - 1]?.pathway_immune).toBeNull();
    const immune = (st: string) =>
      withTissue.filter((s) => s.subtype === st).map((s) => s.pathway_immune as number);
    expect(Math.min(...immune('Immune'))).toBeGreaterThan(
      Math.max(...immune('Canonical'), ...immune('Stromal')),
    );
    expect(csv.length - 1).toBe(synth.slides.length);
    expect(new Set(synth.slides.map((s) => s.subtype))).toEqual(new Set(['Canonical', 'Immune', 'Stromal']));
    expect(
      synth.slides.filter((s) => s.artifacts.some((a) => a.kind === 'blur')).length,
    ).toBeGreaterThanOrEqual(6);
  });
});

describe('preprocess', () => {
  it('reports the broken file and the blank slide and keeps going', () => {
    const byId = new Map(result.slides.map((s) => [s.slide_id, s]));
    expect(byId.get('broken')?.status).toBe('unreadable');
    expect(byId.get('broken')?.message).toMatch(/broken\.svs/);
    const blank = synth.slides[synth.slides.length - 1]?.slide_id as string;
    expect(byId.get(blank)?.status).toBe('no-tissue');
    expect(result.totals.done).toBe(synth.slides.length - 1);
    expect(readFileSync(join(dir, 'pre', 'qc_report.csv'), 'utf8')).toContain('rejected_blur');
  });

  it('rejects the planted blur and pen patches with the right reason', async () => {
    let blurInside = 0;
    let penOnStroke = 0;
    const size = 64; // level-0 extent of a 32-px patch at 20x on a 40x slide
    for (const s of synth.slides) {
      const rec = result.slides.find((r) => r.slide_id === s.slide_id);
      if (rec?.status !== 'done') continue;
      const rejected = new Map(rec.rejected_patches.map(([x, y, why]) => [`${x},${y}`, why]));
      const bag = await readFeatureBag(join(dir, 'pre', rec.bag as string));
      const accepted = new Set(
        Array.from({ length: bag.count }, (_, i) => `${bag.coords[2 * i]},${bag.coords[2 * i + 1]}`),
      );
      const blur = s.artifacts.find((a) => a.kind === 'blur');
      const pen = s.artifacts.find((a) => a.kind === 'pen');
      for (let y = 0; y + size <= 384; y += size) {
        for (let x = 0; x + size <= 512; x += size) {
          const key = `${x},${y}`;
          const why = rejected.get(key);
          const inBlur =
            blur && x >= blur.x && y >= blur.y && x + size <= blur.x + blur.w && y + size <= blur.y + blur.h;
          const offPen =
            !pen || x + size <= pen.x || y + size <= pen.y || x >= pen.x + pen.w || y >= pen.y + pen.h;
          if (inBlur && offPen) {
            expect(accepted.has(key)).toBe(false);
            if (why !== undefined) expect(['blur', 'background']).toContain(why);
            if (why === 'blur') blurInside++;
          }
          if (pen?.points) {
            const [[x0, y0], [x1, y1]] = pen.points as [[number, number], [number, number]];
            const cx = x + size / 2;
            const cy = y + size / 2;
            const t = Math.max(
              0,
              Math.min(
                1,
                ((cx - x0) * (x1 - x0) + (cy - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2),
              ),
            );
            const d = Math.hypot(cx - x0 - t * (x1 - x0), cy - y0 - t * (y1 - y0));
            // A patch whose centre lies on the stroke is never accepted; if it was a tissue candidate it is 'pen'.
            if (d < 3) {
              expect(accepted.has(key)).toBe(false);
              if (why !== undefined && why !== 'background') {
                expect(why).toBe('pen');
                penOnStroke++;
              }
            }
          }
        }
      }
    }
    expect(blurInside).toBeGreaterThan(0);
    expect(penOnStroke).toBeGreaterThan(0);
  });

  it('writes CLAM-layout bags with level-0 int32 coords and the patching attributes', async () => {
    const first = result.slides.find((s) => s.status === 'done');
    const path = join(dir, 'pre', first?.bag as string);
    const bag = await readFeatureBag(path);
    expect(bag.dim).toBe(16);
    expect(bag.coords).toBeInstanceOf(Int32Array);
    expect(bag.count).toBe(first?.accepted);
    expect(bag.attributes.patch_size).toBe(32);
    expect(bag.attributes.patch_size_level0).toBe(64);
    expect(bag.attributes.magnification).toBe(20);
    expect(String(bag.attributes.coords_units)).toMatch(/level-0/);
    for (let i = 0; i < bag.count; i++) expect((bag.coords[2 * i] as number) % 64).toBe(0);
    const f = await Hdf5File.open(path);
    expect(f.info('magnifications').shape).toEqual([bag.count]);
    f.close();
  });

  it('resumes: a second run redoes nothing', async () => {
    const bagPath = join(dir, 'pre', result.slides.find((s) => s.status === 'done')?.bag as string);
    const mtime = statSync(bagPath).mtimeMs;
    const lines: string[] = [];
    const again = await preprocess(join(dir, 'data', 'slides'), join(dir, 'pre'), pre, (l) => lines.push(l));
    expect(lines.every((l) => l.includes('already done'))).toBe(true);
    expect(statSync(bagPath).mtimeMs).toBe(mtime);
    expect(again.totals).toEqual(result.totals);
  });
});

describe('cross-validation, training and prediction', () => {
  const config = () => ({
    name: 'tiny',
    runsDir: join(dir, 'runs'),
    seed: 1,
    data: { clinical: synth.clinicalCsv, preprocessDir: join(dir, 'pre') },
    preprocess: pre,
    model: { preset: 'tiny' as const, head: 'evidential' as const },
    training: { maxEpochs: 2, lr: 0.003 },
    cv: { folds: 2, stratify: ['subtype'] },
    eval: { bootstrap: 50, heatmaps: 1, topK: 1, subgroups: ['msi', 'institution'] },
  });

  it('evaluates with disjoint patient folds and writes eval.json, CSVs and heatmaps', async () => {
    const r = await evaluate(config(), () => {});
    const ev = JSON.parse(readFileSync(join(r.runDir, 'crc-mil-eval.json'), 'utf8'));
    // eval.json follows the @meddl/report contract (what `meddl report` renders).
    const artifact = readEvalArtifact(r.runDir);
    expect(artifact?.model).toBe('crc-mil');
    expect(artifact?.sections.map((x) => x.type)).toEqual([
      'classification',
      'confusion',
      'calibration',
      'survival',
      'forest',
      'gallery',
    ]);
    // Reliability diagrams before/after temperature: the same ECE as the pooled report.
    const calib = artifact?.sections.find((x) => x.type === 'calibration');
    if (calib?.type !== 'calibration') throw new Error('no calibration section');
    expect(calib.before.ece).toBeCloseTo(ev.pooled.eceBefore.estimate, 12);
    expect(calib.after?.ece).toBeCloseTo(ev.pooled.eceAfter.estimate, 12);
    expect(calib.before.counts.reduce((a, b) => a + b, 0)).toBe(ev.patients);
    // Kaplan–Meier per predicted subtype with the same log-rank test and C-index as crc-mil-eval.json.
    const surv = artifact?.sections.find((x) => x.type === 'survival');
    if (surv?.type !== 'survival') throw new Error('no survival section');
    expect(surv.curves.map((c) => c.label)).toEqual(
      ev.survival.kaplanMeier.map((g: { predicted: string }) => g.predicted),
    );
    expect(surv.curves.reduce((a, c) => a + (c.n ?? 0), 0)).toBe(ev.survival.n);
    if (ev.survival.logRank) expect(surv.logRank?.pValue).toBeCloseTo(ev.survival.logRank.pValue, 12);
    expect(surv.cIndex?.value).toBeCloseTo(ev.survival.cIndex.estimate, 12);
    const assignment = ev.foldAssignment as Record<string, number>;
    expect(Object.keys(assignment).length).toBe(ev.patients);
    expect(ev.excludedPatients).toHaveLength(1); // the blank slide's patient
    expect(r.perFold.reduce((a, f) => a + f.testPatients, 0)).toBe(ev.patients);
    expect(r.pooled.n).toBe(ev.patients);
    expect(ev.survival.cIndex.comparable).toBeGreaterThan(0);
    expect(ev.subgroups.length).toBeGreaterThan(0);
    const preds = readFileSync(join(r.runDir, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(preds).toHaveLength(ev.patients + 1);
    expect(existsSync(join(r.runDir, 'folds.csv'))).toBe(true);
    expect(existsSync(join(r.runDir, 'km.csv'))).toBe(true);
    const heatmaps = readdirSync(join(r.runDir, 'heatmaps')).filter((f) => f.endsWith('_attention.png'));
    expect(heatmaps.length).toBeGreaterThanOrEqual(2);
    expect(
      readFileSync(join(r.runDir, 'heatmaps', heatmaps[0] as string))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
  }, 120_000);

  it('refuses to resume a run directory made with a different config', async () => {
    await expect(evaluate({ ...config(), training: { maxEpochs: 3, lr: 0.003 } }, () => {})).rejects.toThrow(
      /different config/,
    );
  });

  it('trains a final model and predicts, reporting a blank slide as rejected', async () => {
    const t = await train({ ...config(), name: 'final' }, () => {});
    expect(existsSync(t.modelPath)).toBe(true);
    const slideOk = join(dir, 'data', (synth.slides[0] as { slide_file: string }).slide_file);
    const slideBlank = join(
      dir,
      'data',
      (synth.slides[synth.slides.length - 1] as { slide_file: string }).slide_file,
    );
    const out = await predict([slideOk, slideBlank], join(t.runDir, 'final'), join(dir, 'pred'), () => {});
    expect(out[0]?.status).toBe('predicted');
    const p = Object.values(out[0]?.probabilities ?? {});
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(out[0]?.uncertainty?.kind).toBe('vacuity');
    expect(existsSync(out[0]?.heatmap as string)).toBe(true);
    expect(out[1]?.status).toBe('rejected');
    expect(out[1]?.reason).toMatch(/no-tissue/);
    expect(out[0]?.engine).toBe('checkpoint');
    // The same chain with the MIL head exported to ONNX (`meddl export crc-mil`) and run by onnxruntime.
    registerCrcMilExporter();
    const onnxPath = join(dir, 'export', 'crc-mil.onnx');
    await runExport(exportRegistry, 'crc-mil', { checkpoint: join(t.runDir, 'final'), out: onnxPath });
    const viaOnnx = await predict([slideOk, slideBlank], onnxPath, join(dir, 'pred-onnx'), () => {}, {
      onnx: { threads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'] },
    });
    expect(viaOnnx[0]?.engine).toBe('onnx');
    expect(viaOnnx[0]?.predicted).toBe(out[0]?.predicted);
    expect(viaOnnx[0]?.patches).toBe(out[0]?.patches);
    for (const [c, v] of Object.entries(out[0]?.probabilities ?? {}))
      expect(Math.abs((viaOnnx[0]?.probabilities?.[c] as number) - v)).toBeLessThan(1e-4);
    expect(
      Math.abs((viaOnnx[0]?.uncertainty?.value as number) - (out[0]?.uncertainty?.value as number)),
    ).toBeLessThan(1e-4);
    expect(viaOnnx[1]?.status).toBe('rejected');
  }, 120_000);

  it('multi-scale: 20x + 10x bags with per-patch magnifications, a model over both, prediction', async () => {
    const ms = { ...pre, extraMagnifications: [10] };
    const r = await train(
      {
        ...config(),
        name: 'multiscale',
        data: { clinical: synth.clinicalCsv, preprocessDir: join(dir, 'pre-ms') },
        preprocess: ms,
        model: {
          preset: 'tiny' as const,
          head: 'softmax' as const,
          multiScale: true,
          // An auxiliary head travels through train → model.json → predict (which reports the subtype only).
          auxiliary: [{ name: 'immune', column: 'pathway_immune' }],
        },
        training: { maxEpochs: 1, lr: 0.003 },
      },
      () => {},
    );
    const info = JSON.parse(readFileSync(join(r.runDir, 'final', 'model.json'), 'utf8'));
    expect(info.model.scales).toBe(2);
    expect(info.model.auxiliary).toEqual(['immune']);
    expect(info.auxiliary[0]).toMatchObject({ name: 'immune', column: 'pathway_immune', kind: 'regression' });
    expect(info.auxiliary[0].std).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'pre-ms', 'manifest.json'), 'utf8'));
    const done = Object.values(manifest.slides as Record<string, { status: string; bag?: string }>).find(
      (x) => x.status === 'done',
    );
    const f = await Hdf5File.open(join(dir, 'pre-ms', done?.bag as string));
    const mags = new Set(Array.from(f.readSlice('magnifications', [null]) as Float32Array));
    f.close();
    expect(mags).toEqual(new Set([20, 10]));
    const slide = join(dir, 'data', (synth.slides[0] as { slide_file: string }).slide_file);
    const out = await predict([slide], join(r.runDir, 'final'), join(dir, 'pred-ms'), () => {});
    expect(out[0]?.status).toBe('predicted');
  }, 120_000);

  it('auxiliary pathway heads: evaluated out of fold, in crc-mil-eval.json, eval.json and predictions.csv', async () => {
    const auxiliary = [
      { name: 'immune', column: 'pathway_immune', kind: 'regression' as const, weight: 1 },
      { name: 'canonical', column: 'pathway_canonical', kind: 'regression' as const, weight: 0.5 },
      { name: 'event', column: 'event', kind: 'binary' as const, weight: 0.5 },
    ];
    const r = await evaluate(
      {
        ...config(),
        name: 'aux',
        model: { ...config().model, auxiliary },
        eval: { ...config().eval, heatmaps: 0 },
      },
      () => {},
    );
    expect(r.auxiliary.map((a) => [a.name, a.metric, a.n])).toEqual([
      ['immune', 'pearson_r', 6],
      ['canonical', 'pearson_r', 6],
      ['event', 'auroc', 6],
    ]);
    const ev = JSON.parse(readFileSync(join(r.runDir, 'crc-mil-eval.json'), 'utf8'));
    expect(ev.auxiliary).toEqual(JSON.parse(JSON.stringify(r.auxiliary)));
    const table = readEvalArtifact(r.runDir)?.sections.find((x) => x.type === 'table');
    if (table?.type !== 'table') throw new Error('no auxiliary table section');
    expect(table.rows.map((row) => row[0])).toEqual(['immune', 'canonical', 'event']);
    expect(table.rows[0]?.[5]).toBe(r.auxiliary[0]?.estimate ?? null);
    const head = readFileSync(join(r.runDir, 'predictions.csv'), 'utf8').split('\n')[0];
    expect(head).toMatch(/,aux_immune,aux_canonical,aux_event$/);
    // Binary outputs are probabilities.
    const rows = readFileSync(join(r.runDir, 'predictions.csv'), 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const p = Number(row.split(',').at(-1));
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(1);
    }
    // A binary task on a column that is not 0/1 is a typed error naming the table, patient and column.
    await expect(
      evaluate(
        {
          ...config(),
          name: 'aux-bad',
          model: { ...config().model, auxiliary: [{ name: 'msi', column: 'msi', kind: 'binary' as const }] },
        },
        () => {},
      ),
    ).rejects.toThrow(/clinical\.csv: patient P\d+: column 'msi' \(auxiliary task msi\) has 'MS/);
  }, 120_000);

  it('the immune-pathway head learns the immune score (training patients)', async () => {
    const cfg = parseRunConfig({
      ...config(),
      name: 'aux-fit',
      model: {
        preset: 'tiny',
        head: 'softmax',
        dropout: 0,
        auxiliary: [{ name: 'immune', column: 'pathway_immune', weight: 1 }],
      },
      training: { maxEpochs: 25, lr: 0.01 },
    });
    const cohort = await loadCohort(cfg.data.clinical, cfg.data.preprocessDir, cfg.classes);
    const ps = cohort.patients;
    const t = await trainModel(cfg, ps, ps, join(dir, 'runs'), 'aux-fit', 5);
    const pred = predictAux(t.model, ps, cfg.model.auxiliary, t.auxStats);
    const truth = ps.map((p) => Number(p.clinical.pathway_immune));
    const r = pearson(truth, pred).value;
    process.stderr.write(`immune head, training-patient Pearson r = ${r.toFixed(3)}\n`);
    expect(r).toBeGreaterThan(0.5);
    t.model.dispose();
  }, 120_000);

  it('exports structural CLI commands', () => {
    expect(commands.map((c) => c.path.join(' '))).toEqual([
      'synth crc-mil',
      'crc-mil preprocess',
      'train crc-mil',
      'eval crc-mil',
      'predict crc-mil',
    ]);
  });
});
