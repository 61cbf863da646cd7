/**
 * Synthetic MDF-Net data: CXR-like DICOM images whose planted shapes determine the image-visible
 * findings, free-text reports generated from the labels (with negations and hedges, mentioning
 * only some findings), ED triage vitals correlated with some findings, and CheXpert-style labels
 * (1 / 0 / −1 uncertain / blank missing). Each modality sees part of the truth:
 *   image    — heart and mediastinum size, effusion, pneumothorax, consolidation, opacity,
 *              atelectasis, nodule, edema haze, device line; nothing for pneumonia itself,
 *              fracture or pleural thickening;
 *   text     — every finding, but each positive is mentioned with probability 0.35–0.85;
 *   clinical — fever/tachycardia (pneumonia), low SpO2 (edema, pneumothorax), pain (fracture),
 *              age (cardiomegaly), acuity (number of findings);
 * so fusing them beats any single one.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDicom } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { z } from 'zod';
import { VITALS } from '../clinical';
import { FINDINGS, type Finding, type LabelValue } from '../labels';
import { buildVocab, writeTokenizerFiles } from '../text';

export const SynthConfigSchema = z.object({
  studies: z.number().int().min(10).default(600),
  seed: z.number().int().default(0),
  /** Stored image size (square), pixels. */
  imageSize: z.number().int().min(32).max(1024).default(128),
  /** Fraction of images stored as MONOCHROME1 (inverted grey levels). */
  monochrome1Fraction: z.number().min(0).max(1).default(0.3),
  /** Fraction of studies with no pathology at all. */
  healthyFraction: z.number().min(0).max(1).default(0.3),
  uncertainRate: z.number().min(0).max(1).default(0.1),
  missingRate: z.number().min(0).max(1).default(0.04),
  vitalMissingRate: z.number().min(0).max(1).default(0.08),
});
export type SynthConfig = z.infer<typeof SynthConfigSchema>;

/** Per-finding prevalence among non-healthy studies and probability that the report mentions a positive. */
const PREVALENCE: Record<Finding, number> = {
  'No Finding': 0,
  'Enlarged Cardiomediastinum': 0.15,
  Cardiomegaly: 0.25,
  'Lung Opacity': 0.25,
  'Lung Lesion': 0.15,
  Edema: 0.2,
  Consolidation: 0.12,
  Pneumonia: 0.25,
  Atelectasis: 0.2,
  Pneumothorax: 0.15,
  'Pleural Effusion': 0.25,
  'Pleural Other': 0.12,
  Fracture: 0.15,
  'Support Devices': 0.25,
};
const MENTION: Record<Finding, number> = {
  'No Finding': 0.7,
  'Enlarged Cardiomediastinum': 0.35,
  Cardiomegaly: 0.4,
  'Lung Opacity': 0.35,
  'Lung Lesion': 0.45,
  Edema: 0.45,
  Consolidation: 0.4,
  Pneumonia: 0.6,
  Atelectasis: 0.4,
  Pneumothorax: 0.45,
  'Pleural Effusion': 0.4,
  'Pleural Other': 0.85,
  Fracture: 0.6,
  'Support Devices': 0.5,
};

const POSITIVE: Record<Finding, string[]> = {
  'No Finding': ['no acute cardiopulmonary process', 'the lungs are clear', 'normal chest radiograph'],
  'Enlarged Cardiomediastinum': ['the cardiomediastinal silhouette is widened', 'enlarged cardiomediastinum'],
  Cardiomegaly: ['the heart is enlarged', 'cardiomegaly is present', 'moderate cardiomegaly'],
  'Lung Opacity': ['patchy opacity in the {side} lung', 'hazy airspace opacity is seen'],
  'Lung Lesion': ['a {mm} mm nodule in the {side} upper lobe', 'a pulmonary nodule is seen'],
  Edema: ['pulmonary vascular congestion with interstitial edema', 'mild pulmonary edema'],
  Consolidation: ['consolidation in the {side} lower lobe', 'dense consolidation is present'],
  Pneumonia: ['findings compatible with pneumonia', '{side} lower lobe pneumonia'],
  Atelectasis: ['bibasilar atelectasis', 'linear atelectasis at the {side} base'],
  Pneumothorax: ['small {side} apical pneumothorax', 'a pneumothorax is present'],
  'Pleural Effusion': ['{side} pleural effusion', 'small effusion layering at the {side} base'],
  'Pleural Other': ['pleural thickening along the {side} chest wall', 'calcified pleural plaques'],
  Fracture: ['acute fracture of the {side} {n}th rib', 'healing rib fracture on the {side}'],
  'Support Devices': [
    'endotracheal tube in standard position',
    'right internal jugular catheter tip in the svc',
  ],
};
const NAME: Record<Finding, string> = {
  'No Finding': 'acute process',
  'Enlarged Cardiomediastinum': 'mediastinal widening',
  Cardiomegaly: 'cardiomegaly',
  'Lung Opacity': 'focal opacity',
  'Lung Lesion': 'pulmonary nodule',
  Edema: 'pulmonary edema',
  Consolidation: 'consolidation',
  Pneumonia: 'pneumonia',
  Atelectasis: 'atelectasis',
  Pneumothorax: 'pneumothorax',
  'Pleural Effusion': 'pleural effusion',
  'Pleural Other': 'pleural thickening',
  Fracture: 'fracture',
  'Support Devices': 'support device',
};
const NEGATION = ['no {x}', 'there is no {x}', 'without evidence of {x}', 'negative for {x}'];
const HEDGE = ['possible {x}', '{x} cannot be excluded', 'findings may represent {x}', 'questionable {x}'];
const FILLER = [
  'pa and lateral views of the chest',
  'comparison is made with the prior study',
  'portable ap view',
];

export interface SynthStudy {
  studyId: string;
  patientId: string;
  /** Ground truth before uncertainty/missingness. */
  truth: Record<Finding, boolean>;
  labels: LabelValue[];
  report: string;
  photometric: 'MONOCHROME1' | 'MONOCHROME2';
}

export interface SynthDataset {
  dir: string;
  studies: SynthStudy[];
  vocabSize: number;
}

function pick<T>(rng: Generator, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Draws one study's true findings. */
function drawTruth(rng: Generator, healthy: number): Record<Finding, boolean> {
  const t = Object.fromEntries(FINDINGS.map((f) => [f, false])) as Record<Finding, boolean>;
  const isHealthy = rng.random() < healthy;
  for (const f of FINDINGS) {
    if (f === 'No Finding') continue;
    if (f === 'Support Devices') t[f] = rng.random() < PREVALENCE[f];
    else if (!isHealthy) t[f] = rng.random() < PREVALENCE[f];
  }
  if (!isHealthy && t.Pneumonia && rng.random() < 0.5) t.Consolidation = true;
  t['No Finding'] = FINDINGS.every((f) => f === 'No Finding' || f === 'Support Devices' || !t[f]);
  return t;
}

/** Attenuation map in [0, 1] (1 = dense/bright in MONOCHROME2 display) with the planted findings. */
export function renderChest(t: Record<Finding, boolean>, size: number, rng: Generator): Float32Array {
  const A = new Float32Array(size * size);
  const jx = rng.uniform(-0.02, 0.02);
  const jy = rng.uniform(-0.02, 0.02);
  const heartW = t.Cardiomegaly ? rng.uniform(0.19, 0.23) : rng.uniform(0.12, 0.16);
  const medW = t['Enlarged Cardiomediastinum'] ? rng.uniform(0.1, 0.12) : rng.uniform(0.05, 0.07);
  const side = (): number => (rng.random() < 0.5 ? 0 : 1);
  const lungs = [
    { cx: 0.31 + jx, cy: 0.45 + jy, rx: 0.15, ry: 0.28 },
    { cx: 0.69 + jx, cy: 0.45 + jy, rx: 0.15, ry: 0.28 },
  ];
  const effSide = side();
  const effDepth = rng.uniform(0.1, 0.16);
  const ptxSide = side();
  const blob = (f: boolean, r0: number, r1: number, yLo: number, yHi: number) => {
    if (!f) return null;
    const l = lungs[side()];
    return {
      x: l.cx + rng.uniform(-0.06, 0.06),
      y: l.cy + rng.uniform(yLo, yHi),
      r: rng.uniform(r0, r1),
    };
  };
  const cons = blob(t.Consolidation, 0.06, 0.08, 0.0, 0.12);
  const opac = blob(t['Lung Opacity'], 0.1, 0.13, -0.12, 0.05);
  const nodule = blob(t['Lung Lesion'], 0.022, 0.03, -0.15, 0.1);
  const atel = blob(t.Atelectasis, 0.08, 0.1, 0.12, 0.16);
  const tubeDx = rng.uniform(-0.03, 0.03);
  const markPhase = rng.uniform(0, Math.PI * 2);
  const gauss = (x: number, y: number, b: { x: number; y: number; r: number }) =>
    Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
  for (let py = 0; py < size; py++) {
    const y = (py + 0.5) / size;
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) / size;
      let a = 0.04;
      const body = ((x - 0.5 - jx) / 0.44) ** 2 + ((y - 0.55 - jy) / 0.5) ** 2;
      if (body < 1) a = 0.55;
      let inLung = -1;
      lungs.forEach((l, k) => {
        const d = ((x - l.cx) / l.rx) ** 2 + ((y - l.cy) / l.ry) ** 2;
        if (d < 1) inLung = k;
      });
      if (inLung >= 0) {
        const l = lungs[inLung];
        // lung markings: faint vessel-like ripples
        a = 0.16 + 0.04 * Math.sin(40 * Math.hypot(x - 0.5, y - 0.35) + markPhase);
        if (t.Pneumothorax && inLung === ptxSide && y < l.cy - l.ry * 0.45) a = 0.02;
        if (t.Edema)
          a += 0.14 * Math.exp(-((Math.abs(x - 0.5) - 0.13) ** 2 + (y - 0.5) ** 2) / (2 * 0.08 ** 2));
        if (opac) a += 0.16 * gauss(x, y, opac);
        if (cons) a += 0.45 * gauss(x, y, cons);
        if (nodule) a += 0.55 * gauss(x, y, nodule);
        if (atel && Math.abs(y - atel.y) < 0.015 && Math.abs(x - atel.x) < atel.r) a += 0.35;
        if (t['Pleural Effusion'] && inLung === effSide) {
          const base = l.cy + l.ry * Math.sqrt(Math.max(0, 1 - ((x - l.cx) / l.rx) ** 2));
          const level = base - effDepth - 0.06 * (1 - ((x - l.cx) / l.rx) ** 2);
          if (y > level) a = Math.max(a, 0.6);
        }
      }
      // mediastinum (upper) and heart (lower)
      if (Math.abs(x - 0.5 - jx) < medW && y > 0.12 + jy && y < 0.5 + jy) a = Math.max(a, 0.6);
      if (((x - 0.53 - jx) / heartW) ** 2 + ((y - 0.66 - jy) / 0.13) ** 2 < 1) a = Math.max(a, 0.65);
      if (t['Support Devices'] && y < 0.55 + jy) {
        const lineX = 0.5 + jx + tubeDx * (y / 0.55);
        if (Math.abs(x - lineX) < 0.008) a = 0.95;
      }
      A[py * size + px] = a + rng.normal(0, 0.02);
    }
  }
  return A;
}

/** Triage vitals drawn from the true findings (null = missing). */
function drawVitals(
  t: Record<Finding, boolean>,
  rng: Generator,
  missing: number,
): Record<string, number | null> {
  const n = Object.values(t).filter(Boolean).length - (t['No Finding'] ? 1 : 0);
  const v: Record<string, number> = {
    age: Math.round(Math.min(95, Math.max(18, rng.normal(55 + (t.Cardiomegaly ? 15 : 0), 14)))),
    temperature: +(36.8 + (t.Pneumonia ? 1.6 : 0) + rng.normal(0, 0.45)).toFixed(1),
    heartrate: Math.round(80 + (t.Pneumonia ? 18 : 0) + (t.Pneumothorax ? 12 : 0) + rng.normal(0, 10)),
    resprate: Math.round(16 + (t.Edema ? 4 : 0) + (t.Pneumothorax ? 4 : 0) + rng.normal(0, 2)),
    o2sat: Math.round(
      Math.min(100, 97.5 - (t.Edema ? 5 : 0) - (t.Pneumothorax ? 4 : 0) + rng.normal(0, 1.5)),
    ),
    sbp: Math.round(130 + (t.Edema ? 15 : 0) + rng.normal(0, 15)),
    dbp: Math.round(78 + rng.normal(0, 10)),
    pain: Math.round(Math.min(10, Math.max(0, (t.Fracture ? 7 : 2) + rng.normal(0, 1.8)))),
    acuity: Math.min(5, Math.max(1, Math.round(3.6 - 0.45 * n + rng.normal(0, 0.6)))),
  };
  const out: Record<string, number | null> = {};
  for (const [k, x] of Object.entries(v)) out[k] = rng.random() < missing ? null : x;
  return out;
}

function fill(template: string, rng: Generator): string {
  return template
    .replaceAll('{side}', pick(rng, ['left', 'right']))
    .replaceAll('{mm}', String(6 + rng.int(15)))
    .replaceAll('{n}', String(4 + rng.int(5)));
}

/** Report text and recorded labels (uncertain ones hedged in the text, missing ones blank). */
function writeReport(
  t: Record<Finding, boolean>,
  rng: Generator,
  cfg: SynthConfig,
): { report: string; labels: LabelValue[] } {
  const findings: string[] = [];
  const labels: LabelValue[] = FINDINGS.map((f) => {
    const pos = t[f];
    const uncertain = f !== 'No Finding' && rng.random() < (pos ? cfg.uncertainRate : cfg.uncertainRate / 5);
    if (uncertain) {
      findings.push(pick(rng, HEDGE).replaceAll('{x}', NAME[f]));
      return -1;
    }
    if (pos && rng.random() < MENTION[f]) findings.push(fill(pick(rng, POSITIVE[f]), rng));
    else if (!pos && f !== 'No Finding' && rng.random() < 0.25)
      findings.push(pick(rng, NEGATION).replaceAll('{x}', NAME[f]));
    return pos ? 1 : 0;
  }).map((l) => (rng.random() < cfg.missingRate ? null : l));
  // shuffle sentence order so position does not give the finding away
  const order = rng.permutation(findings.length);
  const body = order.map((i) => findings[i]);
  const sentences = [pick(rng, FILLER), ...body];
  if (body.length === 0) sentences.push('no interval change');
  const report = `FINDINGS: ${sentences.map((s) => `${s[0].toUpperCase()}${s.slice(1)}.`).join(' ')}`;
  return { report, labels };
}

/** Writes a synthetic data set to `dir` (see the file comment); returns what was written. */
export function synthesize(dir: string, input: Partial<SynthConfig> = {}): SynthDataset {
  const cfg = SynthConfigSchema.parse(input);
  const rng = new Generator(cfg.seed);
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'reports'), { recursive: true });
  const studies: SynthStudy[] = [];
  const studyRows = ['study_id,patient_id,image,report'];
  const clinicalRows = [['study_id', ...VITALS, 'sex', 'acuity'].join(',')];
  const labelRows = [['study_id', ...FINDINGS].join(',')];
  const S = cfg.imageSize;
  for (let i = 0; i < cfg.studies; i++) {
    const studyId = `s${String(i).padStart(5, '0')}`;
    const patientId = `p${String(i).padStart(5, '0')}`;
    const truth = drawTruth(rng, cfg.healthyFraction);
    const A = renderChest(truth, S, rng);
    const mono1 = rng.random() < cfg.monochrome1Fraction;
    const pixels = new Uint16Array(S * S);
    for (let p = 0; p < A.length; p++) {
      const v = Math.round(Math.min(4095, Math.max(0, 200 + A[p] * 3000)));
      pixels[p] = mono1 ? 4095 - v : v;
    }
    const center = 1700;
    const bytes = writeDicom({
      kind: 'cr',
      rows: S,
      columns: S,
      bitsAllocated: 16,
      bitsStored: 12,
      photometricInterpretation: mono1 ? 'MONOCHROME1' : 'MONOCHROME2',
      patientId,
      patientSex: undefined,
      studyDate: '20260101',
      seriesNumber: 1,
      instanceNumber: i + 1,
      manufacturer: 'meddl-synth',
      viewPosition: 'PA',
      bodyPartExamined: 'CHEST',
      pixelSpacing: [350 / S, 350 / S],
      windows: [{ center: mono1 ? 4095 - center : center, width: 3400 }],
      pixels,
    });
    writeAtomic(join(dir, 'images', `${studyId}.dcm`), bytes);
    const { report, labels } = writeReport(truth, rng, cfg);
    writeAtomic(join(dir, 'reports', `${studyId}.txt`), `${report}\n`);
    const vit = drawVitals(truth, rng, cfg.vitalMissingRate);
    const sex = rng.random() < cfg.vitalMissingRate / 2 ? '' : pick(rng, ['F', 'M']);
    clinicalRows.push(
      [studyId, ...VITALS.map((v) => (vit[v] === null ? '' : String(vit[v]))), sex, vit.acuity ?? ''].join(
        ',',
      ),
    );
    studyRows.push(`${studyId},${patientId},images/${studyId}.dcm,reports/${studyId}.txt`);
    labelRows.push([studyId, ...labels.map((l) => (l === null ? '' : String(l)))].join(','));
    studies.push({
      studyId,
      patientId,
      truth,
      labels,
      report,
      photometric: mono1 ? 'MONOCHROME1' : 'MONOCHROME2',
    });
  }
  writeAtomic(join(dir, 'studies.csv'), `${studyRows.join('\n')}\n`);
  writeAtomic(join(dir, 'clinical.csv'), `${clinicalRows.join('\n')}\n`);
  writeAtomic(join(dir, 'labels.csv'), `${labelRows.join('\n')}\n`);
  const vocab = buildVocab(
    studies.map((s) => s.report),
    { minCount: 3 },
  );
  writeTokenizerFiles(dir, vocab);
  writeAtomic(
    join(dir, 'synth.json'),
    `${JSON.stringify({ generator: '@meddl/mdf-net', config: cfg }, null, 2)}\n`,
  );
  return { dir, studies, vocabSize: vocab.length };
}
