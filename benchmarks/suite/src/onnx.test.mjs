// The ONNX scenario on the smallest model (crc-mil tiny): a correct export is timed and carries
// its agreement check; an output that disagrees with tfjs is a failure and is never timed.
import { initBackend } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { median, ratioSummary, summarize } from './lib.mjs';
import { MODELS } from './models.mjs';
import { ONNX_TOLERANCE, runOnnxScenarios } from './onnx.mjs';

const lib = { summarize, ratioSummary, median };
const base = {
  name: 'crc-mil',
  description: 'test',
  rounds: 1,
  steps: 1,
  warmup: 1,
  threads: 1,
  lib,
  log: () => {},
};

beforeAll(async () => {
  await initBackend();
});

describe('ONNX scenarios', () => {
  it('times a correct export beside tfjs and records the output check', async () => {
    const b = MODELS['crc-mil'].build('tiny');
    const { rows, failures } = await runOnnxScenarios({ ...base, b, scenarios: ['onnx-latency'] });
    expect(failures).toEqual([]);
    expect(rows).toHaveLength(1);
    const r = rows[0];
    expect(r).toMatchObject({
      scenario: 'onnx-latency',
      batch: 256,
      unit: 'patches',
      subject: 'meddl onnxruntime',
    });
    expect(r.peer.name).toBe('tfjs');
    expect(r.check.ok).toBe(true);
    expect(r.check.what).toBe('logits, attention');
    expect(r.check.maxAbsDiff).toBeLessThan(ONNX_TOLERANCE);
    expect(r.meddl.median).toBeGreaterThan(0);
    b.model.dispose();
  });

  it('refuses to time an export whose outputs disagree with tfjs', async () => {
    const b = MODELS['crc-mil'].build('tiny');
    const make = b.onnx.make;
    b.onnx.make = (n, seed) => {
      const c = make(n, seed);
      return {
        ...c,
        tfjs: () => {
          const out = c.tfjs();
          out.attention[3] += 1e-2; // what a wrong lowering of one patch's weight would give
          return out;
        },
      };
    };
    const { rows, failures } = await runOnnxScenarios({ ...base, b, scenarios: ['onnx-throughput'] });
    expect(rows).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0].key).toBe('crc-mil/mil-tiny/onnx-throughput');
    expect(failures[0].message).toMatch(/differs from tfjs: max abs diff 1\.00e-2 .*not timed/);
    b.model.dispose();
  });
});
