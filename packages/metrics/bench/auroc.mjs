// Timing of the hot paths on 1e6 samples (a script, not a test). Build first:
//   npx --yes pnpm@10.34.8 --filter @meddl/metrics build && node packages/metrics/bench/auroc.mjs
import os from 'node:os';
import {
  auroc,
  averagePrecision,
  concordanceIndex,
  delongAuroc,
  expectedCalibrationError,
} from '../dist/index.js';

// Deterministic inputs from a tiny LCG (the package's SeededRandom would do equally).
let state = 12345;
const next = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 4294967296;
};
const n = 1_000_000;
const y = new Uint8Array(n);
const s = new Float64Array(n);
const p = new Float64Array(n);
const t = new Float64Array(n);
for (let i = 0; i < n; i++) {
  y[i] = next() < 0.3 ? 1 : 0;
  s[i] = next() + 0.3 * y[i];
  p[i] = Math.min(1, s[i] / 1.3);
  t[i] = Math.round(next() * 1000) / 10;
}

// Reports wall time and process CPU time (user + system): on a shared machine the CPU time is the better
// estimate of the cost, the wall time includes waiting for a core.
function time(label, fn, reps = 5) {
  fn(); // warm-up
  const wall = [];
  const cpu = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const mid = Math.floor(reps / 2);
  console.log(
    `${label}: wall median ${wall[mid].toFixed(0)} ms (min ${wall[0].toFixed(0)}), ` +
      `cpu median ${cpu[mid].toFixed(0)} ms (min ${cpu[0].toFixed(0)}) over ${reps} runs`,
  );
}

console.log(
  `node ${process.version}, n = ${n}, load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`,
);
time('auroc', () => auroc(y, s));
time('averagePrecision', () => averagePrecision(y, s));
time('delongAuroc', () => delongAuroc(y, s), 3);
time('expectedCalibrationError (15 bins)', () => expectedCalibrationError(y, p), 3);
time('concordanceIndex', () => concordanceIndex(t, s, y), 3);
