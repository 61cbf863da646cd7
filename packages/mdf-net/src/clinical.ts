/**
 * ED triage features (MIMIC-IV-ED `triage` columns): numeric vitals standardized with statistics
 * fitted on the training split only, an explicit missing indicator per vital, and sex and acuity
 * as categorical indices (for embeddings; index 0 = unknown).
 */
import { MdfNetDataError } from './errors';

export const VITALS = ['age', 'temperature', 'heartrate', 'resprate', 'o2sat', 'sbp', 'dbp', 'pain'] as const;
export type Vital = (typeof VITALS)[number];
export const SEX_CATEGORIES = ['unknown', 'F', 'M'] as const;
/** ESI acuity 1 (most urgent) … 5; index 0 = unknown. */
export const ACUITY_CATEGORIES = 6;

export interface ClinicalRecord {
  vitals: Record<Vital, number | null>;
  sex: 'F' | 'M' | null;
  acuity: number | null;
}

export interface ClinicalStats {
  mean: number[];
  std: number[];
}

/** Encoded features: [standardized vitals (missing → 0) | missing indicators], plus category ids. */
export interface ClinicalFeatures {
  numeric: Float32Array;
  sex: number;
  acuity: number;
}

export const CLINICAL_NUMERIC_DIM = VITALS.length * 2;

/** Parses one clinical CSV row (strings, '' = missing). */
export function parseClinicalRow(
  row: Record<string, string | undefined>,
  file: string,
  line: number,
): ClinicalRecord {
  const vitals = {} as Record<Vital, number | null>;
  for (const v of VITALS) {
    const s = (row[v] ?? '').trim();
    if (s === '') vitals[v] = null;
    else {
      const x = Number(s);
      if (!Number.isFinite(x)) throw new MdfNetDataError(file, `column ${v}: '${s}' is not a number`, line);
      vitals[v] = x;
    }
  }
  const sexCell = (row.sex ?? '').trim().toUpperCase();
  if (sexCell !== '' && sexCell !== 'F' && sexCell !== 'M')
    throw new MdfNetDataError(file, `column sex: expected F, M or empty, got '${row.sex}'`, line);
  const acuityCell = (row.acuity ?? '').trim();
  let acuity: number | null = null;
  if (acuityCell !== '') {
    acuity = Number(acuityCell);
    if (!Number.isInteger(acuity) || acuity < 1 || acuity > 5)
      throw new MdfNetDataError(file, `column acuity: expected 1-5 or empty, got '${acuityCell}'`, line);
  }
  return { vitals, sex: sexCell === '' ? null : (sexCell as 'F' | 'M'), acuity };
}

/** Mean and (population) standard deviation of each vital over the given (training) records. */
export function fitClinicalStats(records: readonly ClinicalRecord[]): ClinicalStats {
  const mean: number[] = [];
  const std: number[] = [];
  for (const v of VITALS) {
    const xs = records.map((r) => r.vitals[v]).filter((x): x is number => x !== null);
    const m = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
    const s = xs.length ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) : 1;
    mean.push(m);
    std.push(s > 1e-8 ? s : 1);
  }
  return { mean, std };
}

export function encodeClinical(r: ClinicalRecord, stats: ClinicalStats): ClinicalFeatures {
  const numeric = new Float32Array(CLINICAL_NUMERIC_DIM);
  VITALS.forEach((v, i) => {
    const x = r.vitals[v];
    if (x === null) numeric[VITALS.length + i] = 1;
    else numeric[i] = (x - stats.mean[i]) / stats.std[i];
  });
  return { numeric, sex: r.sex === null ? 0 : SEX_CATEGORIES.indexOf(r.sex), acuity: r.acuity ?? 0 };
}
