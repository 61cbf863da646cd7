// The clinical table: one row per slide (patient_id, slide_id, slide_file, subtype, …). Extra
// columns (institution, msi, braf, age_band, survival_months, event, scanner, …) are kept as
// strings for subgroup and survival analysis. Validated with @meddl/data's manifest parser.
import { readFileSync } from 'node:fs';
import { parseManifest } from '@meddl/data';
import { z } from 'zod';
import { CrcMilDataError } from './errors';

export const ClinicalRowSchema = z.looseObject({
  patient_id: z.string().min(1),
  slide_id: z.string().min(1),
  slide_file: z.string().min(1),
  subtype: z.string().min(1),
});
export type ClinicalRow = z.infer<typeof ClinicalRowSchema> & Record<string, unknown>;

export function readClinical(path: string): ClinicalRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CrcMilDataError(path, `cannot read the clinical table: ${(err as Error).message}`);
  }
  const rows = parseManifest(text, ClinicalRowSchema, { source: path, format: 'csv' }) as ClinicalRow[];
  const seen = new Map<string, string>();
  const patientSubtype = new Map<string, string>();
  for (const r of rows) {
    if (seen.has(r.slide_id)) throw new CrcMilDataError(path, `slide_id ${r.slide_id} appears twice`);
    seen.set(r.slide_id, r.patient_id);
    const prev = patientSubtype.get(r.patient_id);
    if (prev !== undefined && prev !== r.subtype)
      throw new CrcMilDataError(path, `patient ${r.patient_id} has slides labelled ${prev} and ${r.subtype}`);
    patientSubtype.set(r.patient_id, r.subtype);
  }
  return rows;
}
