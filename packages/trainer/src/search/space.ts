import type { Generator } from '@meddl/tensor';
import { z } from 'zod';
import { TrainerError } from '../errors';

export const ParamSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('uniform'), low: z.number(), high: z.number() }),
  z.object({ type: z.literal('loguniform'), low: z.number().positive(), high: z.number().positive() }),
  z.object({
    type: z.literal('int'),
    low: z.number().int(),
    high: z.number().int(),
    log: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('categorical'),
    choices: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1),
  }),
]);
export const SearchSpaceSchema = z.record(z.string(), ParamSpecSchema);

export type ParamSpec = z.infer<typeof ParamSpecSchema>;
export type SearchSpace = z.infer<typeof SearchSpaceSchema>;
export type SearchSpaceInput = z.input<typeof SearchSpaceSchema>;
export type ParamValue = number | string | boolean;
export type Params = Record<string, ParamValue>;

export function validateSpace(space: SearchSpaceInput): SearchSpace {
  const parsed = SearchSpaceSchema.safeParse(space);
  if (!parsed.success) {
    throw new TrainerError(
      `Invalid search space: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  for (const [name, p] of Object.entries(parsed.data)) {
    if (p.type !== 'categorical' && !(p.low < p.high)) {
      throw new TrainerError(`Search parameter '${name}': low (${p.low}) must be < high (${p.high})`);
    }
  }
  return parsed.data;
}

/** Numeric params live in an internal space: log for loguniform/log-int, continuous for int. */
export function internalBounds(p: Exclude<ParamSpec, { type: 'categorical' }>): [number, number] {
  if (p.type === 'loguniform') return [Math.log(p.low), Math.log(p.high)];
  if (p.type === 'int')
    return p.log
      ? [Math.log(p.low - 0.5 > 0 ? p.low - 0.5 : p.low), Math.log(p.high + 0.5)]
      : [p.low - 0.5, p.high + 0.5];
  return [p.low, p.high];
}

export function toInternal(p: Exclude<ParamSpec, { type: 'categorical' }>, v: number): number {
  return p.type === 'loguniform' || (p.type === 'int' && p.log) ? Math.log(v) : v;
}

export function fromInternal(p: Exclude<ParamSpec, { type: 'categorical' }>, x: number): number {
  const v = p.type === 'loguniform' || (p.type === 'int' && p.log) ? Math.exp(x) : x;
  if (p.type === 'int') return Math.min(p.high, Math.max(p.low, Math.round(v)));
  return Math.min(p.high, Math.max(p.low, v));
}

export function sampleUniform(p: ParamSpec, rng: Generator): ParamValue {
  if (p.type === 'categorical') return p.choices[rng.int(p.choices.length)];
  const [lo, hi] = internalBounds(p);
  return fromInternal(p, rng.uniform(lo, hi));
}
