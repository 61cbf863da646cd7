// The four meddl architectures as benchmark subjects. Each entry builds the model at a suite
// preset (tiny, small, base → the package's nearest named size; see SIZES), makes a seeded
// synthetic batch of the right shapes, and returns { trainStep, inferStep, peerSpec, inputs,
// onnx }. peerSpec is what benchmarks/peers/peers.py needs to build the same layers; onnx is the
// model's ONNX inference case (src/onnx.mjs): the package's own exporter, the graph feeds for a
// batch, and the tfjs forward on the same values.
import * as crcMil from '@meddl/crc-mil';
import * as mdfNet from '@meddl/mdf-net';
import { Generator, tf } from '@meddl/tensor';
import * as tissuebert from '@meddl/tissuebert';
import { Adam } from '@meddl/trainer';
import * as vjepa from '@meddl/vjepa3d';

/**
 * Adam (the trainer's, torch.optim.Adam semantics) on tf.variableGrads of `lossFn`: a step
 * function returning the loss; `step.dispose()` frees the optimizer's moment buffers.
 */
export function trainer(model, lossFn) {
  const params = model.trainableParameters();
  const opt = new Adam(params, { lr: 1e-3 });
  const step = () => {
    model.train();
    const { value, grads } = tf.variableGrads(lossFn, params);
    opt.step(grads);
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return v;
  };
  step.dispose = () => opt.dispose();
  return step;
}

function inferer(model, forward) {
  return () => {
    model.eval();
    const out = tf.tidy(() => tf.sum(forward()));
    const v = out.dataSync()[0];
    out.dispose();
    return v;
  };
}

export const PRESETS = ['tiny', 'small', 'base'];

/**
 * Suite preset → each package's named size and the batch shapes. crc-mil has no `small` (its
 * `base` stands in); mdf-net has no `base` (its `small`, the default config, stands in).
 */
export const SIZES = {
  tissuebert: {
    tiny: { preset: 'tissuebert-tiny', batch: 8, seq: 64 },
    small: { preset: 'tissuebert-small', batch: 16, seq: 150 },
    base: { preset: 'tissuebert-base', batch: 16, seq: 150 },
  },
  'crc-mil': {
    tiny: { preset: 'tiny', inDim: 64, bag: 256 },
    small: { preset: 'base', inDim: 384, bag: 2048 },
    base: { preset: 'base', inDim: 384, bag: 2048 },
  },
  'mdf-net': {
    tiny: { preset: 'mdf-net-tiny', batch: 8 },
    small: { preset: 'mdf-net-small', batch: 16 },
    base: { preset: 'mdf-net-small', batch: 16 },
  },
  vjepa3d: {
    tiny: { preset: 'vit3d-tiny', batch: 2 },
    small: { preset: 'vit3d-small', batch: 2 },
    base: { preset: 'vit3d-base', batch: 2 },
  },
};

/** The graph outputs of an ONNX case as plain Float32Arrays, read back from tfjs. */
function readBack(named) {
  const out = {};
  for (const [k, t] of Object.entries(named)) out[k] = t.dataSync();
  return out;
}

/** Uniform ints in [lo, hi) from the project's seeded Generator. */
export function ints(rng, n, lo, hi) {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rng.random() * (hi - lo));
  return a;
}
export function normals(rng, n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

export const MODELS = {
  tissuebert: {
    describe: (p) => {
      const z = SIZES.tissuebert[p];
      return `${z.preset}, batch ${z.batch} × ${z.seq} tokens`;
    },
    build(p) {
      const { preset, batch, seq } = SIZES.tissuebert[p];
      const rng = new Generator(0);
      const model = tissuebert.createModel(preset, {}, rng);
      const c = model.config;
      const ids = tf.tensor2d(ints(rng, batch * seq, 5, c.vocabSize), [batch, seq], 'int32');
      const meth = tf.tensor2d(ints(rng, batch * seq, 0, c.methylationStates), [batch, seq], 'int32');
      const y = tf.oneHot(tf.tensor1d(ints(rng, batch, 0, c.numClasses), 'int32'), c.numClasses);
      return {
        preset,
        batch,
        model,
        trainStep: trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(ids, meth))),
        inferStep: inferer(model, () => model.forward(ids, meth)),
        peerSpec: { config: c, batch, seq },
        inputs: [ids, meth, y],
        onnx: {
          unit: 'sequences',
          throughputBatch: batch,
          describe: (b) => `${b} × ${seq} tokens (up to ¼ padding)`,
          export: () => tissuebert.exportTissueBert(model),
          compare: ['logits'],
          make(b, seed) {
            const g = new Generator(seed);
            const tokens = new Int32Array(b * seq);
            const states = new Int32Array(b * seq);
            for (let r = 0; r < b; r++) {
              const used = Math.max(2, seq - g.int(Math.floor(seq / 4))); // padded tails
              for (let i = 0; i < seq; i++) {
                tokens[r * seq + i] =
                  i >= used
                    ? tissuebert.PAD_ID
                    : i === 0
                      ? tissuebert.CLS_ID
                      : i === used - 1
                        ? tissuebert.SEP_ID
                        : 5 + g.int(c.vocabSize - 5);
                states[r * seq + i] = g.int(c.methylationStates);
              }
            }
            return {
              feeds: {
                token_ids: { data: tokens, dims: [b, seq] },
                methylation: { data: states, dims: [b, seq] },
              },
              tfjs: () =>
                tf.tidy(() => {
                  model.eval();
                  const t = tf.tensor2d(tokens, [b, seq], 'int32');
                  const m = tf.tensor2d(states, [b, seq], 'int32');
                  const logits = model.forward(t, m);
                  return { logits: logits.dataSync() };
                }),
            };
          },
        },
      };
    },
  },
  'crc-mil': {
    describe: (p) => {
      const z = SIZES['crc-mil'][p];
      return `MIL ${z.preset}, one bag of ${z.bag} × ${z.inDim} features`;
    },
    build(p) {
      const { preset, inDim, bag } = SIZES['crc-mil'][p];
      const rng = new Generator(0);
      const model = new crcMil.GatedAttentionMil({ ...crcMil.MIL_PRESETS[preset], inDim }, rng);
      const x = tf.tensor2d(normals(rng, bag * inDim), [bag, inDim]);
      const y = tf.oneHot(tf.tensor1d([1], 'int32'), model.config.numClasses);
      return {
        preset: `mil-${preset}`,
        batch: 1,
        model,
        trainStep: trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(x).logits)),
        inferStep: inferer(model, () => model.forward(x).logits),
        peerSpec: { config: model.config, batch: 1, bag },
        inputs: [x, y],
        onnx: {
          // One bag per call: latency on the training-size bag, throughput (patches/s) on one 8× larger.
          unit: 'patches',
          latencyBatch: bag,
          throughputBatch: bag * 8,
          describe: (b) => `one bag of ${b} × ${inDim} features`,
          export: () => crcMil.exportGatedAttentionMil(model),
          compare: ['logits', 'attention'],
          make(b, seed) {
            const data = normals(new Generator(seed), b * inDim);
            return {
              feeds: { bag: { data, dims: [b, inDim] } },
              tfjs: () =>
                tf.tidy(() => {
                  model.eval();
                  return readBack(model.forward(tf.tensor2d(data, [b, inDim])));
                }),
            };
          },
        },
      };
    },
  },
  'mdf-net': {
    describe: (p) => {
      const z = SIZES['mdf-net'][p];
      const c = mdfNet.createModel({ ...mdfNet.PRESETS[z.preset] }).config;
      return `${z.preset}, batch ${z.batch} (${c.imageSize}² image, ${c.maxTokens} tokens)`;
    },
    build(p) {
      const { preset, batch } = SIZES['mdf-net'][p];
      const rng = new Generator(0);
      const model = mdfNet.createModel({ ...mdfNet.PRESETS[preset] }, rng);
      const c = model.config;
      const S = c.imageSize;
      const L = c.maxTokens;
      const nSex = mdfNet.SEX_CATEGORIES.length;
      const F = mdfNet.CLINICAL_NUMERIC_DIM;
      const makeInputs = (g, b) => {
        const attention = new Int32Array(b * L);
        for (let r = 0; r < b; r++) {
          const used = Math.max(1, L - g.int(Math.floor(L / 3)));
          for (let i = 0; i < used; i++) attention[r * L + i] = 1;
        }
        return {
          images: { data: normals(g, b * S * S), dims: [b, S, S] },
          tokens: { data: ints(g, b * L, 1, c.vocabSize), dims: [b, L] },
          attention: { data: attention, dims: [b, L] },
          clinical: { data: normals(g, b * F), dims: [b, F] },
          sex: { data: ints(g, b, 0, nSex), dims: [b] },
          acuity: { data: ints(g, b, 0, mdfNet.ACUITY_CATEGORIES), dims: [b] },
        };
      };
      const toTf = (feeds) =>
        Object.fromEntries(
          Object.entries(feeds).map(([k, v]) => [
            k,
            tf.tensor(v.data, v.dims, v.data instanceof Int32Array ? 'int32' : 'float32'),
          ]),
        );
      const inputs = toTf(makeInputs(rng, batch));
      inputs.attention.dispose();
      inputs.attention = tf.ones([batch, L], 'int32');
      const labels = Float32Array.from({ length: batch * c.numLabels }, () => (rng.random() < 0.3 ? 1 : 0));
      const y = tf.tensor2d(labels, [batch, c.numLabels]);
      return {
        preset,
        batch,
        model,
        trainStep: trainer(model, () => tf.losses.sigmoidCrossEntropy(y, model.forward(inputs))),
        inferStep: inferer(model, () => model.forward(inputs)),
        peerSpec: {
          config: c,
          batch,
          clinicalDim: F,
          sexCategories: nSex,
          acuityCategories: mdfNet.ACUITY_CATEGORIES,
        },
        inputs: [...Object.values(inputs), y],
        onnx: {
          unit: 'samples',
          throughputBatch: batch,
          describe: (b) => `batch ${b}, image + text (padded) + clinical`,
          export: () => mdfNet.exportMdfNet(model),
          compare: ['logits'],
          make(b, seed) {
            const feeds = makeInputs(new Generator(seed), b);
            return {
              feeds,
              tfjs: () =>
                tf.tidy(() => {
                  model.eval();
                  return { logits: model.forward(toTf(feeds)).dataSync() };
                }),
            };
          },
        },
      };
    },
  },
  vjepa3d: {
    describe: (p) => {
      const z = SIZES.vjepa3d[p];
      const c = vjepa.createModel(z.preset, {}, new Generator(0)).config;
      const g = vjepa.tokenGrid(c);
      return `${z.preset}, batch ${z.batch} (${c.inputShape.join('×')} volume, ${g[0] * g[1] * g[2]} tokens)`;
    },
    build(p) {
      const { preset, batch } = SIZES.vjepa3d[p];
      const rng = new Generator(0);
      const model = vjepa.createModel(preset, {}, new Generator(0));
      const c = model.config;
      const grid = vjepa.tokenGrid(c);
      const n = grid[0] * grid[1] * grid[2];
      const k = c.tubelet[0] * c.tubelet[1] * c.tubelet[2];
      const vol = c.inputShape[0] * c.inputShape[1] * c.inputShape[2];
      const tubelets = tf.tensor3d(
        vjepa.patchify(normals(rng, batch * vol), batch, c.inputShape, c.tubelet),
        [batch, n, k],
      );
      // One mask set: a random quarter of the tokens as context, the next half as targets.
      const nContext = Math.floor(n / 4);
      const nTarget = Math.floor(n / 2);
      const context = new Int32Array(batch * nContext);
      const target = new Int32Array(batch * nTarget);
      for (let b = 0; b < batch; b++) {
        const perm = rng.permutation(n);
        for (let j = 0; j < nContext; j++) context[b * nContext + j] = perm[j];
        for (let j = 0; j < nTarget; j++) target[b * nTarget + j] = perm[nContext + j];
      }
      const masks = [{ context, target, nContext, nTarget }];
      return {
        preset,
        batch,
        model,
        trainStep: trainer(model, () => model.loss(tubelets, masks, 'l1')),
        inferStep: inferer(model, () => model.embed(tubelets, 'target', 'mean')),
        peerSpec: { config: c, batch, nContext, nTarget },
        inputs: [tubelets],
        onnx: {
          // The target encoder (what `embed` uses) from whole volumes: the ONNX graph cuts
          // tubelets with a Conv3d, the tfjs side patchifies in JS and runs forward + mean.
          unit: 'volumes',
          throughputBatch: batch * 2,
          describe: (b) => `${b} volume(s) of ${c.inputShape.join('×')}`,
          export: () => vjepa.exportVJepaEncoder(model, { encoder: 'target' }),
          compare: ['embedding', 'tokens'],
          make(b, seed) {
            const data = normals(new Generator(seed), b * vol);
            return {
              feeds: { volumes: { data, dims: [b, 1, ...c.inputShape] } },
              tfjs: () =>
                tf.tidy(() => {
                  const t = tf.tensor3d(vjepa.patchify(data, b, c.inputShape, c.tubelet), [b, n, k]);
                  const tokens = model.targetEncoder.forward(t);
                  return { tokens: tokens.dataSync(), embedding: tf.mean(tokens, 1).dataSync() };
                }),
            };
          },
        },
      };
    },
  },
};
