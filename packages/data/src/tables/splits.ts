// Patient-level splits: stratified group k-fold and ratio splits that never put one group (patient)
// in two parts, reproducible from a seeded Generator, with a per-split balance report.
// The k-fold assignment follows scikit-learn's StratifiedGroupKFold (shuffle=True): groups in random
// order, stable-sorted by the spread of their class counts, each placed in the fold that keeps the
// per-class fold proportions most even.
import type { Generator } from '@meddl/tensor';
import { SplitError } from './errors';

/** A column name of the row, or a function of the row. */
export type RowKey<T> = (keyof T & string) | ((row: T) => unknown);

function accessor<T>(key: RowKey<T>): (row: T) => string {
  if (typeof key === 'function') return (row) => String(key(row));
  return (row) => {
    const v = (row as Record<string, unknown>)[key];
    if (v === undefined || v === null) throw new SplitError(`row has no value for column "${key}"`);
    return String(v);
  };
}

function strataOf<T>(rows: readonly T[], stratify: RowKey<T> | RowKey<T>[] | undefined): string[] {
  if (stratify === undefined) return rows.map(() => '');
  const keys = (Array.isArray(stratify) ? stratify : [stratify]).map(accessor);
  // Several columns stratify by their joint value (e.g. label × site).
  return rows.map((r) => keys.map((k) => k(r)).join('\u241f'));
}

interface Groups {
  /** group index per row */
  ofRow: number[];
  names: string[];
  /** counts[g][c]: rows of group g in stratum c */
  counts: number[][];
  strata: string[];
}

function groupRows<T>(
  rows: readonly T[],
  group: RowKey<T>,
  stratify: RowKey<T> | RowKey<T>[] | undefined,
): Groups {
  const groupOf = accessor(group);
  const strataLabels = strataOf(rows, stratify);
  const strata = [...new Set(strataLabels)].sort();
  const stratumIndex = new Map(strata.map((s, i) => [s, i]));
  const groupIndex = new Map<string, number>();
  const names: string[] = [];
  const counts: number[][] = [];
  const ofRow = rows.map((row, i) => {
    const name = groupOf(row);
    let g = groupIndex.get(name);
    if (g === undefined) {
      g = names.length;
      groupIndex.set(name, g);
      names.push(name);
      counts.push(new Array<number>(strata.length).fill(0));
    }
    const c = counts[g] as number[];
    const j = stratumIndex.get(strataLabels[i] as string) as number;
    c[j] = (c[j] as number) + 1;
    return g;
  });
  return { ofRow, names, counts, strata };
}

function addInto(target: number[], add: readonly number[]): void {
  for (let j = 0; j < add.length; j++) target[j] = (target[j] as number) + (add[j] as number);
}

function std(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

/** Groups by name (np.unique order), shuffled when a generator is given, then stable-sorted by key, descending. */
function groupOrder(groups: Groups, generator: Generator | undefined, key: (g: number) => number): number[] {
  const byName = groups.names
    .map((_, g) => g)
    .sort((a, b) => {
      const x = groups.names[a] as string;
      const y = groups.names[b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
  const order = generator ? generator.permutation(byName.length).map((i) => byName[i] as number) : byName;
  const rank = new Map(order.map((g, i) => [g, i]));
  return [...order].sort((a, b) => key(b) - key(a) || (rank.get(a) as number) - (rank.get(b) as number));
}

export interface GroupKFoldOptions<T> {
  k: number;
  /** Patient (or other unit) that must stay in one fold. */
  group: RowKey<T>;
  /** Column(s) whose joint distribution each fold should follow. */
  stratify?: RowKey<T> | RowKey<T>[];
  /** Shuffles group order; without one the order is by group name (scikit-learn's shuffle=False). */
  generator?: Generator;
}

/** Fold number (0..k-1) for each row. Rows of one group always share a fold. */
export function stratifiedGroupKFold<T>(rows: readonly T[], options: GroupKFoldOptions<T>): number[] {
  const { k } = options;
  if (!Number.isInteger(k) || k < 2) throw new SplitError(`k must be an integer >= 2, got ${k}`);
  const groups = groupRows(rows, options.group, options.stratify);
  if (groups.names.length < k) {
    throw new SplitError(
      `cannot make ${k} folds from ${groups.names.length} groups: each fold needs at least one group`,
    );
  }
  const nStrata = groups.strata.length;
  const totals = new Array<number>(nStrata).fill(0);
  for (const c of groups.counts) addInto(totals, c);
  const perFold = Array.from({ length: k }, () => new Array<number>(nStrata).fill(0));
  const sizes = new Array<number>(k).fill(0);
  const foldOfGroup = new Array<number>(groups.names.length).fill(-1);
  const order = groupOrder(groups, options.generator, (g) => std(groups.counts[g] as number[]));
  for (const g of order) {
    const add = groups.counts[g] as number[];
    let best = -1;
    let bestEval = Number.POSITIVE_INFINITY;
    for (let f = 0; f < k; f++) {
      // Mean over strata of the std across folds of each fold's share of the stratum.
      let evalSum = 0;
      for (let j = 0; j < nStrata; j++) {
        const shares = perFold.map(
          (counts, ff) =>
            ((counts[j] as number) + (ff === f ? (add[j] as number) : 0)) / (totals[j] as number),
        );
        evalSum += std(shares);
      }
      const fold = evalSum / nStrata;
      // numpy.isclose(fold, bestEval) defaults, and ties go to the smaller fold, as in scikit-learn.
      const tie = Math.abs(fold - bestEval) <= 1e-8 + 1e-5 * Math.abs(bestEval);
      if (fold < bestEval || (tie && (sizes[f] as number) < (sizes[best] as number))) {
        best = f;
        bestEval = fold;
      }
    }
    foldOfGroup[g] = best;
    addInto(perFold[best] as number[], add);
    sizes[best] = (sizes[best] as number) + add.reduce((a, b) => a + b, 0);
  }
  return groups.ofRow.map((g) => foldOfGroup[g] as number);
}

/** Row indices for training and testing in each fold, from `stratifiedGroupKFold`'s assignment. */
export function foldIndices(folds: readonly number[], k: number): { train: number[]; test: number[] }[] {
  return Array.from({ length: k }, (_, f) => ({
    train: folds.flatMap((x, i) => (x !== f ? [i] : [])),
    test: folds.flatMap((x, i) => (x === f ? [i] : [])),
  }));
}

export interface RatioSplitOptions<T, S extends string> {
  /** Split names and their shares of the rows, e.g. { train: 0.7, val: 0.15, test: 0.15 }; must sum to 1. */
  ratios: Record<S, number>;
  group: RowKey<T>;
  stratify?: RowKey<T> | RowKey<T>[];
  /** Shuffles group order (among groups of equal size); without one the order is by group name. */
  generator?: Generator;
}

/**
 * Assigns each row to a named split with the given ratios, keeping groups whole. Groups are taken
 * in random order (largest first), each placed where it brings every stratum's split counts closest
 * (least squares) to ratio × stratum rows seen so far.
 */
export function groupRatioSplit<T, S extends string>(
  rows: readonly T[],
  options: RatioSplitOptions<T, S>,
): S[] {
  const names = Object.keys(options.ratios) as S[];
  const ratios = names.map((n) => options.ratios[n]);
  if (names.length < 2) throw new SplitError('ratios must name at least two splits');
  if (ratios.some((r) => !(r >= 0)))
    throw new SplitError(`ratios must be >= 0, got ${JSON.stringify(options.ratios)}`);
  const sum = ratios.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new SplitError(`ratios must sum to 1, got ${sum}`);
  const groups = groupRows(rows, options.group, options.stratify);
  const nStrata = groups.strata.length;
  const seen = new Array<number>(nStrata).fill(0);
  const counts = names.map(() => new Array<number>(nStrata).fill(0));
  const splitOfGroup = new Array<number>(groups.names.length).fill(-1);
  const size = (g: number): number => (groups.counts[g] as number[]).reduce((a, b) => a + b, 0);
  for (const g of groupOrder(groups, options.generator, size)) {
    const add = groups.counts[g] as number[];
    addInto(seen, add);
    let best = 0;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let s = 0; s < names.length; s++) {
      let cost = 0;
      for (let t = 0; t < names.length; t++) {
        for (let j = 0; j < nStrata; j++) {
          const n = (counts[t]?.[j] as number) + (t === s ? (add[j] as number) : 0);
          cost += (n - (ratios[t] as number) * (seen[j] as number)) ** 2;
        }
      }
      if (cost < bestCost - 1e-9) {
        best = s;
        bestCost = cost;
      }
    }
    splitOfGroup[g] = best;
    addInto(counts[best] as number[], add);
  }
  return groups.ofRow.map((g) => names[splitOfGroup[g] as number] as S);
}

export interface SplitBalance {
  rows: number;
  groups: number;
  classCounts: Record<string, number>;
  /** Each class's share of this split's rows. */
  classFractions: Record<string, number>;
  siteCounts: Record<string, number>;
}

export interface BalanceReport {
  splits: Record<string, SplitBalance>;
  /** Groups found in more than one split (empty for a correct patient-level split). */
  leakedGroups: string[];
}

export interface BalanceOptions<T> {
  group: RowKey<T>;
  /** Class label column(s); several are reported jointly. */
  classes: RowKey<T> | RowKey<T>[];
  site?: RowKey<T>;
}

/** Class and site counts per split (or fold), and any group that crosses splits. */
export function balanceReport<T>(
  rows: readonly T[],
  assignment: readonly (string | number)[],
  options: BalanceOptions<T>,
): BalanceReport {
  if (assignment.length !== rows.length) {
    throw new SplitError(`assignment has ${assignment.length} entries for ${rows.length} rows`);
  }
  const groupOf = accessor(options.group);
  const classOf = strataOf(rows, options.classes);
  const siteOf = options.site ? accessor(options.site) : undefined;
  const splits: Record<string, SplitBalance> = {};
  const groupsPerSplit = new Map<string, Set<string>>();
  const splitsOfGroup = new Map<string, Set<string>>();
  rows.forEach((row, i) => {
    const split = String(assignment[i]);
    let b = splits[split];
    if (!b) {
      b = { rows: 0, groups: 0, classCounts: {}, classFractions: {}, siteCounts: {} };
      splits[split] = b;
    }
    b.rows++;
    const cls = (classOf[i] as string).replace(/\u241f/g, '/');
    b.classCounts[cls] = (b.classCounts[cls] ?? 0) + 1;
    if (siteOf) {
      const site = siteOf(row);
      b.siteCounts[site] = (b.siteCounts[site] ?? 0) + 1;
    }
    const g = groupOf(row);
    if (!groupsPerSplit.has(split)) groupsPerSplit.set(split, new Set());
    groupsPerSplit.get(split)?.add(g);
    if (!splitsOfGroup.has(g)) splitsOfGroup.set(g, new Set());
    splitsOfGroup.get(g)?.add(split);
  });
  for (const [name, b] of Object.entries(splits)) {
    b.groups = groupsPerSplit.get(name)?.size ?? 0;
    for (const [c, n] of Object.entries(b.classCounts)) b.classFractions[c] = n / b.rows;
  }
  const leakedGroups = [...splitsOfGroup].filter(([, s]) => s.size > 1).map(([g]) => g);
  return { splits, leakedGroups };
}
