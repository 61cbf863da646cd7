import type { ProcessGroup } from './process-group';

/** What @meddl/metrics' streaming accumulators provide (structurally): state() as plain data, merge(). */
export interface MergeableAccumulator<S, A> {
  state(): S;
  merge(other: A): void;
}

const TYPED: Record<string, new (a: number[]) => ArrayBufferView> = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Uint8Array,
  Int8Array,
  Int16Array,
  Uint16Array,
};

function replacer(_key: string, v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView))
    return { $typed: v.constructor.name, data: Array.from(v as unknown as ArrayLike<number>) };
  return v;
}

function reviver(_key: string, v: unknown): unknown {
  if (v && typeof v === 'object' && '$typed' in v) {
    const t = v as { $typed: string; data: number[] };
    const Ctor = TYPED[t.$typed];
    if (Ctor) return new Ctor(t.data);
  }
  return v;
}

/**
 * Merges a streaming metric accumulator across ranks: every rank sends `acc.state()` (typed
 * arrays included, JSON numbers round-trip float64 exactly), and every rank merges all states in
 * rank order into a fresh accumulator, so all ranks compute the same epoch metric as one process
 * that saw every example. `fromState` is the accumulator class's static `fromState`.
 */
export async function allGatherMetric<S, A extends MergeableAccumulator<S, A>>(
  group: ProcessGroup,
  acc: A,
  fromState: (state: S) => A,
): Promise<A> {
  const states = (await group.allGatherObject(JSON.stringify(acc.state(), replacer))).map(
    (s) => JSON.parse(s, reviver) as S,
  );
  const merged = fromState(states[0]);
  for (const s of states.slice(1)) merged.merge(fromState(s));
  return merged;
}
