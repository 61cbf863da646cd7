// Synthetic retinal OCT volumes written as multi-frame DICOM (Ophthalmic Tomography Image Storage).
// Axes follow the files: [frames (B-scans, slow axis), rows (depth), columns (A-scans, fast axis)].
// A retina is a stack of wavy bands of different reflectivity (vitreous, RNFL, GCL/IPL, INL, OPL,
// ONL, ellipsoid zone, RPE, choroid) with a foveal pit, under multiplicative speckle, with a
// device-specific gain/gamma/noise and geometry. Planted pathology: intraretinal fluid pockets
// (dark ellipsoids in the nuclear layers) or drusen (dome-shaped elevations of the RPE).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeDicom } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { z } from 'zod';

export const PATHOLOGY_LABELS = ['normal', 'fluid', 'drusen'] as const;
export type PathologyLabel = (typeof PATHOLOGY_LABELS)[number];

/** A device profile: the tags it writes, its geometry (at scale 1) and its intensity response. */
export interface SynthDevice {
  id: string;
  manufacturer: string;
  modelName: string;
  /** [frames, rows, columns] at scale 1 (real scanners have ~8× more rows and columns). */
  shape: [number, number, number];
  /** Physical extent [slow, depth, fast] in mm. */
  extentMm: [number, number, number];
  bitsAllocated: 8 | 16;
  bitsStored: number;
  gain: number;
  gamma: number;
  speckle: number;
  background: number;
}

export const SYNTH_DEVICES: readonly SynthDevice[] = [
  {
    id: 'heidelberg-spectralis',
    manufacturer: 'Heidelberg Engineering',
    modelName: 'Spectralis',
    shape: [25, 62, 64],
    extentMm: [5.8, 1.9, 5.8],
    bitsAllocated: 16,
    bitsStored: 12,
    gain: 1,
    gamma: 0.8,
    speckle: 0.35,
    background: 0.03,
  },
  {
    id: 'zeiss-cirrus',
    manufacturer: 'Carl Zeiss Meditec',
    modelName: 'Cirrus HD-OCT 5000',
    shape: [32, 80, 64],
    extentMm: [6, 2, 6],
    bitsAllocated: 8,
    bitsStored: 8,
    gain: 0.9,
    gamma: 1,
    speckle: 0.45,
    background: 0.06,
  },
  {
    id: 'topcon-triton',
    manufacturer: 'Topcon',
    modelName: 'DRI OCT Triton',
    shape: [32, 72, 56],
    extentMm: [7, 2.6, 7],
    bitsAllocated: 16,
    bitsStored: 16,
    gain: 1.1,
    gamma: 1.2,
    speckle: 0.3,
    background: 0.02,
  },
  {
    id: 'optovue-avanti',
    manufacturer: 'Optovue',
    modelName: 'RTVue XR Avanti',
    shape: [40, 64, 48],
    extentMm: [6, 2, 6],
    bitsAllocated: 8,
    bitsStored: 8,
    gain: 0.8,
    gamma: 0.9,
    speckle: 0.4,
    background: 0.05,
  },
];

// Layer thicknesses as fractions of the depth extent, and reflectivities (0..1), inner to outer.
const LAYERS: { name: string; thickness: number; reflectivity: number }[] = [
  { name: 'RNFL', thickness: 0.05, reflectivity: 0.75 },
  { name: 'GCL/IPL', thickness: 0.07, reflectivity: 0.45 },
  { name: 'INL', thickness: 0.04, reflectivity: 0.2 },
  { name: 'OPL', thickness: 0.03, reflectivity: 0.45 },
  { name: 'ONL', thickness: 0.08, reflectivity: 0.15 },
  { name: 'EZ', thickness: 0.02, reflectivity: 0.7 },
  { name: 'IZ', thickness: 0.02, reflectivity: 0.3 },
  { name: 'RPE', thickness: 0.03, reflectivity: 0.95 },
  { name: 'choroid', thickness: 0.15, reflectivity: 0.4 },
];

export interface OctVolumeSpec {
  device: SynthDevice;
  label: PathologyLabel;
  /** Shrinks rows/columns/frames (tests use 0.5). */
  scale: number;
  laterality: 'R' | 'L';
}

export interface SynthVolume {
  pixels: Uint8Array | Uint16Array;
  shape: [number, number, number];
  /** [slice spacing, row spacing, column spacing] in mm. */
  spacing: [number, number, number];
}

function scaledShape(device: SynthDevice, scale: number): [number, number, number] {
  return device.shape.map((n) => Math.max(4, Math.round(n * scale))) as [number, number, number];
}

/**
 * Draws one volume. All randomness comes from `rng`.
 *
 * The pathology is structural, as the biomarkers graders read on real scans are, so that the label
 * is not given away by the intensity histogram:
 * - `fluid` (macular-oedema-like): 1–3 hyporeflective cysts *inserted* into INL/OPL/ONL; each cyst
 *   displaces the tissue above it, so the retina thickens and its inner surface bulges into the
 *   vitreous by the cyst's height (dark voxels gained in the cyst ≈ dark vitreous voxels lost).
 * - `drusen`: 2–5 dome-shaped elevations of the RPE that lift the RPE and every layer above it
 *   (the whole neurosensory retina bulges), over sub-RPE deposit of moderate reflectivity.
 * Per-volume nuisance (all labels): layer reflectivities and gain jittered ±15 %, layer
 * thicknesses ±15 %, surface height, tilt and waviness, foveal position and depth.
 */
export function synthOctVolume(spec: OctVolumeSpec, rng: Generator): SynthVolume {
  const { device, label } = spec;
  const [F, R, C] = scaledShape(device, spec.scale);
  const spacing: [number, number, number] = [
    device.extentMm[0] / F,
    device.extentMm[1] / R,
    device.extentMm[2] / C,
  ];
  // Retina geometry in normalised coordinates (u, v ∈ [0, 1] across columns and frames, depth ∈ [0, 1]).
  const surface0 = rng.uniform(0.18, 0.3);
  const tilt = [rng.uniform(-0.06, 0.06), rng.uniform(-0.06, 0.06)];
  const waves = Array.from({ length: 3 }, () => ({
    a: rng.uniform(0.004, 0.015),
    fu: rng.uniform(0.5, 2.5),
    fv: rng.uniform(0.5, 2.5),
    phase: rng.uniform(0, 2 * Math.PI),
  }));
  const fovea = { u: rng.uniform(0.4, 0.6), v: rng.uniform(0.4, 0.6), depth: rng.uniform(0.06, 0.1) };
  const thicknessJitter = LAYERS.map(() => rng.uniform(0.85, 1.15));
  const reflectJitter = LAYERS.map(() => rng.uniform(0.85, 1.15));
  const gain = device.gain * rng.uniform(0.85, 1.15);
  const mirror = spec.laterality === 'L' ? -1 : 1;

  const fluid =
    label === 'fluid'
      ? Array.from({ length: 1 + rng.int(3) }, () => ({
          u: rng.uniform(0.25, 0.75),
          v: rng.uniform(0.25, 0.75),
          ru: rng.uniform(0.12, 0.22),
          rv: rng.uniform(0.12, 0.22),
          h: rng.uniform(0.06, 0.1), // full cyst height at its centre (depth units)
          layer: 2 + rng.int(3), // INL, OPL or ONL
        }))
      : [];
  const drusen =
    label === 'drusen'
      ? Array.from({ length: 2 + rng.int(4) }, () => ({
          u: rng.uniform(0.15, 0.85),
          v: rng.uniform(0.15, 0.85),
          r: rng.uniform(0.1, 0.18),
          h: rng.uniform(0.06, 0.1),
        }))
      : [];

  const maxValue = 2 ** device.bitsStored - 1;
  const pixels = device.bitsAllocated === 8 ? new Uint8Array(F * R * C) : new Uint16Array(F * R * C);
  const boundaries = new Float64Array(LAYERS.length + 1);
  for (let f = 0; f < F; f++) {
    const v = (f + 0.5) / F;
    for (let c = 0; c < C; c++) {
      const u = 0.5 + mirror * ((c + 0.5) / C - 0.5);
      // The RPE's depth is fixed by the eye's geometry; the retina is built upwards from it.
      let surface = surface0 + tilt[0]! * (u - 0.5) + tilt[1]! * (v - 0.5);
      for (const w of waves) surface += w.a * Math.sin(2 * Math.PI * (w.fu * u + w.fv * v) + w.phase);
      const d2 = ((u - fovea.u) / 0.12) ** 2 + ((v - fovea.v) / 0.12) ** 2;
      const pit = fovea.depth * Math.exp(-d2);
      // Inner layers thin out in the pit; outer layers keep their thickness.
      boundaries[0] = surface + pit;
      for (let k = 0; k < LAYERS.length; k++) {
        const inner = k < 4 ? Math.max(0.15, 1 - 3 * pit) : 1;
        boundaries[k + 1] = boundaries[k]! + LAYERS[k]!.thickness * thicknessJitter[k]! * inner;
      }
      // Drusen: dome height under this A-scan; everything from the RPE up moves up by it.
      let lift = 0;
      for (const d of drusen) {
        const r2 = ((u - d.u) ** 2 + (v - d.v) ** 2) / (d.r * d.r);
        if (r2 < 1) lift = Math.max(lift, d.h * Math.sqrt(1 - r2));
      }
      // Fluid: cyst height under this A-scan, inserted at the middle of its layer.
      let cystTop = 0;
      let cystHeight = 0;
      for (const p of fluid) {
        const r2 = ((u - p.u) / p.ru) ** 2 + ((v - p.v) / p.rv) ** 2;
        if (r2 < 1 && p.h * Math.sqrt(1 - r2) > cystHeight) {
          cystHeight = p.h * Math.sqrt(1 - r2);
          cystTop = (boundaries[p.layer]! + boundaries[p.layer + 1]!) / 2;
        }
      }
      const bruch = boundaries[8]!; // bottom of the RPE: stays put under drusen
      for (let k = 0; k <= 8; k++) {
        boundaries[k]! -= lift;
        if (cystHeight > 0 && boundaries[k]! <= cystTop - lift) boundaries[k]! -= cystHeight;
      }
      const cyst0 = cystTop - lift - cystHeight;
      const cyst1 = cystTop - lift;
      for (let r = 0; r < R; r++) {
        const depth = (r + 0.5) / R;
        let reflect = device.background;
        if (depth >= boundaries[0]!) {
          let k = 0;
          while (k < LAYERS.length && depth >= boundaries[k + 1]!) k++;
          if (k < LAYERS.length) {
            reflect = LAYERS[k]!.reflectivity * reflectJitter[k]!;
            if (k === 8) reflect *= Math.exp(-(depth - boundaries[8]!) / 0.08);
          } else reflect = device.background;
          // Sub-RPE deposit between the lifted RPE and Bruch's membrane.
          if (lift > 0 && depth >= boundaries[8]! && depth < bruch) reflect = 0.35 * reflectJitter[7]!;
          if (cystHeight > 0 && depth >= cyst0 && depth < cyst1) reflect = 0.03;
        }
        // Multiplicative speckle (gamma-distributed, mean 1) plus a little additive noise.
        const shape = 1 / (device.speckle * device.speckle);
        const speckle = rng.gamma(shape) / shape;
        const value = gain * reflect * speckle + rng.normal(0, 0.01);
        const mapped = Math.max(0, Math.min(1, value)) ** device.gamma;
        pixels[(f * R + r) * C + c] = Math.round(mapped * maxValue);
      }
    }
  }
  return { pixels, shape: [F, R, C], spacing };
}

export const SynthConfigSchema = z.object({
  seed: z.number().int().default(0),
  /** Number of patients; each has one or two eyes (volumes). */
  patients: z.number().int().positive().default(24),
  /** Probability that a patient has both eyes scanned. */
  bothEyes: z.number().min(0).max(1).default(0.5),
  scale: z.number().positive().max(4).default(1),
  /** Label frequencies (normal, fluid, drusen). */
  labelWeights: z.tuple([z.number(), z.number(), z.number()]).default([1, 1, 1]),
  /** Device ids to use (default: all four). */
  devices: z.array(z.string()).optional(),
});
export type SynthConfig = z.input<typeof SynthConfigSchema>;

export interface SynthRecord {
  path: string;
  patientId: string;
  laterality: 'R' | 'L';
  device: string;
  label: PathologyLabel;
  labelIndex: number;
}

function atomicWrite(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/**
 * Writes a synthetic OCT data set: `<out>/<device>/<patient>_<eye>.dcm` (one multi-frame DICOM per
 * eye) and `<out>/labels.csv` (relative path, patient, laterality, device, label, label index).
 * Devices are assigned per patient, labels per eye.
 */
export function synthesize(out: string, input: SynthConfig = {}): SynthRecord[] {
  const config = SynthConfigSchema.parse(input);
  const devices = config.devices
    ? SYNTH_DEVICES.filter((d) => config.devices?.includes(d.id))
    : [...SYNTH_DEVICES];
  if (devices.length === 0) throw new Error(`no known device among ${config.devices?.join(', ')}`);
  const rng = new Generator(config.seed);
  const records: SynthRecord[] = [];
  for (let p = 0; p < config.patients; p++) {
    const patientId = `SYN${String(p).padStart(4, '0')}`;
    const device = devices[p % devices.length] as SynthDevice;
    const eyes: ('R' | 'L')[] = rng.bernoulli(config.bothEyes)
      ? ['R', 'L']
      : [rng.bernoulli(0.5) ? 'R' : 'L'];
    for (const eye of eyes) {
      const labelIndex = rng.categorical(config.labelWeights);
      const label = PATHOLOGY_LABELS[labelIndex] as PathologyLabel;
      const vol = synthOctVolume({ device, label, scale: config.scale, laterality: eye }, rng.fork());
      const [F, R, C] = vol.shape;
      const rel = join(device.id, `${patientId}_${eye}.dcm`);
      const bytes = writeDicom({
        kind: 'oct',
        rows: R,
        columns: C,
        frames: F,
        bitsAllocated: device.bitsAllocated,
        bitsStored: device.bitsStored,
        pixels: vol.pixels,
        patientId,
        studyDate: '20260101',
        seriesNumber: eye === 'R' ? 1 : 2,
        instanceNumber: 1,
        manufacturer: device.manufacturer,
        modelName: device.modelName,
        laterality: eye,
        pixelSpacing: [vol.spacing[1], vol.spacing[2]],
        sliceThickness: vol.spacing[0],
        spacingBetweenSlices: vol.spacing[0],
        imageOrientationPatient: [1, 0, 0, 0, 0, 1],
        framePositions: Array.from(
          { length: F },
          (_, f) => [0, f * vol.spacing[0], 0] as [number, number, number],
        ),
      });
      atomicWrite(join(out, rel), bytes);
      records.push({ path: rel, patientId, laterality: eye, device: device.id, label, labelIndex });
    }
  }
  const csv = ['path,patient_id,laterality,device,label,label_index']
    .concat(
      records.map((r) => [r.path, r.patientId, r.laterality, r.device, r.label, r.labelIndex].join(',')),
    )
    .join('\n');
  atomicWrite(join(out, 'labels.csv'), `${csv}\n`);
  return records;
}
