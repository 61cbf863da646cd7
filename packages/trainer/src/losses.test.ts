import { readFileSync } from 'node:fs';
import { initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { bceWithLogits, crossEntropy, type Reduction, sigmoidFocalLoss, weightedLoss } from './losses';

const fx = JSON.parse(readFileSync(new URL('../fixtures/losses.json', import.meta.url), 'utf8'));

beforeAll(async () => {
  await initBackend('cpu');
});

function close(got: tf.Tensor, want: number[], tol = 2e-6) {
  const g = Array.from(got.dataSync());
  expect(g.length).toBe(want.length);
  g.forEach((v, i) => {
    expect(Math.abs(v - want[i])).toBeLessThan(tol * Math.max(1, Math.abs(want[i])));
  });
  got.dispose();
}

describe('losses match torch 1.13', () => {
  const logits = () => tf.tensor2d(fx.ce.logits, fx.ce.shape);
  for (const c of fx.ce.cases as {
    labelSmoothing: number;
    weighted: boolean;
    reduction: Reduction;
    value: number[];
  }[]) {
    it(`cross-entropy ε=${c.labelSmoothing} weighted=${c.weighted} ${c.reduction} (with ignore_index)`, () => {
      const x = logits();
      close(
        crossEntropy(x, fx.ce.target, {
          labelSmoothing: c.labelSmoothing,
          weight: c.weighted ? fx.ce.weight : undefined,
          reduction: c.reduction,
        }),
        // torch gives 0 for ignored samples in 'none'
        c.value,
      );
      x.dispose();
    });
  }
  for (const c of fx.bce.cases as { posWeighted: boolean; reduction: Reduction; value: number[] }[]) {
    it(`BCE with logits pos_weight=${c.posWeighted} ${c.reduction}`, () => {
      const x = tf.tensor2d(fx.bce.logits, fx.bce.shape);
      const t = tf.tensor2d(fx.bce.target, fx.bce.shape);
      close(
        bceWithLogits(x, t, {
          posWeight: c.posWeighted ? fx.bce.posWeight : undefined,
          reduction: c.reduction,
        }),
        c.value,
      );
      tf.dispose([x, t]);
    });
  }
  for (const c of fx.focal.cases as {
    alpha: number;
    gamma: number;
    reduction: Reduction;
    value: number[];
  }[]) {
    it(`sigmoid focal loss α=${c.alpha} γ=${c.gamma} ${c.reduction}`, () => {
      const x = tf.tensor2d(fx.focal.logits, fx.focal.shape);
      const t = tf.tensor2d(fx.focal.target, fx.focal.shape);
      close(sigmoidFocalLoss(x, t, { alpha: c.alpha, gamma: c.gamma, reduction: c.reduction }), c.value);
      tf.dispose([x, t]);
    });
  }

  it('masks average over the masked elements only; weighted sums combine terms', () => {
    const x = tf.tensor2d(fx.bce.logits, fx.bce.shape);
    const t = tf.tensor2d(fx.bce.target, fx.bce.shape);
    const none = Array.from(bceWithLogits(x, t, { reduction: 'none' }).dataSync());
    const mask = tf.tensor2d(
      none.map((_, i) => (i % 3 === 0 ? 1 : 0)),
      fx.bce.shape,
    );
    const sel = none.filter((_, i) => i % 3 === 0);
    close(bceWithLogits(x, t, { mask }), [sel.reduce((a, b) => a + b, 0) / sel.length]);
    const combo = weightedLoss<tf.Tensor, tf.Tensor>([
      { name: 'bce', weight: 0.7, fn: (p, y) => bceWithLogits(p, y) },
      { name: 'focal', weight: 0.3, fn: (p, y) => sigmoidFocalLoss(p, y) },
    ]);
    const bce = fx.bce.cases.find(
      (c: { posWeighted: boolean; reduction: string }) => !c.posWeighted && c.reduction === 'mean',
    ).value[0];
    const focal = fx.focal.cases.find(
      (c: { alpha: number; gamma: number; reduction: string }) =>
        c.alpha === 0.25 && c.gamma === 2 && c.reduction === 'mean',
    ).value[0];
    close(combo(x, t), [0.7 * bce + 0.3 * focal]);
    tf.dispose([x, t, mask]);
  });
});
