/**
 * Times one training step (forward, loss, gradients, SGD update) of a small transformer on the
 * cpu and wasm backends, alternating backends between rounds, and checks which gradients each
 * backend can compute. Not a test: run it by hand on a quiet machine.
 *
 *   cd packages/nn && npx tsx scripts/backend-step.ts [--rounds 5] [--steps 3]
 */
import { cpus, loadavg } from 'node:os';
import { type BackendName, Generator, initBackend, tf } from '@meddl/tensor';
import {
  Embedding,
  GELU,
  LayerNorm,
  Linear,
  Module,
  MultiheadAttention,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '../src/index';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 5);
const STEPS = arg('steps', 3);
const [B, S, D, HEADS, FF, LAYERS, CLASSES] = [16, 32, 64, 4, 256, 2, 10];

class Classifier extends Module {
  readonly encoder: TransformerEncoder;
  readonly head: Linear;
  constructor(rng: Generator) {
    super();
    const layer = {
      dModel: D,
      nhead: HEADS,
      dimFeedforward: FF,
      dropout: 0.1,
      activation: 'gelu' as const,
      rng,
    };
    this.encoder = this.registerModule('encoder', new TransformerEncoder(layer, LAYERS));
    this.head = this.registerModule('head', new Linear(D, CLASSES, { rng }));
  }
  forward(x: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.head.forward(tf.mean(this.encoder.forward(x, { srcKeyPaddingMask: mask }), 1)));
  }
}

interface Setup {
  model: Classifier;
  step: () => number;
}

function setup(): Setup {
  const rng = new Generator(0);
  const model = new Classifier(rng);
  const x = tf.tensor(rng.normalArray(B * S * D), [B, S, D]);
  const mask = tf.tensor2d(
    Array.from({ length: B * S }, (_, i) => (i % S >= S - (i % 7) ? 1 : 0)),
    [B, S],
    'int32',
  );
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: B }, (_, i) => i % CLASSES),
      'int32',
    ),
    CLASSES,
  );
  const params = model.trainableParameters();
  const step = () => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, mask)) as tf.Scalar,
      params,
    );
    tf.tidy(() => {
      for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name], 1e-3)));
    });
    tf.dispose(grads);
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  };
  return { model, step };
}

/** Forward + backward of each layer alone; returns the error message per layer that fails. */
function gradientCoverage(): Record<string, string> {
  const rng = new Generator(1);
  const x = tf.variable(tf.tensor(rng.normalArray(2 * 4 * 8), [2, 4, 8]));
  const mask = tf.tensor2d([0, 0, 1, 1, 0, 0, 0, 0], [2, 4], 'int32');
  const ids = tf.tensor2d([0, 3, 3, 1, 5, 1, 0, 2], [2, 4], 'int32');
  const cases: Record<string, [Module, () => tf.Tensor]> = {};
  const lin = new Linear(8, 8, { rng });
  cases.Linear = [lin, () => lin.forward(x)];
  const ln = new LayerNorm(8);
  cases.LayerNorm = [ln, () => ln.forward(x)];
  const ge = new GELU();
  cases['GELU(none)'] = [ge, () => ge.forward(x)];
  const gt = new GELU({ approximate: 'tanh' });
  cases['GELU(tanh)'] = [gt, () => gt.forward(x)];
  const emb = new Embedding(6, 8, { rng });
  cases.Embedding = [emb, () => emb.forward(ids)];
  const mha = new MultiheadAttention(8, 2, { rng });
  cases.MultiheadAttention = [mha, () => mha.forward(x, x, x, { keyPaddingMask: mask }).output];
  const enc = new TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0.1, rng });
  cases['TransformerEncoderLayer(dropout)'] = [enc, () => enc.forward(x, { srcKeyPaddingMask: mask })];
  const fails: Record<string, string> = {};
  for (const [name, [m, f]] of Object.entries(cases)) {
    try {
      const vars = [...m.trainableParameters(), ...(name === 'Embedding' ? [] : [x])];
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(f())) as tf.Scalar, vars);
      const finite = Object.values(grads).every(
        (g) => tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0]) === 1,
      );
      if (!finite) fails[name] = 'non-finite gradient';
      tf.dispose([value, ...Object.values(grads)]);
    } catch (err) {
      fails[name] = (err as Error).message.split('\n')[0];
    }
    m.dispose();
  }
  tf.dispose([x, mask, ids]);
  return fails;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main() {
  const load0 = Number(loadavg()[0].toFixed(2));
  const backends: BackendName[] = ['cpu', 'wasm'];
  const setups = new Map<BackendName, Setup>();
  const info: Record<string, unknown> = {};
  const segmentSum: Record<string, boolean> = {};
  const coverage: Record<string, Record<string, string>> = {};
  for (const b of backends) {
    const i = await initBackend(b);
    info[b] = { version: i.version, threads: i.threads, simd: i.simd };
    segmentSum[b] = tf.getKernel('UnsortedSegmentSum', i.tfjsName) !== undefined;
    coverage[b] = gradientCoverage();
    const s = setup();
    s.step(); // warm-up (kernel compilation, allocation)
    setups.set(b, s);
  }
  const times: Record<string, number[]> = { cpu: [], wasm: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of r % 2 === 0 ? backends : [...backends].reverse()) {
      await initBackend(b);
      const s = setups.get(b)!;
      const t0 = performance.now();
      for (let k = 0; k < STEPS; k++) s.step();
      times[b].push((performance.now() - t0) / STEPS);
    }
  }
  console.log(
    JSON.stringify(
      {
        model: { batch: B, seq: S, dModel: D, heads: HEADS, ff: FF, layers: LAYERS },
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        loadAverage1m: { before: load0, after: Number(loadavg()[0].toFixed(2)) },
        backends: info,
        msPerStepMedian: Object.fromEntries(backends.map((b) => [b, Number(median(times[b]).toFixed(1))])),
        msPerStepRounds: Object.fromEntries(
          backends.map((b) => [b, times[b].map((t) => Number(t.toFixed(1)))]),
        ),
        unsortedSegmentSumKernel: segmentSum,
        gradientFailures: coverage,
      },
      null,
      2,
    ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
