import type { CheckpointPayload } from '../manager';

/** Value i of tensor j at save `step`: checkable after a load without storing anything. */
export function loopValue(step: number, j: number, i: number): number {
  return Math.fround(step + j * 0.25 + (i % 97) * 1e-3);
}

/** Four [side, side] float32 tensors plus optimizer buffers whose values encode `step`. */
export function loopPayload(step: number, side = 64): CheckpointPayload {
  const model: CheckpointPayload['model'] = {};
  const optimizer: CheckpointPayload['model'] = {};
  for (let j = 0; j < 4; j++) {
    const data = new Float32Array(side * side);
    for (let i = 0; i < data.length; i++) data[i] = loopValue(step, j, i);
    model[`layers.${j}.weight`] = { dtype: 'F32', shape: [side, side], data };
    optimizer[`state.${j}.exp_avg`] = { dtype: 'F32', shape: [side, side], data: data.map((v) => -v) };
  }
  model.step_counter = { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(step)) };
  return { model, optimizer, state: { globalStep: step, note: 'kill-test' } };
}
