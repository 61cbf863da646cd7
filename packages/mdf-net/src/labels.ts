/** The 14 CheXpert observations, in CheXpert's column order (Irvin et al. 2019). */
export const FINDINGS = [
  'No Finding',
  'Enlarged Cardiomediastinum',
  'Cardiomegaly',
  'Lung Opacity',
  'Lung Lesion',
  'Edema',
  'Consolidation',
  'Pneumonia',
  'Atelectasis',
  'Pneumothorax',
  'Pleural Effusion',
  'Pleural Other',
  'Fracture',
  'Support Devices',
] as const;
export type Finding = (typeof FINDINGS)[number];
export const NUM_FINDINGS = FINDINGS.length;

/** A recorded label: 1 positive, 0 negative, -1 uncertain, null missing (CheXpert's blank). */
export type LabelValue = 1 | 0 | -1 | null;

/**
 * What to do with uncertain labels (Irvin et al. 2019, §4): U-Ones maps them to positive,
 * U-Zeros to negative, U-Ignore masks them out of the loss. Missing labels are always masked.
 */
export type UncertainPolicy = 'ones' | 'zeros' | 'ignore';

/** Parses one label cell of a CheXpert-style CSV ('1', '1.0', '0', '-1', '' → null). */
export function parseLabelCell(cell: string | undefined): LabelValue | undefined {
  const s = (cell ?? '').trim();
  if (s === '') return null;
  const v = Number(s);
  if (v === 1) return 1;
  if (v === 0) return 0;
  if (v === -1) return -1;
  return undefined;
}

/** Targets and loss mask for one study's labels under a policy. */
export function applyUncertainPolicy(
  labels: readonly LabelValue[],
  policy: UncertainPolicy,
): { target: Float32Array; mask: Float32Array } {
  const target = new Float32Array(labels.length);
  const mask = new Float32Array(labels.length);
  labels.forEach((l, k) => {
    if (l === null) return;
    if (l === -1) {
      if (policy === 'ignore') return;
      target[k] = policy === 'ones' ? 1 : 0;
      mask[k] = 1;
      return;
    }
    target[k] = l;
    mask[k] = 1;
  });
  return { target, mask };
}
