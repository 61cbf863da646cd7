import type { ExportedModel } from './export';
import { OnnxSession, type OnnxSessionOptions, type TensorData } from './runtime';

/** One input set and what the meddl module returned for it (e.g. from `tensor.dataSync()`). */
export interface ParityCase {
  feeds: Record<string, TensorData>;
  expected: Record<string, { data: ArrayLike<number>; dims: readonly number[] }>;
}

export interface ParityReport {
  /** Largest |onnx − expected| per output over all cases (Infinity for a NaN on one side only). */
  worst: Record<string, number>;
  ok: boolean;
  /** One line per case and output that differs in shape or by more than the tolerance. */
  failures: string[];
}

/**
 * Runs an exported model on each case and compares every expected output with the module's —
 * the check a domain package's export test makes ("ONNX equals forward within 1e-4 on several
 * batch / sequence / bag sizes").
 */
export async function onnxParity(
  model: ExportedModel | Uint8Array,
  cases: ParityCase[],
  options: { tolerance?: number; session?: OnnxSessionOptions } = {},
): Promise<ParityReport> {
  const tol = options.tolerance ?? 1e-4;
  const bytes = model instanceof Uint8Array ? model : model.bytes;
  const session = await OnnxSession.create(bytes, {
    executionProviders: ['cpu'],
    threads: 1,
    ...options.session,
  });
  const worst: Record<string, number> = {};
  const failures: string[] = [];
  try {
    for (const [i, c] of cases.entries()) {
      const out = await session.run(c.feeds, Object.keys(c.expected));
      for (const [name, exp] of Object.entries(c.expected)) {
        const got = out[name];
        if (got.dims.length !== exp.dims.length || got.dims.some((d, k) => d !== exp.dims[k])) {
          failures.push(`case ${i} output '${name}': dims [${got.dims}] but expected [${exp.dims}]`);
          worst[name] = Number.POSITIVE_INFINITY;
          continue;
        }
        let w = 0;
        for (let k = 0; k < exp.data.length; k++) {
          const a = Number(got.data[k]);
          const b = exp.data[k];
          const d = Number.isNaN(a) && Number.isNaN(b) ? 0 : Math.abs(a - b);
          if (!(d <= w)) w = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
        }
        worst[name] = Math.max(worst[name] ?? 0, w);
        if (w > tol)
          failures.push(`case ${i} output '${name}': max |difference| ${w.toExponential(2)} > ${tol}`);
      }
    }
  } finally {
    await session.release();
  }
  return { worst, ok: failures.length === 0, failures };
}
