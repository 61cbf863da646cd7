// Patient bags: the feature bags of all a patient's usable slides, concatenated (CLAM's case-level
// bag), with the label and clinical columns. Slides QC skipped are listed, not silently dropped.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Hdf5File, readFeatureBag } from '@meddl/data';
import { type ClinicalRow, readClinical } from './clinical';
import { CrcMilDataError } from './errors';
import type { SlideQcRecord } from './preprocess';

export interface SlidePart {
  slideId: string;
  /** Row range [start, end) of this slide's patches in the patient bag. */
  start: number;
  end: number;
  coords: Int32Array;
  patchSizeLevel0: number;
}

export interface PatientBag {
  patientId: string;
  label: number;
  subtype: string;
  features: Float32Array;
  count: number;
  dim: number;
  /** Magnification of each patch (the bag's `magnifications` dataset; one value for single-scale bags). */
  magnifications: Float32Array;
  /** Index of each patch's magnification in the run's scale list (set by the caller; see scaleIndexOf). */
  scaleIndex?: Int32Array;
  slides: SlidePart[];
  /** The first slide's clinical row (patient-level columns agree across a patient's slides). */
  clinical: ClinicalRow;
}

export interface LoadedCohort {
  patients: PatientBag[];
  /** Slides in the clinical table without a usable bag, with the reason. */
  excludedSlides: { slideId: string; patientId: string; reason: string }[];
  /** Patients with no usable slide at all. */
  excludedPatients: string[];
}

export async function loadCohort(
  clinicalPath: string,
  preprocessDir: string,
  classes: readonly string[],
): Promise<LoadedCohort> {
  const rows = readClinical(clinicalPath);
  const dir = resolve(preprocessDir);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath))
    throw new CrcMilDataError(
      manifestPath,
      'no preprocessing manifest: run `meddl crc-mil preprocess` first',
    );
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    slides: Record<string, SlideQcRecord>;
  };
  const byPatient = new Map<string, ClinicalRow[]>();
  for (const r of rows) {
    const list = byPatient.get(r.patient_id) ?? [];
    list.push(r);
    byPatient.set(r.patient_id, list);
  }
  const patients: PatientBag[] = [];
  const excludedSlides: LoadedCohort['excludedSlides'] = [];
  const excludedPatients: string[] = [];
  for (const [patientId, slideRows] of [...byPatient.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const subtype = (slideRows[0] as ClinicalRow).subtype;
    const label = classes.indexOf(subtype);
    if (label < 0)
      throw new CrcMilDataError(
        clinicalPath,
        `patient ${patientId}: subtype '${subtype}' is not one of ${classes.join(', ')}`,
      );
    const feats: Float32Array[] = [];
    const mags: Float32Array[] = [];
    const slides: SlidePart[] = [];
    let count = 0;
    let dim = 0;
    for (const r of slideRows) {
      const rec = manifest.slides[r.slide_id];
      if (!rec) {
        excludedSlides.push({ slideId: r.slide_id, patientId, reason: 'not preprocessed' });
        continue;
      }
      if (rec.status !== 'done' || !rec.bag) {
        excludedSlides.push({
          slideId: r.slide_id,
          patientId,
          reason: `${rec.status}: ${rec.message ?? ''}`,
        });
        continue;
      }
      const bag = await readFeatureBag(join(dir, rec.bag));
      mags.push(
        await readMagnifications(join(dir, rec.bag), bag.count, Number(bag.attributes.magnification ?? -1)),
      );
      if (dim && bag.dim !== dim)
        throw new CrcMilDataError(join(dir, rec.bag), `feature dim ${bag.dim} differs from ${dim}`);
      dim = bag.dim;
      feats.push(bag.features);
      slides.push({
        slideId: r.slide_id,
        start: count,
        end: count + bag.count,
        coords: bag.coords,
        patchSizeLevel0: Number(bag.attributes.patch_size_level0 ?? bag.attributes.patch_size ?? 256),
      });
      count += bag.count;
    }
    if (count === 0) {
      excludedPatients.push(patientId);
      continue;
    }
    const features = new Float32Array(count * dim);
    let off = 0;
    for (const f of feats) {
      features.set(f, off);
      off += f.length;
    }
    const magnifications = new Float32Array(count);
    let moff = 0;
    for (const m of mags) {
      magnifications.set(m, moff);
      moff += m.length;
    }
    patients.push({
      patientId,
      label,
      subtype,
      features,
      count,
      dim,
      magnifications,
      slides,
      clinical: slideRows[0] as ClinicalRow,
    });
  }
  return { patients, excludedSlides, excludedPatients };
}

/** The per-patch magnifications of a bag (CLAM bags without the dataset: the bag's attribute). */
export async function readMagnifications(
  path: string,
  count: number,
  fallback: number,
): Promise<Float32Array> {
  const f = await Hdf5File.open(path);
  try {
    if (!f.keys('/').includes('magnifications')) return new Float32Array(count).fill(fallback);
    return Float32Array.from(f.readSlice('magnifications', [null]) as ArrayLike<number>);
  } finally {
    f.close();
  }
}

/** Per-dimension mean and std of all patches of the given patients. */
export function featureStats(patients: readonly PatientBag[]): { mean: Float32Array; std: Float32Array } {
  const dim = (patients[0] as PatientBag).dim;
  const sum = new Float64Array(dim);
  const sum2 = new Float64Array(dim);
  let n = 0;
  for (const p of patients) {
    for (let i = 0; i < p.count; i++) {
      for (let d = 0; d < dim; d++) {
        const v = p.features[i * dim + d] as number;
        sum[d] = (sum[d] as number) + v;
        sum2[d] = (sum2[d] as number) + v * v;
      }
    }
    n += p.count;
  }
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    const m = (sum[d] as number) / n;
    mean[d] = m;
    std[d] = Math.sqrt(Math.max(0, (sum2[d] as number) / n - m * m));
  }
  return { mean, std };
}
