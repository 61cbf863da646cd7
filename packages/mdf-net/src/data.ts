/**
 * Reading a data folder (studies.csv, clinical.csv, labels.csv, images/, reports/, tokenizer) and
 * turning it into in-memory tensors-to-be: preprocessed images, token ids, standardized clinical
 * features (statistics from the training split only) and label targets under a policy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { groupRatioSplit, readManifest } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { z } from 'zod';
import {
  type ClinicalRecord,
  type ClinicalStats,
  encodeClinical,
  fitClinicalStats,
  parseClinicalRow,
  VITALS,
} from './clinical';
import { MdfNetDataError } from './errors';
import { preprocessImage } from './image';
import { FINDINGS, type LabelValue, parseLabelCell } from './labels';
import { ReportTokenizer } from './text';

export interface StudyRecord {
  studyId: string;
  patientId: string;
  imagePath: string | null;
  reportPath: string | null;
  clinical: ClinicalRecord | null;
  labels: LabelValue[];
}

const looseRow = z.record(z.string(), z.string().optional());

async function readRows(path: string): Promise<Record<string, string | undefined>[]> {
  if (!existsSync(path)) throw new MdfNetDataError(path, 'file does not exist');
  return (await readManifest(path, looseRow)) as Record<string, string | undefined>[];
}

/** Joins studies.csv with clinical.csv and labels.csv (both optional per study) by study_id. */
export async function readStudies(dir: string): Promise<StudyRecord[]> {
  const root = resolve(dir);
  const studiesPath = join(root, 'studies.csv');
  const rows = await readRows(studiesPath);
  const clinicalPath = join(root, 'clinical.csv');
  const clinical = new Map<string, ClinicalRecord>();
  if (existsSync(clinicalPath)) {
    (await readRows(clinicalPath)).forEach((r, i) => {
      if (!r.study_id) throw new MdfNetDataError(clinicalPath, 'missing study_id', i + 1);
      clinical.set(r.study_id, parseClinicalRow(r, clinicalPath, i + 1));
    });
  }
  const labelsPath = join(root, 'labels.csv');
  const labelRows = await readRows(labelsPath);
  const labels = new Map<string, LabelValue[]>();
  labelRows.forEach((r, i) => {
    if (!r.study_id) throw new MdfNetDataError(labelsPath, 'missing study_id', i + 1);
    labels.set(
      r.study_id,
      FINDINGS.map((f) => {
        if (!(f in r)) throw new MdfNetDataError(labelsPath, `missing column '${f}'`, i + 1);
        const v = parseLabelCell(r[f]);
        if (v === undefined)
          throw new MdfNetDataError(
            labelsPath,
            `column '${f}': expected 1, 0, -1 or empty, got '${r[f]}'`,
            i + 1,
          );
        return v;
      }),
    );
  });
  return rows.map((r, i) => {
    const studyId = r.study_id;
    if (!studyId) throw new MdfNetDataError(studiesPath, 'missing study_id', i + 1);
    const l = labels.get(studyId);
    if (!l) throw new MdfNetDataError(labelsPath, `no labels for study ${studyId}`);
    return {
      studyId,
      patientId: r.patient_id || studyId,
      imagePath: r.image ? join(root, r.image) : null,
      reportPath: r.report ? join(root, r.report) : null,
      clinical: clinical.get(studyId) ?? null,
      labels: l,
    };
  });
}

export type SplitName = 'train' | 'val' | 'test';

/** Patient-grouped train/val/test split stratified by No Finding, reproducible from the seed. */
export function splitStudies(
  studies: readonly StudyRecord[],
  ratios: { train: number; val: number; test: number },
  seed: number,
): SplitName[] {
  return groupRatioSplit(
    studies.map((s) => ({ patient: s.patientId, normal: String(s.labels[0]) })),
    { ratios, group: 'patient', stratify: 'normal', generator: new Generator(seed) },
  );
}

/** One study, ready for batching. */
export interface PreparedStudy {
  studyId: string;
  /** [size·size] in [0, 1], or null when the study has no image. */
  image: Float32Array | null;
  tokens: Int32Array | null;
  attention: Uint8Array | null;
  clinicalNumeric: Float32Array;
  sex: number;
  acuity: number;
  hasClinical: boolean;
  labels: LabelValue[];
  /** Embeddings from frozen ONNX encoders (attachEncoderEmbeddings), when the run uses them. */
  imageEmbedding?: Float32Array;
  textEmbedding?: Float32Array;
}

export interface PreparedData {
  studies: PreparedStudy[];
  split: SplitName[];
  clinicalStats: ClinicalStats;
  tokenizer: ReportTokenizer;
}

export interface PrepareOptions {
  imageSize: number;
  maxTokens: number;
  /** Path of tokenizer.json or vocab.txt; default `<dir>/tokenizer.json`. */
  tokenizer?: string;
  ratios: { train: number; val: number; test: number };
  seed: number;
  /** Reuse statistics fitted earlier (evaluation / prediction); else fitted on the train split. */
  clinicalStats?: ClinicalStats;
}

/** Reads and preprocesses every study of a data folder. */
export async function prepareData(dir: string, options: PrepareOptions): Promise<PreparedData> {
  const records = await readStudies(dir);
  const split = splitStudies(records, options.ratios, options.seed);
  const clinicalStats =
    options.clinicalStats ??
    fitClinicalStats(
      records.filter((r, i) => split[i] === 'train' && r.clinical).map((r) => r.clinical as ClinicalRecord),
    );
  const tokenizer = ReportTokenizer.fromFile(
    options.tokenizer ?? join(resolve(dir), 'tokenizer.json'),
    options.maxTokens,
  );
  const empty: ClinicalRecord = {
    vitals: Object.fromEntries(VITALS.map((v) => [v, null])) as ClinicalRecord['vitals'],
    sex: null,
    acuity: null,
  };
  const studies: PreparedStudy[] = [];
  for (const r of records) {
    const image = r.imagePath ? await preprocessImage(r.imagePath, options.imageSize) : null;
    let tokens: Int32Array | null = null;
    let attention: Uint8Array | null = null;
    if (r.reportPath) {
      if (!existsSync(r.reportPath)) throw new MdfNetDataError(r.reportPath, 'report file does not exist');
      const enc = tokenizer.encode(readFileSync(r.reportPath, 'utf8'));
      tokens = enc.ids;
      attention = enc.attentionMask;
    }
    const c = encodeClinical(r.clinical ?? empty, clinicalStats);
    studies.push({
      studyId: r.studyId,
      image,
      tokens,
      attention,
      clinicalNumeric: c.numeric,
      sex: c.sex,
      acuity: c.acuity,
      hasClinical: r.clinical !== null,
      labels: r.labels,
    });
  }
  return { studies, split, clinicalStats, tokenizer };
}
