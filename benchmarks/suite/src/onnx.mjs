// ONNX inference scenarios: each model exported with its own package's exporter, run on
// onnxruntime-node through @meddl/onnx's OnnxSession, beside the tfjs module forward on the same
// inputs. 'onnx-latency' is a batch of 1 (one small bag for crc-mil), 'onnx-throughput' a large
// batch (a large bag). Before any timing the outputs of both paths are compared; a case whose
// largest |ONNX − tfjs| exceeds the tolerance is reported as a failure and not timed, so a wrong
// export cannot post a fast number.
import { OnnxSession } from '@meddl/onnx';

/** |ONNX − tfjs| bound: 1e-4 (issue 12's parity bar) scaled by the output's magnitude when > 1. */
export const ONNX_TOLERANCE = 1e-4;

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return { diff: d, scale };
}

const timeSync = (fn, n, into) => {
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  into?.push(...ts);
  return ts;
};
async function timeAsync(fn, n, into) {
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  into?.push(...ts);
  return ts;
}

/** onnxruntime-node's version, or null when it cannot be loaded. */
export async function onnxRuntimeVersion() {
  try {
    const ort = await import('onnxruntime-node');
    return ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown';
  } catch {
    return null;
  }
}

/**
 * Runs the requested ONNX scenarios of one built model (`b` from MODELS[name].build). Returns
 * { rows, failures, exportInfo } in the shape run.mjs collects; `med` and `summarize` come from
 * lib.mjs.
 */
export async function runOnnxScenarios({
  name,
  b,
  description,
  scenarios,
  rounds,
  steps,
  warmup,
  threads,
  lib,
  log,
}) {
  const { summarize, ratioSummary, median } = lib;
  const o = b.onnx;
  const rows = [];
  const failures = [];
  const t0 = performance.now();
  const exported = o.export();
  const exportMs = performance.now() - t0;
  const session = await OnnxSession.create(exported.bytes, {
    threads,
    interOpThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  const exportInfo = `export ${exportMs.toFixed(0)} ms, ${(exported.bytes.length / 1024).toFixed(0)} KiB, ${exported.stats.nodes} nodes, opset ${exported.opset}`;
  log(`  onnx: ${exportInfo}; onnxruntime providers ${session.executionProviders.join(',')}`);
  try {
    for (const scenario of scenarios) {
      const batch = scenario === 'onnx-latency' ? (o.latencyBatch ?? 1) : o.throughputBatch;
      const key = `${name}/${b.preset}/${scenario}`;
      const c = o.make(batch, 1000 + batch);
      const onnxRun = () => session.run(c.feeds);
      // Warm-up (kernel selection, arena allocation) doubles as the agreement check.
      let t = performance.now();
      const ref = c.tfjs();
      const tfjsFirst = (performance.now() - t) / 1000;
      t = performance.now();
      const got = await onnxRun();
      const onnxFirst = (performance.now() - t) / 1000;
      let worst = 0;
      let worstScale = 1;
      let what = '';
      for (const out of o.compare) {
        if (!ref[out]) continue;
        const g = got[out];
        const r = g ? maxAbsDiff(ref[out], g.data) : { diff: Number.POSITIVE_INFINITY, scale: 1 };
        if (r.diff / r.scale >= worst / worstScale) {
          worst = r.diff;
          worstScale = r.scale;
        }
        what = what ? `${what}, ${out}` : out;
      }
      const tolerance = ONNX_TOLERANCE * worstScale;
      const check = { what, maxAbsDiff: worst, tolerance, ok: worst <= tolerance };
      if (!check.ok) {
        const message = `ONNX output differs from tfjs: max abs diff ${worst.toExponential(2)} > ${tolerance.toExponential(1)} (${what}); not timed`;
        log(`  ${scenario}: ${message}`);
        failures.push({ key, message });
        continue;
      }
      timeSync(c.tfjs, warmup - 1);
      await timeAsync(onnxRun, warmup - 1);
      const tfjsRounds = [];
      const onnxRounds = [];
      const tfjsAll = [];
      const onnxAll = [];
      for (let r = 0; r < rounds; r++) {
        tfjsRounds.push(median(timeSync(c.tfjs, steps, tfjsAll)));
        onnxRounds.push(median(await timeAsync(onnxRun, steps, onnxAll)));
      }
      rows.push({
        model: name,
        preset: b.preset,
        description: `${description}; ${o.describe(batch)}`,
        scenario,
        batch,
        unit: o.unit,
        params: b.model.numParameters(),
        subject: 'meddl onnxruntime',
        threads,
        meddl: summarize(onnxRounds, batch, onnxAll),
        firstStep: { meddl: onnxFirst, peer: tfjsFirst },
        peer: {
          name: 'tfjs',
          stats: summarize(tfjsRounds, batch, tfjsAll),
          ratio: ratioSummary(onnxRounds, tfjsRounds),
        },
        check,
      });
      log(
        `  ${scenario} (batch ${batch}): onnx ${(median(onnxRounds) * 1000).toPrecision(3)} ms, tfjs ${(median(tfjsRounds) * 1000).toPrecision(3)} ms, max abs diff ${worst.toExponential(1)}`,
      );
    }
  } finally {
    await session.release();
  }
  return { rows, failures, exportInfo };
}
