// TissueBERT inference: onnxruntime-node (the exported .onnx) beside the tfjs path (Module.forward
// on the backend initBackend picks), on the same inputs. Reports median latency per batch and
// throughput (sequences/s), and the largest |ONNX − tfjs| difference of the logits.
// The suite (benchmarks/suite, `pnpm bench --scenarios onnx-latency,onnx-throughput`) covers all
// four domain models the same way; this script is the TissueBERT-only sweep over batch sizes.
// Build first (npx pnpm@10.34.8 build), then:
//   node benchmarks/onnx/bench.mjs [preset=tissuebert-small] [batches=1,8,32] [sequence=150] [reps=7] [threads=2]

import { OnnxSession } from '../../packages/onnx/dist/index.js';
import { Generator, initBackend, setNativeThreads, tf } from '../../packages/tensor/dist/index.js';
import { createModel, exportTissueBert, PAD_ID } from '../../packages/tissuebert/dist/index.js';

const preset = process.argv[2] ?? 'tissuebert-small';
const batches = (process.argv[3] ?? '1,8,32').split(',').map(Number);
const length = Number(process.argv[4] ?? 150);
const reps = Number(process.argv[5] ?? 7);
const threads = Number(process.argv[6] ?? 2);

const backend = await initBackend();
const tfjsThreads = backend.name === 'native' ? setNativeThreads(threads) : backend.threads;
const model = createModel(preset, {}, new Generator(0)).eval();
const t0 = performance.now();
const exported = exportTissueBert(model);
const exportMs = performance.now() - t0;
const session = await OnnxSession.create(exported.bytes, {
  threads,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function inputs(b, seed) {
  const g = new Generator(seed);
  const tokens = new Int32Array(b * length);
  const states = new Int32Array(b * length);
  for (let r = 0; r < b; r++) {
    const used = Math.max(2, length - g.int(Math.floor(length / 4))); // up to 25% padding
    for (let i = 0; i < length; i++) {
      tokens[r * length + i] = i >= used ? PAD_ID : i === 0 ? 2 : i === used - 1 ? 3 : 5 + g.int(64);
      states[r * length + i] = g.int(3);
    }
  }
  return { tokens, states };
}

console.log(
  `preset ${preset} (${model.numParameters()} parameters), sequence ${length}, ${reps} reps (median), ${threads} threads; tfjs backend ${backend.name} (${tfjsThreads} threads); onnxruntime-node providers ${session.executionProviders.join(',')}`,
);
console.log(
  `export: ${exportMs.toFixed(0)} ms, ${exported.bytes.length} bytes, ${exported.stats.nodes} nodes`,
);
console.log('| batch | tfjs ms | onnx ms | tfjs seq/s | onnx seq/s | speed-up | max abs diff |');
console.log('| ----- | ------- | ------- | ---------- | ---------- | -------- | ------------ |');
for (const b of batches) {
  const { tokens, states } = inputs(b, b);
  const feeds = {
    token_ids: { data: tokens, dims: [b, length] },
    methylation: { data: states, dims: [b, length] },
  };
  const tfjsRun = () =>
    tf.tidy(() => {
      const t = tf.tensor2d(tokens, [b, length], 'int32');
      const m = tf.tensor2d(states, [b, length], 'int32');
      return model.forward(t, m).dataSync();
    });
  // warm-up (kernel selection, session allocation)
  const ref = tfjsRun();
  const first = await session.run(feeds);
  let diff = 0;
  for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(ref[i] - first.logits.data[i]));
  const tfjsMs = [];
  const onnxMs = [];
  for (let r = 0; r < reps; r++) {
    let s = performance.now();
    tfjsRun();
    tfjsMs.push(performance.now() - s);
    s = performance.now();
    await session.run(feeds);
    onnxMs.push(performance.now() - s);
  }
  const tm = median(tfjsMs);
  const om = median(onnxMs);
  console.log(
    `| ${b} | ${tm.toFixed(1)} | ${om.toFixed(1)} | ${((1000 * b) / tm).toFixed(0)} | ${((1000 * b) / om).toFixed(0)} | ${(tm / om).toFixed(2)}× | ${diff.toExponential(1)} |`,
  );
}
await session.release();
