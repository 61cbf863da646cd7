// The four meddl architectures as benchmark subjects. Each entry builds the model at a preset
// (quick → tiny, full → small, or base where a model has no small), makes a seeded synthetic
// batch of the right shapes, and returns { trainStep, inferStep, params, trainable, peerSpec,
// dispose }. peerSpec is what benchmarks/peers/peers.py needs to build the same layers.
import * as crcMil from '@meddl/crc-mil';
import * as mdfNet from '@meddl/mdf-net';
import { Generator, tf } from '@meddl/tensor';
import * as tissuebert from '@meddl/tissuebert';
import { Adam } from '@meddl/trainer';
import * as vjepa from '@meddl/vjepa3d';

/** Adam (the trainer's, torch.optim.Adam semantics) on tf.variableGrads of `lossFn`. */
function trainer(model, lossFn) {
  const params = model.trainableParameters();
  const opt = new Adam(params, { lr: 1e-3 });
  return () => {
    model.train();
    const { value, grads } = tf.variableGrads(lossFn, params);
    opt.step(grads);
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return v;
  };
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

/** Uniform ints in [lo, hi) from the project's seeded Generator. */
function ints(rng, n, lo, hi) {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rng.random() * (hi - lo));
  return a;
}
function normals(rng, n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

export const MODELS = {
  tissuebert: {
    describe: (quick) =>
      quick ? 'tissuebert-tiny, batch 8 × 64 tokens' : 'tissuebert-small, batch 16 × 150 tokens',
    build(quick) {
      const preset = quick ? 'tissuebert-tiny' : 'tissuebert-small';
      const batch = quick ? 8 : 16;
      const seq = quick ? 64 : 150;
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
      };
    },
  },
  'crc-mil': {
    describe: (quick) =>
      quick ? 'MIL tiny, one bag of 256 × 64 features' : 'MIL base, one bag of 2048 × 384 features',
    build(quick) {
      const preset = quick ? 'tiny' : 'base';
      const inDim = quick ? 64 : 384;
      const bag = quick ? 256 : 2048;
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
      };
    },
  },
  'mdf-net': {
    describe: (quick) =>
      quick
        ? 'mdf-net-tiny, batch 8 (32² image, 48 tokens)'
        : 'mdf-net-small, batch 16 (64² image, 64 tokens)',
    build(quick) {
      const preset = quick ? 'mdf-net-tiny' : 'mdf-net-small';
      const batch = quick ? 8 : 16;
      const rng = new Generator(0);
      const model = mdfNet.createModel({ ...mdfNet.PRESETS[preset] }, rng);
      const c = model.config;
      const S = c.imageSize;
      const L = c.maxTokens;
      const nSex = mdfNet.SEX_CATEGORIES.length;
      const inputs = {
        images: tf.tensor3d(normals(rng, batch * S * S), [batch, S, S]),
        tokens: tf.tensor2d(ints(rng, batch * L, 1, c.vocabSize), [batch, L], 'int32'),
        attention: tf.ones([batch, L], 'int32'),
        clinical: tf.tensor2d(normals(rng, batch * mdfNet.CLINICAL_NUMERIC_DIM), [
          batch,
          mdfNet.CLINICAL_NUMERIC_DIM,
        ]),
        sex: tf.tensor1d(ints(rng, batch, 0, nSex), 'int32'),
        acuity: tf.tensor1d(ints(rng, batch, 0, mdfNet.ACUITY_CATEGORIES), 'int32'),
      };
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
          clinicalDim: mdfNet.CLINICAL_NUMERIC_DIM,
          sexCategories: nSex,
          acuityCategories: mdfNet.ACUITY_CATEGORIES,
        },
        inputs: [...Object.values(inputs), y],
      };
    },
  },
  vjepa3d: {
    describe: (quick) =>
      quick
        ? 'vit3d-tiny, batch 2 (16×32×32 volume, 128 tokens)'
        : 'vit3d-small, batch 2 (32×128×128, 1024 tokens)',
    build(quick) {
      const preset = quick ? 'vit3d-tiny' : 'vit3d-small';
      const batch = 2;
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
      };
    },
  },
};
