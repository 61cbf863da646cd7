import { fusedKernelsActive, Generator, initBackend, nativeStatus, tf } from '@meddl/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { GELU, gelu } from './layers/activation';
import { LayerNorm } from './layers/layernorm';
import { TransformerEncoderLayer } from './layers/transformer';

// On the native backend LayerNorm, GELU and attention's softmax run as fused native kernels;
// elsewhere as composed tfjs ops. Both paths must give the same values and gradients.
async function onBackend(name: 'cpu' | 'native') {
  await initBackend(name);
  await tf.setBackend(name === 'cpu' ? 'cpu' : 'meddl-native');
  expect(fusedKernelsActive()).toBe(name === 'native');
}

/** Output and the gradients of sum(out * w) for the module's parameters and its input. */
function run(name: 'cpu' | 'native', build: () => { f: (x: tf.Tensor) => tf.Tensor; params: tf.Variable[] }) {
  const rng = new Generator(31);
  const x = tf.tensor3d(
    rng.normalArray(2 * 5 * 8).map((v) => 1.5 * v + 0.3),
    [2, 5, 8],
  );
  const w = tf.tensor3d(rng.normalArray(2 * 5 * 8), [2, 5, 8]);
  const { f, params } = build();
  const loss = () => tf.sum(tf.mul(f(x), w)) as tf.Scalar;
  const y = Array.from(f(x).dataSync());
  const { grads } = tf.variableGrads(loss, params);
  const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), w)))(x);
  const out = {
    backend: name,
    y,
    grads: params.map((p) => Array.from(grads[p.name].dataSync())),
    dx: Array.from(dx.dataSync()),
  };
  tf.dispose([x, w, dx, ...Object.values(grads), ...params]);
  return out;
}

function close(a: number[], b: number[], tol: number) {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe.runIf(nativeStatus().available)('fused native paths of nn layers match the composed ops', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Record<string, () => { f: (x: tf.Tensor) => tf.Tensor; params: tf.Variable[] }> = {
    LayerNorm: () => {
      const ln = new LayerNorm(8, { eps: 1e-5 });
      tf.tidy(() => {
        ln.weight?.assign(tf.tensor1d(new Generator(3).normalArray(8).map((v) => 1 + 0.2 * v)));
        ln.bias?.assign(tf.tensor1d(new Generator(4).normalArray(8).map((v) => 0.1 * v)));
      });
      return { f: (x) => ln.forward(x), params: [ln.weight, ln.bias] as tf.Variable[] };
    },
    GELU: () => {
      const s = tf.variable(tf.scalar(1.3));
      const act = new GELU();
      return { f: (x) => act.forward(tf.mul(x, s)), params: [s] };
    },
    'pre-norm encoder layer (GELU, padding mask)': () => {
      const layer = new TransformerEncoderLayer(8, 2, {
        dimFeedforward: 16,
        dropout: 0,
        activation: 'gelu',
        normFirst: true,
        rng: new Generator(9),
      });
      const mask = tf.tensor2d(
        [
          [0, 0, 0, 0, 1],
          [0, 0, 0, 0, 0],
        ],
        [2, 5],
        'int32',
      );
      return {
        f: (x) => layer.forward(x, { srcKeyPaddingMask: mask }),
        params: layer.parameters(),
      };
    },
  };

  for (const [name, build] of Object.entries(cases)) {
    it(`${name}: values and gradients`, async () => {
      await onBackend('cpu');
      const ref = run('cpu', build);
      await onBackend('native');
      const got = run('native', build);
      close(got.y, ref.y, 2e-5);
      close(got.dx, ref.dx, 5e-5);
      got.grads.forEach((g, i) => {
        close(g, ref.grads[i], 5e-5);
      });
    });
  }

  it('gelu() takes the fused path only for the erf form', async () => {
    await onBackend('native');
    const x = tf.tensor1d([-2, -0.5, 0, 0.7, 3]);
    const exact = Array.from(gelu(x).dataSync());
    const tanh = Array.from(gelu(x, 'tanh').dataSync());
    close(exact, [-0.0455003, -0.1542688, 0, 0.5306254, 2.9959503], 1e-6);
    close(tanh, [-0.0454023, -0.154286, 0, 0.5305701, 2.9963626], 1e-6);
    x.dispose();
  });
});
