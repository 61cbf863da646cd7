/**
 * The crc-mil, mdf-net, vjepa3d and ONNX predictors, each checked against its package's own
 * prediction path (`meddl predict <model>` as a function, or the tfjs model for ONNX) on tiny
 * models trained in the fixture, then served over HTTP against a real redis-server.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointManager } from '@meddl/checkpoint';
import { predict as crcPredict } from '@meddl/crc-mil';
import { Hdf5File } from '@meddl/data';
import { FINDINGS, predict as mdfPredict } from '@meddl/mdf-net';
import { exportRegistry, runExport } from '@meddl/onnx';
import { Generator } from '@meddl/tensor';
import { createModel as createTissueBert, RUN_META_FILE } from '@meddl/tissuebert';
import { predict as vjepaPredict } from '@meddl/vjepa3d';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ModelEntry, parseConfig, type ServeConfigInput } from '../config';
import { crcMilFixture, mdfNetFixture, vjepaFixture } from '../domain-fixtures';
import { ServeConfigError, ServeError } from '../errors';
import { addKey } from '../keys';
import { createService, type Service } from '../service';
import {
  hasRedis,
  type RedisHandle,
  startRedis,
  type TissueBertFixture,
  tissueBertFixture,
} from '../test-support';
import { CrcMilPredictor } from './crc-mil';
import { MdfNetPredictor } from './mdf-net';
import { loadOnnxPredictor, OnnxPredictor } from './onnx';
import { TissueBertPredictor } from './tissuebert';
import { VJepa3dPredictor } from './vjepa3d';

function entry<K extends ModelEntry['kind']>(m: { kind: K } & Record<string, unknown>, artifactDir = '/tmp') {
  const c = parseConfig({ models: [m], storage: { artifactDir } });
  return c.models[0] as Extract<ModelEntry, { kind: K }>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const WORKER = fileURLToPath(new URL('../../dist/predict-worker.js', import.meta.url));

describe('crc-mil predictor', () => {
  let fx: Awaited<ReturnType<typeof crcMilFixture>>;
  let p: CrcMilPredictor;
  const artifacts = () => join(fx.slidesDir, '..', 'artifacts');

  beforeAll(async () => {
    fx = await crcMilFixture();
    p = await CrcMilPredictor.load(entry({ kind: 'crc-mil', modelDir: fx.modelDir }), {
      artifactDir: artifacts(),
    });
  }, 120_000);
  afterAll(() => p?.dispose());

  test('a slide: the same calibrated probabilities and vacuity as `meddl predict crc-mil`, and a heatmap PNG', async () => {
    const out = await p.predict({ file: fx.slide, options: {} });
    const ref = await crcPredict([fx.slide], fx.modelDir, join(fx.slidesDir, '..', 'ref-pred'), () => {});
    const r = ref[0];
    expect(r?.status).toBe('predicted');
    expect(out.labels).toEqual(Object.keys(r?.probabilities ?? {}));
    out.probabilities.forEach((q, i) => {
      expect(q).toBeCloseTo(Object.values(r?.probabilities ?? {})[i] as number, 6);
    });
    expect(sum(out.probabilities)).toBeCloseTo(1, 9);
    expect(out.uncertainty?.score).toBeCloseTo(r?.uncertainty?.value as number, 6);
    expect(out.extras.patches).toBe(r?.patches);
    const link = out.extras.heatmap as string;
    expect(link).toMatch(/^\/v1\/artifacts\/[0-9a-f]{64}\.png$/);
    const png = readFileSync(join(artifacts(), link.split('/').pop() as string));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect((out.extras.topPatches as unknown[]).length).toBe(3);
    expect(p.card()).toMatchObject({ task: 'multiclass', calibration: { calibrated: true } });
  });

  test('a feature bag gives the same prediction as its slide; no heatmap', async () => {
    const fromSlide = await p.predict({ file: fx.slide, options: { heatmap: false } });
    const fromBag = await p.predict({ file: fx.bag, options: {} });
    expect(fromSlide.extras.heatmap).toBeNull();
    expect(fromBag.extras.heatmap).toBeNull();
    fromBag.probabilities.forEach((q, i) => {
      expect(q).toBeCloseTo(fromSlide.probabilities[i] as number, 9);
    });
  });

  test('the exported ONNX model (`meddl export crc-mil`) serves the same predictions, heatmap included', async () => {
    const onnx = join(fx.slidesDir, '..', 'crc-mil.onnx');
    await runExport(exportRegistry, 'crc-mil', { checkpoint: fx.modelDir, out: onnx });
    const o = await loadOnnxPredictor(entry({ kind: 'onnx', name: 'crc-onnx', onnx }), {
      artifactDir: artifacts(),
    });
    const a = await o.predict({ file: fx.slide, options: {} });
    const b = await p.predict({ file: fx.slide, options: {} });
    a.probabilities.forEach((q, i) => {
      expect(q).toBeCloseTo(b.probabilities[i] as number, 5);
    });
    expect(a.uncertainty?.score).toBeCloseTo(b.uncertainty?.score as number, 5);
    expect(a.extras.topPatches).toEqual(
      (b.extras.topPatches as { x: number; y: number }[]).map((t) =>
        expect.objectContaining({ x: t.x, y: t.y }),
      ),
    );
    expect(existsSync(join(artifacts(), (a.extras.heatmap as string).split('/').pop() as string))).toBe(true);
    expect(o.card()).toMatchObject({
      kind: 'onnx:crc-mil',
      labels: p.labels,
      calibration: {
        calibrated: true,
        temperature: (p.card().calibration as unknown as { temperature: number }).temperature,
      },
    });
    o.dispose?.();
  });

  test('a blank slide is rejected by QC with a 422', async () => {
    const e = await p.predict({ file: fx.blankSlide, options: {} }).catch((x) => x);
    expect(e).toBeInstanceOf(ServeError);
    expect(e.statusCode).toBe(422);
    expect(e.message).toMatch(/quality control \(no-tissue/);
  });
});

describe('mdf-net predictor', () => {
  let fx: Awaited<ReturnType<typeof mdfNetFixture>>;
  const clinical = { age: 71, temperature: '38.4', o2sat: 91, sex: 'F', acuity: 2 };

  beforeAll(async () => {
    fx = await mdfNetFixture();
  }, 120_000);

  test('uncalibrated: exactly `meddl predict mdf-net`; with T the logits are divided by T', async () => {
    const raw = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: fx.runDir, calibrate: 'none' }));
    const scaled = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: fx.runDir, temperatures: 2 }));
    // Default: the run's own calibration — the probabilities `meddl predict mdf-net` gives.
    const runCal = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: fx.runDir }));
    const input = { file: fx.image, options: { report: fx.report, clinical } };
    const a = await raw.predict(input);
    const c = await runCal.predict(input);
    const ref = await mdfPredict(fx.runDir, {
      image: fx.image,
      report: fx.report,
      clinical: Object.fromEntries(Object.entries(clinical).map(([k, v]) => [k, String(v)])),
    });
    expect(a.labels).toEqual([...FINDINGS]);
    c.probabilities.forEach((q, k) => {
      expect(q).toBeCloseTo(ref[FINDINGS[k] as string] as number, 6);
    });
    expect(raw.card().calibration.calibrated).toBe(false);
    expect(runCal.card().calibration).toMatchObject({ calibrated: true });
    runCal.dispose();
    const b = await scaled.predict(input);
    b.probabilities.forEach((q, k) => {
      const z = Math.log((a.probabilities[k] as number) / (1 - (a.probabilities[k] as number)));
      expect(q).toBeCloseTo(1 / (1 + Math.exp(-z / 2)), 6);
    });
    expect(a.uncertainty?.score).toBeGreaterThan(0);
    expect(a.uncertainty?.score).toBeLessThanOrEqual(1);
    raw.dispose();
    scaled.dispose();
  });

  test('calibrate: val fits a temperature per finding that does not raise the validation NLL', async () => {
    const p = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: fx.runDir, calibrate: 'val' }));
    const cal = p.card().calibration as unknown as {
      temperatures: number[];
      valNllBefore: number[];
      valNllAfter: number[];
      source: string;
    };
    expect(cal.temperatures).toHaveLength(14);
    expect(cal.source).toMatch(/validation split/);
    let fitted = 0;
    cal.valNllBefore.forEach((before, k) => {
      if (Number.isNaN(before)) return;
      fitted++;
      expect(cal.valNllAfter[k]).toBeLessThanOrEqual(before + 1e-9);
    });
    expect(fitted).toBeGreaterThan(0);
    // Reports are required by a model with a text encoder; bad triage values are the package's error.
    await expect(p.predict({ file: fx.image, options: {} })).rejects.toThrow(/needs the report/);
    await expect(
      p.predict({ file: fx.image, options: { report: 'x', clinical: { acuity: 9 } } }),
    ).rejects.toThrow(/acuity: expected 1-5/);
    p.dispose();
  });
});

describe('mdf-net from ONNX', () => {
  test('`meddl export mdf-net` gives the tfjs predictor’s calibrated probabilities', async () => {
    const fx = await mdfNetFixture();
    const onnx = join(fx.runDir, '..', 'mdf-net.onnx');
    await runExport(exportRegistry, 'mdf-net', { checkpoint: fx.runDir, out: onnx });
    const o = await loadOnnxPredictor(entry({ kind: 'onnx', name: 'mdf-onnx', onnx, run: fx.runDir }), {
      artifactDir: '/tmp',
    });
    // Both take the run's calibration (the sidecar carries calibration.json when the run has one).
    const t = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: fx.runDir }));
    const input = { file: fx.image, options: { report: fx.report, clinical: { age: 50, sex: 'M' } } };
    const a = await o.predict(input);
    const b = await t.predict(input);
    a.probabilities.forEach((q, k) => {
      expect(q).toBeCloseTo(b.probabilities[k] as number, 4);
    });
    const oc = o.card().calibration as unknown as { temperatures: number[]; calibrated: boolean };
    const tc = t.card().calibration as unknown as { temperatures: number[] };
    expect(oc.calibrated).toBe(true);
    oc.temperatures.forEach((x, k) => {
      expect(x).toBeCloseTo(tc.temperatures[k] as number, 3);
    });
    expect(o.card()).toMatchObject({ kind: 'onnx:mdf-net', labels: [...FINDINGS] });
    o.dispose?.();
    t.dispose();
  }, 120_000);
});

describe('vjepa3d predictor', () => {
  test('the embedding of a volume equals the row `meddl predict vjepa3d` writes for it', async () => {
    const fx = await vjepaFixture();
    const p = await VJepa3dPredictor.load(entry({ kind: 'vjepa3d', run: fx.runDir }));
    const file = fx.volumes[0] as string;
    const out = await p.predict({ file, options: {} });
    const dir = join(file, '..');
    const h5 = join(dir, '..', '..', 'emb.h5');
    await vjepaPredict({ run: fx.runDir, input: dir, out: h5 });
    const f = await Hdf5File.open(h5, 'r');
    const data = f.read('embeddings') as Float32Array;
    const info = f.info('embeddings');
    const files = JSON.parse(String(f.attributes('embeddings').files)) as string[];
    f.close();
    const dim = info.shape[1] as number;
    const row = files.indexOf(file.split('/').pop() as string);
    expect(row).toBeGreaterThanOrEqual(0);
    expect(out.extras.dim).toBe(dim);
    expect(out.probabilities).toEqual([]);
    expect(out.uncertainty).toBeNull();
    const v = out.extras.embedding as number[];
    v.forEach((x, i) => {
      expect(x).toBeCloseTo(data[row * dim + i] as number, 5);
    });
    expect(p.card()).toMatchObject({ task: 'embedding', embedding: { dim } });
    // The exported target encoder (`meddl export vjepa3d --encoder target`) gives the same vector,
    // with mean and with mean-max pooling.
    const onnx = join(fx.runDir, '..', 'vjepa3d.onnx');
    await runExport(exportRegistry, 'vjepa3d', { checkpoint: fx.runDir, out: onnx, encoder: 'target' });
    for (const pooling of ['mean', 'mean-max'] as const) {
      const o = await loadOnnxPredictor(entry({ kind: 'onnx', name: 'oct-onnx', onnx, pooling }), {
        artifactDir: '/tmp',
      });
      const t = await VJepa3dPredictor.load(
        entry({ kind: 'vjepa3d', run: fx.runDir, encoder: 'target', pooling }),
      );
      const a = (await o.predict({ file, options: {} })).extras.embedding as number[];
      const b = (await t.predict({ file, options: {} })).extras.embedding as number[];
      expect(a).toHaveLength(b.length);
      a.forEach((x, i) => {
        expect(x).toBeCloseTo(b[i] as number, 4);
      });
      expect(o.card()).toMatchObject({ kind: 'onnx:vjepa3d', embedding: { encoder: 'target', pooling } });
      o.dispose?.();
      t.dispose();
    }
    p.dispose();
  }, 120_000);
});

/** A TissueBERT run directory (run meta + one checkpoint) exported with `meddl export tissuebert`. */
async function exportedTissueBert(fx: TissueBertFixture): Promise<{ onnx: string; runDir: string }> {
  const runDir = join(fx.dir, 'tb-run');
  mkdirSync(runDir, { recursive: true });
  const tissues = fx.dataset.groundTruth.tissues;
  writeFileSync(
    join(runDir, RUN_META_FILE),
    JSON.stringify({
      dataDir: fx.reference,
      preset: 'tissuebert-tiny',
      overrides: {},
      tissues,
      trainSamples: [],
      valSamples: [],
      seed: 0,
    }),
  );
  const model = createTissueBert('tissuebert-tiny', { numClasses: tissues.length }, new Generator(0));
  const m = new CheckpointManager(join(runDir, 'checkpoints'));
  await m.save({ model: model.stateDict(), state: {} }, { epoch: 0, step: 0, metrics: { val_loss: 1 } });
  await m.close();
  model.dispose();
  // The temperature `meddl eval tissuebert` would have fitted.
  writeFileSync(join(runDir, 'tissuebert-eval.json'), JSON.stringify({ calibration: { temperature: 1.7 } }));
  const onnx = join(fx.dir, 'tissuebert.onnx');
  await runExport(exportRegistry, 'tissuebert', { checkpoint: runDir, out: onnx });
  return { onnx, runDir };
}

describe('ONNX predictor', () => {
  test('an exported tissuebert gives the tfjs model’s prediction; the card shows the sidecar', async () => {
    const fx = await tissueBertFixture();
    const { onnx } = await exportedTissueBert(fx);
    const sidecar = JSON.parse(readFileSync(`${onnx}.json`, 'utf8'));
    const p = await OnnxPredictor.load(
      entry({ kind: 'onnx', name: 'tb-onnx', onnx, reference: fx.reference }),
    );
    const tfjs = await TissueBertPredictor.load(
      entry({
        kind: 'tissuebert',
        checkpoint: join(fx.dir, 'tb-run', 'checkpoints'),
        reference: fx.reference,
        preset: 'tissuebert-tiny',
        temperature: 1.7,
      }),
    );
    const smallest = [...fx.dataset.samples].sort((a, b) => a.reads - b.reads)[0];
    const file = join(fx.reference, smallest?.file as string);
    const a = await p.predict({ file, options: {} });
    const b = await tfjs.predict({ file, options: {} });
    expect(a.labels).toEqual(b.labels);
    a.probabilities.forEach((q, i) => {
      expect(q).toBeCloseTo(b.probabilities[i] as number, 4);
    });
    expect(a.uncertainty?.score).toBeCloseTo(b.uncertainty?.score as number, 4);
    const card = p.card();
    expect(card).toMatchObject({
      kind: 'onnx:tissuebert',
      version: sidecar.sha256.slice(0, 12),
      labels: fx.dataset.groundTruth.tissues,
      calibration: { calibrated: true, temperature: 1.7 },
      onnx: { sha256: sidecar.sha256, opset: 17 },
    });
    expect((card.onnx as { inputs: { name: string }[] }).inputs.map((i) => i.name)).toEqual([
      'token_ids',
      'methylation',
    ]);
    p.dispose();
    tfjs.dispose();
    // A sidecar that does not belong to the model is refused at start-up.
    const bad = join(fx.dir, 'other.onnx');
    writeFileSync(bad, readFileSync(onnx));
    writeFileSync(`${bad}.json`, JSON.stringify({ ...sidecar, sha256: '0'.repeat(64) }));
    await expect(
      OnnxPredictor.load(entry({ kind: 'onnx', name: 'bad', onnx: bad, reference: fx.reference })),
    ).rejects.toThrow(ServeConfigError);
  }, 120_000);
});

describe.skipIf(!hasRedis)('the domain models over HTTP', () => {
  let redis: RedisHandle;
  let service: Service;
  let base: string;
  let admin: string;
  let submit: string;
  let crc: Awaited<ReturnType<typeof crcMilFixture>>;
  let mdf: Awaited<ReturnType<typeof mdfNetFixture>>;
  let vj: Awaited<ReturnType<typeof vjepaFixture>>;

  const call = (path: string, init: RequestInit & { key?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    const k = init.key === undefined ? admin : init.key;
    if (k) headers.set('authorization', `Bearer ${k}`);
    return fetch(`${base}${path}`, { ...init, headers });
  };

  beforeAll(async () => {
    redis = await startRedis();
    [crc, mdf, vj] = await Promise.all([crcMilFixture(), mdfNetFixture(), vjepaFixture()]);
    const tb = await tissueBertFixture();
    const { onnx } = await exportedTissueBert(tb);
    const dir = join(crc.slidesDir, '..', 'http');
    const raw: ServeConfigInput = {
      redis: { url: redis.url, prefix: 'domains' },
      keysFile: join(dir, 'keys.json'),
      auditLog: join(dir, 'audit.jsonl'),
      server: { port: 0 },
      storage: {
        uploadDir: join(dir, 'uploads'),
        artifactDir: join(dir, 'artifacts'),
        roots: {
          slides: join(crc.slidesDir, 'slides'),
          cxr: mdf.dataDir,
          oct: join(vj.volumes[0] as string, '..'),
        },
      },
      rateLimit: { max: 10_000 },
      models: [
        { kind: 'crc-mil', modelDir: crc.modelDir },
        // In a worker thread when the package is built (the thread gets the fitted temperatures).
        { kind: 'mdf-net', run: mdf.runDir, threads: existsSync(WORKER) ? 1 : 0 },
        { kind: 'vjepa3d', run: vj.runDir },
        { kind: 'onnx', name: 'tissuebert-onnx', onnx, reference: tb.reference },
      ],
    };
    const config = parseConfig(raw, 'domains-config');
    mkdirSync(dir, { recursive: true });
    admin = addKey(config.keysFile, { name: 'admin', roles: ['admin'] }).key;
    submit = addKey(config.keysFile, { name: 'lis', roles: ['submit'] }).key;
    service = await createService(config);
    base = await service.listen();
  }, 180_000);

  afterAll(async () => {
    await service?.shutdown();
    await redis?.stop();
  });

  test('/v1/models lists each model with version, labels, calibration and input contract', async () => {
    const { models } = (await (await call('/v1/models')).json()) as {
      models: {
        name: string;
        version: string;
        task: string;
        labels: string[];
        calibration: { calibrated: boolean };
        inputs: { extensions: string[] }[];
      }[];
    };
    const by = Object.fromEntries(models.map((m) => [m.name, m]));
    expect(Object.keys(by).sort()).toEqual(['crc-mil', 'mdf-net', 'tissuebert-onnx', 'vjepa3d']);
    expect(by['crc-mil']).toMatchObject({ task: 'multiclass', calibration: { calibrated: true } });
    expect(by['crc-mil']?.inputs.flatMap((i) => i.extensions)).toEqual(
      expect.arrayContaining(['.svs', '.h5']),
    );
    expect(by['mdf-net']?.labels).toEqual([...FINDINGS]);
    if (existsSync(WORKER)) expect(by['mdf-net']).toMatchObject({ execution: { threads: 1 } });
    expect(by.vjepa3d).toMatchObject({ task: 'embedding', labels: [] });
    expect(by['tissuebert-onnx']?.version).toMatch(/^[0-9a-f]{12}$/);
    for (const m of models) expect(m.version).toMatch(/^[0-9a-f]{12}$/);
  });

  test('a crc-mil slide job → calibrated probabilities and a heatmap served by the API', async () => {
    const form = new FormData();
    form.set('model', 'crc-mil');
    form.set('priority', 'urgent');
    form.set('file', new Blob([readFileSync(crc.slide)], { type: 'image/tiff' }), 'case.svs');
    const sub = await call('/v1/jobs', { method: 'POST', body: form, key: submit });
    expect(sub.status).toBe(202);
    const { id } = (await sub.json()) as { id: string };
    let res: Response;
    for (let i = 0; ; i++) {
      res = await call(`/v1/jobs/${id}/result`, { key: submit });
      if (res.status !== 202 || i > 600) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      version: string;
      prediction: { probabilities: number[]; uncertainty: { score: number }; extras: { heatmap: string } };
    };
    expect(sum(body.prediction.probabilities)).toBeCloseTo(1, 6);
    expect(body.prediction.uncertainty.score).toBeGreaterThan(0);
    const img = await call(body.prediction.extras.heatmap, { key: submit });
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await img.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await call(body.prediction.extras.heatmap, { key: null })).status).toBe(401);
    expect((await call('/v1/artifacts/..%2Fkeys.json', { key: submit })).status).toBe(400);
    expect((await call(`/v1/artifacts/${'a'.repeat(64)}.png`, { key: submit })).status).toBe(404);
  });

  test('malformed inputs are refused with 400 at submission, before a job exists', async () => {
    const dir = join(crc.slidesDir, '..', 'http');
    const submitFile = (model: string, name: string, bytes: Buffer | string, type: string) => {
      const form = new FormData();
      form.set('model', model);
      form.set('file', new Blob([bytes], { type }), name);
      return call('/v1/jobs', { method: 'POST', body: form, key: submit });
    };
    const notTiff = await submitFile('crc-mil', 'case.svs', 'this is not a slide', 'image/tiff');
    expect(notTiff.status).toBe(400);
    const notDicom = await submitFile('mdf-net', 'cxr.dcm', Buffer.alloc(400, 7), 'application/dicom');
    expect(notDicom.status).toBe(400);
    // A single-frame DICOM (a chest X-ray) is not an OCT volume.
    const oneFrame = await submitFile('vjepa3d', 'oct.dcm', readFileSync(mdf.image), 'application/dicom');
    expect(oneFrame.status).toBe(400);
    expect(((await oneFrame.json()) as { message: string }).message).toMatch(/several frames/);
    expect(existsSync(join(dir, 'audit.jsonl'))).toBe(true);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(audit.filter((a) => a.status === 400 && a.route === '/v1/jobs').length).toBeGreaterThanOrEqual(3);
    expect(audit.every((a) => !JSON.stringify(a).includes('cxr.dcm'))).toBe(true);
  });

  test('synchronous mdf-net (DICOM + report + triage), vjepa3d and ONNX tissuebert predictions', async () => {
    const post = (body: unknown) =>
      call('/v1/predict', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        key: submit,
      });
    const image = mdf.image.slice(mdf.dataDir.length + 1);
    const m = await post({
      model: 'mdf-net',
      input: { root: 'cxr', path: image },
      options: { report: mdf.report, clinical: { age: 64, sex: 'M', o2sat: 93 } },
    });
    expect(m.status).toBe(200);
    const mp = ((await m.json()) as { prediction: { probabilities: number[] } }).prediction.probabilities;
    expect(mp).toHaveLength(14);
    for (const q of mp) expect(q > 0 && q < 1).toBe(true);
    // The same as the predictor in this thread (the worker thread used the temperatures fitted here).
    const local = await MdfNetPredictor.load(entry({ kind: 'mdf-net', run: mdf.runDir }));
    const lp = await local.predict({
      file: mdf.image,
      options: { report: mdf.report, clinical: { age: 64, sex: 'M', o2sat: 93 } },
    });
    local.dispose();
    mp.forEach((q, k) => {
      expect(q).toBeCloseTo(lp.probabilities[k] as number, 9);
    });
    const missing = await post({ model: 'mdf-net', input: { root: 'cxr', path: image }, options: {} });
    expect(missing.status).toBe(400);
    const bad = await post({
      model: 'mdf-net',
      input: { root: 'cxr', path: image },
      options: { report: 'x', clinical: { pulse: 80 } },
    });
    expect(bad.status).toBe(400);
    const v = await post({
      model: 'vjepa3d',
      input: { root: 'oct', path: (vj.volumes[0] as string).split('/').pop() },
    });
    expect(v.status).toBe(200);
    const vb = (await v.json()) as {
      prediction: { uncertainty: null; extras: { embedding: number[]; dim: number } };
    };
    expect(vb.prediction.extras.embedding).toHaveLength(vb.prediction.extras.dim);
    expect(vb.prediction.uncertainty).toBeNull();
    const tb = await tissueBertFixture();
    const form = new FormData();
    form.set('model', 'tissuebert-onnx');
    const smallest = [...tb.dataset.samples].sort((a, b) => a.reads - b.reads)[0];
    form.set(
      'file',
      new Blob([readFileSync(join(tb.reference, smallest?.file as string))], { type: 'application/gzip' }),
      's.pat.gz',
    );
    const o = await call('/v1/predict', { method: 'POST', body: form, key: submit });
    expect(o.status).toBe(200);
    expect(
      sum(((await o.json()) as { prediction: { probabilities: number[] } }).prediction.probabilities),
    ).toBeCloseTo(1, 6);
    expect(existsSync(join(crc.slidesDir, '..', 'http', 'audit.jsonl'))).toBe(true);
  });
});
