import { initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  digamma,
  dirichletKlToUniform,
  evidentialMseLoss,
  GatedAttentionMil,
  lgamma,
  maskedAuxLoss,
} from './model';

beforeAll(async () => {
  await initBackend();
});

describe('special functions (values from scipy.special 1.17)', () => {
  it('lgamma and digamma', () => {
    const x = tf.tensor1d([0.5, 3.7, 12.25]);
    const lg = lgamma(x).dataSync();
    expect(lg[0]).toBeCloseTo(0.5723649429247, 5);
    expect(lg[1]).toBeCloseTo(1.428072326665388, 5);
    expect(lg[2]).toBeCloseTo(18.115669505710894, 4);
    const dg = digamma(tf.tensor1d([1, 2.5, 0.3])).dataSync();
    expect(dg[0]).toBeCloseTo(-0.5772156649015329, 5);
    expect(dg[1]).toBeCloseTo(0.7031566406452432, 5);
    expect(dg[2]).toBeCloseTo(-3.502524222200133, 4);
    // KL(Dir(2,3,4) || Dir(1,1,1)) by scipy: 0.6194062152544495
    expect(dirichletKlToUniform(tf.tensor2d([[2, 3, 4]])).dataSync()[0]).toBeCloseTo(0.6194062152544495, 4);
  });
});

describe('auxiliary heads', () => {
  it('adds aux_<name> Linear(hidden, 1) heads on the bag embedding for every aggregator', () => {
    for (const aggregator of ['gated', 'transformer'] as const) {
      const m = new GatedAttentionMil({
        inDim: 8,
        hidden: 8,
        attnDim: 4,
        numClasses: 3,
        aggregator,
        heads: 2,
        layers: 1,
        auxiliary: ['canonical', 'immune'],
      });
      const sd = m.stateDict();
      const keys = Object.keys(sd);
      expect(keys.slice(-4)).toEqual([
        'aux_canonical.weight',
        'aux_canonical.bias',
        'aux_immune.weight',
        'aux_immune.bias',
      ]);
      expect(sd['aux_immune.weight']?.shape).toEqual([1, 8]);
      m.eval();
      const out = m.forward(tf.randomNormal([5, 8], 0, 1, 'float32', 2) as tf.Tensor2D);
      expect(out.aux?.shape).toEqual([1, 2]);
      tf.dispose([out.logits, out.attention, out.aux as tf.Tensor]);
      m.dispose();
    }
    // Multi-scale gated model too; none by default (state dict unchanged).
    const ms = new GatedAttentionMil({ inDim: 4, hidden: 6, attnDim: 4, scales: 2, auxiliary: ['immune'] });
    ms.eval();
    const o = ms.forward(
      tf.randomNormal([4, 4], 0, 1, 'float32', 3) as tf.Tensor2D,
      Int32Array.from([0, 0, 1, 1]),
    );
    expect(o.aux?.shape).toEqual([1, 1]);
    const plain = new GatedAttentionMil({ inDim: 4, hidden: 6, attnDim: 4 });
    expect(Object.keys(plain.stateDict()).some((k) => k.startsWith('aux_'))).toBe(false);
    expect(plain.forward(tf.ones([3, 4]) as tf.Tensor2D).aux).toBeUndefined();
    expect(() => new GatedAttentionMil({ auxiliary: ['a', 'a'] })).toThrow(/unique/);
  });

  it('masks missing targets out of the MSE and BCE losses', () => {
    const pred = tf.tensor1d([1, -2, 0.5, 3]);
    // MSE over rows 0 and 2 only: ((1 − 0)² + (0.5 − 1.5)²) / 2 = 1.
    expect(maskedAuxLoss(pred, [0, Number.NaN, 1.5, Number.NaN], 'regression').dataSync()[0]).toBeCloseTo(
      1,
      6,
    );
    // BCE with logits over rows 1 and 3: (−log σ(2)·… ) computed by hand.
    const bce = (x: number, y: number) => Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));
    expect(maskedAuxLoss(pred, [Number.NaN, 1, Number.NaN, 0], 'binary').dataSync()[0]).toBeCloseTo(
      (bce(-2, 1) + bce(3, 0)) / 2,
      5,
    );
    // All missing: zero loss with zero gradient (and no NaN).
    const g = tf.grad((p: tf.Tensor) =>
      maskedAuxLoss(p as tf.Tensor1D, [Number.NaN, Number.NaN, Number.NaN, Number.NaN], 'binary'),
    )(pred);
    expect(Array.from(g.dataSync(), (v) => v + 0)).toEqual([0, 0, 0, 0]);
    // The gradient reaches only the present rows.
    const g2 = tf.grad((p: tf.Tensor) =>
      maskedAuxLoss(p as tf.Tensor1D, [0, Number.NaN, 1.5, Number.NaN], 'regression'),
    )(pred);
    expect(Array.from(g2.dataSync(), (v) => v + 0)).toEqual([1, 0, -1, 0]);
  });
});

describe('GatedAttentionMil', () => {
  it('has PyTorch-style state-dict keys and a softmax attention over the bag', () => {
    const m = new GatedAttentionMil({ inDim: 8, hidden: 6, attnDim: 4, numClasses: 3 });
    expect(Object.keys(m.stateDict())).toEqual([
      'feature_mean',
      'feature_std',
      'fc.weight',
      'fc.bias',
      'attention_a.weight',
      'attention_a.bias',
      'attention_b.weight',
      'attention_b.bias',
      'attention_c.weight',
      'attention_c.bias',
      'classifier.weight',
      'classifier.bias',
    ]);
    m.eval();
    const { logits, attention } = m.forward(tf.randomNormal([5, 8], 0, 1, 'float32', 1) as tf.Tensor2D);
    expect(logits.shape).toEqual([1, 3]);
    expect(attention.shape).toEqual([5]);
    expect(attention.sum().dataSync()[0]).toBeCloseTo(1, 5);
    m.dispose();
  });

  it('learns which instance matters (evidential loss) without leaking tensors', () => {
    // Bags of 6 instances; the label is the class of one planted key instance.
    const m = new GatedAttentionMil({
      inDim: 4,
      hidden: 16,
      attnDim: 8,
      numClasses: 2,
      dropout: 0,
      head: 'evidential',
    });
    const opt = tf.train.adam(0.02);
    const rnd = (s: number) => Math.sin(s * 12.9898) * 0.5;
    const bag = (label: number, seed: number) => {
      const d = new Float32Array(24);
      for (let i = 0; i < 24; i++) d[i] = rnd(seed * 31 + i);
      d[(seed % 6) * 4 + label] = 3;
      return d;
    };
    const lossAt = () =>
      tf.tidy(() => {
        let s = 0;
        for (let b = 0; b < 8; b++)
          s += evidentialMseLoss(
            m.forward(tf.tensor2d(bag(b % 2, b), [6, 4])).logits,
            [b % 2],
            1,
          ).dataSync()[0] as number;
        return s / 8;
      });
    const before = lossAt();
    let afterTwo = 0;
    for (let step = 0; step < 40; step++) {
      const b = step % 8;
      opt.minimize(
        () =>
          evidentialMseLoss(
            m.forward(tf.tensor2d(bag(b % 2, b), [6, 4])).logits,
            [b % 2],
            Math.min(1, step / 20),
          ),
        false,
        m.trainableParameters(),
      );
      if (step === 1) afterTwo = tf.memory().numTensors; // parameters + Adam slots exist from here on
    }
    const after = lossAt();
    expect(tf.memory().numTensors).toBe(afterTwo);
    expect(after).toBeLessThan(before * 0.6);
    m.dispose();
    opt.dispose();
  });

  it('multi-scale: attends within each magnification, then across scales', () => {
    const m = new GatedAttentionMil({
      inDim: 4,
      hidden: 6,
      attnDim: 3,
      numClasses: 2,
      scales: 2,
      dropout: 0,
    });
    expect(Object.keys(m.stateDict())).toContain('scale_attention_c.weight');
    const scales = Int32Array.from([0, 0, 1, 1, 1]);
    const { logits, attention } = m.forward(
      tf.randomNormal([5, 4], 0, 1, 'float32', 2) as tf.Tensor2D,
      scales,
    );
    expect(logits.shape).toEqual([1, 2]);
    expect(attention.sum().dataSync()[0]).toBeCloseTo(1, 5);
    // A bag with a single scale present still works (that scale gets weight 1).
    const one = m.forward(
      tf.randomNormal([3, 4], 0, 1, 'float32', 3) as tf.Tensor2D,
      Int32Array.from([1, 1, 1]),
    );
    expect(one.attention.sum().dataSync()[0]).toBeCloseTo(1, 5);
    // Gradients reach the cross-scale attention.
    const grads = tf.variableGrads(
      () =>
        evidentialMseLoss(
          m.forward(tf.randomNormal([5, 4], 0, 1, 'float32', 4) as tf.Tensor2D, scales).logits,
          [1],
          1,
        ),
      m.trainableParameters(),
    );
    const name = (m.scaleAttentionC as { weight: tf.Variable }).weight.name;
    const g = grads.grads[name] as tf.Tensor;
    expect(g.abs().sum().dataSync()[0]).toBeGreaterThan(0);
    m.dispose();
  });

  it('transformer aggregator (TransMIL-like): keys, permutation equivariance, learns the key instance', () => {
    const m = new GatedAttentionMil({
      inDim: 4,
      hidden: 16,
      numClasses: 2,
      dropout: 0,
      head: 'softmax',
      aggregator: 'transformer',
      heads: 2,
      layers: 2,
    });
    const keys = Object.keys(m.stateDict());
    expect(keys).toContain('cls_token');
    expect(keys).toContain('encoder.layers.1.self_attn.in_proj_weight');
    expect(keys).toContain('encoder.norm.weight');
    expect(keys.some((k) => k.startsWith('attention_'))).toBe(false);
    expect(() => new GatedAttentionMil({ hidden: 16, heads: 3, aggregator: 'transformer' })).toThrow(
      /must divide/,
    );
    const rnd = (s: number) => Math.sin(s * 12.9898) * 0.5;
    const bag = (label: number, seed: number) => {
      const d = new Float32Array(24);
      for (let i = 0; i < 24; i++) d[i] = rnd(seed * 31 + i);
      d[(seed % 6) * 4 + label] = 3;
      return d;
    };
    // No positional encoding: permuting the patches permutes the attention and leaves the logits.
    m.eval();
    const x = bag(1, 5);
    const perm = [3, 0, 5, 1, 4, 2];
    const xp = new Float32Array(24);
    perm.forEach((src, i) => {
      xp.set(x.subarray(src * 4, src * 4 + 4), i * 4);
    });
    const a = m.forward(tf.tensor2d(x, [6, 4]));
    const b = m.forward(tf.tensor2d(xp, [6, 4]));
    const la = a.logits.dataSync();
    const lb = b.logits.dataSync();
    la.forEach((v, i) => {
      expect(lb[i]).toBeCloseTo(v, 5);
    });
    const aa = a.attention.dataSync();
    const ab = b.attention.dataSync();
    expect(Array.from(aa).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    perm.forEach((src, i) => {
      expect(ab[i]).toBeCloseTo(aa[src] as number, 5);
    });
    tf.dispose([a.logits, a.attention, b.logits, b.attention]);
    m.train();
    const opt = tf.train.adam(0.01);
    const ce = (label: number, seed: number) =>
      tf.losses.softmaxCrossEntropy(
        tf.oneHot(tf.tensor1d([label], 'int32'), 2),
        m.forward(tf.tensor2d(bag(label, seed), [6, 4])).logits,
      ) as tf.Scalar;
    const lossAt = () =>
      tf.tidy(() => {
        let s = 0;
        for (let k = 0; k < 8; k++) s += ce(k % 2, k).dataSync()[0] as number;
        return s / 8;
      });
    const before = lossAt();
    let afterTwo = 0;
    for (let step = 0; step < 60; step++) {
      opt.minimize(() => ce(step % 2, step % 8), false, m.trainableParameters());
      if (step === 1) afterTwo = tf.memory().numTensors;
    }
    const after = lossAt();
    expect(tf.memory().numTensors).toBe(afterTwo);
    expect(after).toBeLessThan(before * 0.6);
    m.dispose();
    opt.dispose();
  });
});
