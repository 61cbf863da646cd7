// Synthetic colorectal-cancer slides for `meddl synth crc-mil`. Each slide is rendered in stain
// space (haematoxylin and eosin concentrations per pixel), then turned into RGB through a
// per-institution stain matrix (Beer–Lambert), and written as a pyramidal Aperio-style TIFF
// (40x, 0.25 µm/px) with @meddl/data's writer. Part of the tissue carries the patient's subtype
// pattern — what a MIL model must find:
//   Canonical: glands (lumens ringed by palisading elongated nuclei)
//   Immune:    dense small round lymphocyte-like nuclei, less eosin
//   Stromal:   fibrous eosin streaks with sparse spindle nuclei
// The rest is a generic tumour background shared by all subtypes. Some slides get a blurred
// rectangle and a pen stroke (recorded in artifacts.json) for QC.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePyramidalTiff } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { z } from 'zod';

export const DEFAULT_SUBTYPES = ['Canonical', 'Immune', 'Stromal'] as const;

export const SynthConfigSchema = z.object({
  seed: z.number().int().default(0),
  patients: z.number().int().min(3).default(12),
  /** Fraction of patients with a second slide. */
  multiSlideFraction: z.number().min(0).max(1).default(0.3),
  width: z.number().int().min(256).default(1024),
  height: z.number().int().min(256).default(768),
  institutions: z.number().int().min(1).default(3),
  /** Fraction of the tissue showing the subtype pattern (min, max). */
  patternFraction: z.tuple([z.number(), z.number()]).default([0.35, 0.65]),
  blurFraction: z.number().min(0).max(1).default(0.35),
  penFraction: z.number().min(0).max(1).default(0.3),
  /** Slides with no tissue at all (QC must skip them). */
  blankSlides: z.number().int().min(0).default(0),
  jpegQuality: z.number().int().min(50).max(100).default(90),
});
export type SynthConfig = z.infer<typeof SynthConfigSchema>;
export type SynthConfigInput = z.input<typeof SynthConfigSchema>;

export interface SynthArtifact {
  kind: 'blur' | 'pen';
  /** Level-0 bounding box (for pen: the stroke's box) and, for pen, its polyline and width. */
  x: number;
  y: number;
  w: number;
  h: number;
  points?: [number, number][];
  strokeWidth?: number;
}

export interface SynthSlideRecord {
  patient_id: string;
  slide_id: string;
  slide_file: string;
  institution: string;
  subtype: string;
  msi: string;
  braf: string;
  age_band: string;
  survival_months: number;
  event: number;
  /** Pathway scores (z-scored over the cohort's patients with tissue); null for a blank slide's patient. */
  pathway_canonical: number | null;
  pathway_immune: number | null;
  pathway_stromal: number | null;
  artifacts: SynthArtifact[];
}

export interface SynthResult {
  dir: string;
  clinicalCsv: string;
  slides: SynthSlideRecord[];
}

// Per-institution stain matrices (columns H, E in OD) and illumination: "different labs".
const INSTITUTION_STAINS = [
  { h: [0.65, 0.7, 0.29], e: [0.07, 0.99, 0.11], io: 245 },
  { h: [0.55, 0.76, 0.35], e: [0.12, 0.92, 0.37], io: 238 },
  { h: [0.72, 0.64, 0.27], e: [0.2, 0.95, 0.22], io: 250 },
  { h: [0.6, 0.72, 0.34], e: [0.05, 0.9, 0.42], io: 242 },
];

/** Smooth value noise in [0, 1] on a coarse lattice, bilinearly interpolated. */
function valueNoise(w: number, h: number, cell: number, rng: Generator): (x: number, y: number) => number {
  const gw = Math.ceil(w / cell) + 2;
  const gh = Math.ceil(h / cell) + 2;
  const g = new Float64Array(gw * gh);
  for (let i = 0; i < g.length; i++) g[i] = rng.random();
  return (x, y) => {
    const fx = x / cell;
    const fy = y / cell;
    const x0 = Math.floor(fx);
    const y0 = Math.floor(fy);
    const tx = fx - x0;
    const ty = fy - y0;
    const sx = tx * tx * (3 - 2 * tx);
    const sy = ty * ty * (3 - 2 * ty);
    const a = g[y0 * gw + x0] as number;
    const b = g[y0 * gw + x0 + 1] as number;
    const c = g[(y0 + 1) * gw + x0] as number;
    const d = g[(y0 + 1) * gw + x0 + 1] as number;
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
  };
}

interface Canvas {
  w: number;
  h: number;
  cH: Float32Array;
  cE: Float32Array;
  tissue: Uint8Array;
  /** 1 where the subtype pattern lives. */
  pattern: Uint8Array;
}

/** Stamps an elliptical nucleus (haematoxylin) with soft edges. */
function stampNucleus(
  cv: Canvas,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  angle: number,
  dens: number,
): void {
  const r = Math.ceil(Math.max(rx, ry)) + 1;
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(cv.h - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(cv.w - 1, Math.ceil(cx + r)); x++) {
      const dx = x - cx;
      const dy = y - cy;
      const u = (dx * ca + dy * sa) / rx;
      const v = (-dx * sa + dy * ca) / ry;
      const d2 = u * u + v * v;
      if (d2 > 1.3) continue;
      const i = y * cv.w + x;
      if (!cv.tissue[i]) continue;
      const wgt = d2 <= 0.8 ? 1 : (1.3 - d2) / 0.5;
      cv.cH[i] = Math.max(cv.cH[i] as number, dens * wgt);
      cv.cE[i] = (cv.cE[i] as number) * (1 - 0.5 * wgt);
    }
  }
}

function renderSlide(
  cfg: SynthConfig,
  subtypeIndex: number,
  rng: Generator,
  blank: boolean,
): { cv: Canvas; artifacts: SynthArtifact[]; patternShare: number } {
  const { width: w, height: h } = cfg;
  const cv: Canvas = {
    w,
    h,
    cH: new Float32Array(w * h),
    cE: new Float32Array(w * h),
    tissue: new Uint8Array(w * h),
    pattern: new Uint8Array(w * h),
  };
  const artifacts: SynthArtifact[] = [];
  if (blank) return { cv, artifacts, patternShare: 0 };
  // Tissue: 2–3 wobbly ellipses.
  const wobble = valueNoise(w, h, 96, rng);
  const blobs = Array.from({ length: 2 + rng.int(2) }, () => ({
    cx: w * rng.uniform(0.3, 0.7),
    cy: h * rng.uniform(0.3, 0.7),
    rx: w * rng.uniform(0.2, 0.32),
    ry: h * rng.uniform(0.2, 0.32),
  }));
  const patternNoise = valueNoise(w, h, 160, rng);
  const fibreNoise = valueNoise(w, h, 48, rng);
  const eNoise = valueNoise(w, h, 24, rng);
  const patternShare = rng.uniform(cfg.patternFraction[0], cfg.patternFraction[1]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let inside = false;
      for (const b of blobs) {
        const d = ((x - b.cx) / b.rx) ** 2 + ((y - b.cy) / b.ry) ** 2;
        if (d < 0.75 + 0.5 * wobble(x, y)) {
          inside = true;
          break;
        }
      }
      if (!inside) continue;
      const i = y * w + x;
      cv.tissue[i] = 1;
      cv.cE[i] = 0.45 + 0.25 * eNoise(x, y);
      cv.cH[i] = 0.08;
      // Noise is in [0,1] with mass near the middle; threshold so about `patternShare` is pattern.
      if (patternNoise(x, y) < 0.25 + 0.55 * patternShare) cv.pattern[i] = 1;
    }
  }
  // Stromal pattern modifies eosin before nuclei are stamped.
  const theta = rng.uniform(0, Math.PI);
  const ct = Math.cos(theta);
  const st = Math.sin(theta);
  if (subtypeIndex === 2) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (!cv.pattern[i] || !cv.tissue[i]) continue;
        const s = Math.sin((x * ct + y * st) / 2.2 + 9 * fibreNoise(x, y));
        cv.cE[i] = 0.55 + 0.5 * s * s;
        cv.cH[i] = 0.04;
      }
    }
  }
  if (subtypeIndex === 1) {
    for (let i = 0; i < w * h; i++) if (cv.pattern[i]) cv.cE[i] = (cv.cE[i] as number) * 0.7;
  }
  const area = w * h;
  // Generic tumour nuclei everywhere in tissue (outside the pattern).
  const nGeneric = Math.round(area * 0.0035);
  for (let k = 0; k < nGeneric; k++) {
    const x = rng.uniform(0, w);
    const y = rng.uniform(0, h);
    const i = Math.floor(y) * w + Math.floor(x);
    if (!cv.tissue[i] || cv.pattern[i]) continue;
    stampNucleus(
      cv,
      x,
      y,
      rng.uniform(3, 5),
      rng.uniform(2.5, 4),
      rng.uniform(0, Math.PI),
      rng.uniform(0.7, 1.1),
    );
  }
  const inPattern = (x: number, y: number) => {
    const i = Math.floor(y) * w + Math.floor(x);
    return cv.tissue[i] === 1 && cv.pattern[i] === 1;
  };
  if (subtypeIndex === 0) {
    // Glands: lumen + ring of palisading nuclei.
    const nGlands = Math.round(area / 2600);
    for (let k = 0; k < nGlands; k++) {
      const cx = rng.uniform(0, w);
      const cy = rng.uniform(0, h);
      if (!inPattern(cx, cy)) continue;
      const r = rng.uniform(12, 22);
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(h, cy + r); y++) {
        for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(w, cx + r); x++) {
          const d = Math.hypot(x - cx, y - cy);
          const i = y * w + x;
          if (d < r - 5 && cv.tissue[i]) {
            cv.cH[i] = 0.02;
            cv.cE[i] = 0.06;
          }
        }
      }
      const nRing = Math.round((2 * Math.PI * r) / 6);
      for (let j = 0; j < nRing; j++) {
        const a = (2 * Math.PI * j) / nRing;
        stampNucleus(cv, cx + r * Math.cos(a), cy + r * Math.sin(a), 4.5, 2, a, 1.2);
      }
    }
  } else if (subtypeIndex === 1) {
    const nLymph = Math.round(area * 0.012);
    for (let k = 0; k < nLymph; k++) {
      const x = rng.uniform(0, w);
      const y = rng.uniform(0, h);
      if (!inPattern(x, y)) continue;
      const r = rng.uniform(1.8, 2.6);
      stampNucleus(cv, x, y, r, r, 0, rng.uniform(1.4, 1.8));
    }
  } else if (subtypeIndex === 2) {
    const nSpindle = Math.round(area * 0.0012);
    for (let k = 0; k < nSpindle; k++) {
      const x = rng.uniform(0, w);
      const y = rng.uniform(0, h);
      if (!inPattern(x, y)) continue;
      stampNucleus(cv, x, y, 7, 1.5, theta, rng.uniform(0.8, 1.1));
    }
  } else {
    // A further configured class: a mixture of the generic background at a higher nucleus density.
    const n = Math.round(area * 0.002 * (1 + subtypeIndex));
    for (let k = 0; k < n; k++) {
      const x = rng.uniform(0, w);
      const y = rng.uniform(0, h);
      if (!inPattern(x, y)) continue;
      stampNucleus(cv, x, y, 3 + (subtypeIndex % 3), 3, 0, 1);
    }
  }
  // Blur rectangle over tissue.
  if (rng.random() < cfg.blurFraction) {
    const bw = Math.round(Math.min(w, h) * 0.3);
    for (let attempt = 0; attempt < 20; attempt++) {
      const x = Math.round(rng.uniform(0, w - bw));
      const y = Math.round(rng.uniform(0, h - bw));
      if (cv.tissue[(y + (bw >> 1)) * w + x + (bw >> 1)]) {
        artifacts.push({ kind: 'blur', x, y, w: bw, h: bw });
        break;
      }
    }
  }
  if (rng.random() < cfg.penFraction) {
    const x0 = rng.uniform(0.15, 0.35) * w;
    const y0 = rng.uniform(0.2, 0.8) * h;
    const x1 = rng.uniform(0.65, 0.85) * w;
    const y1 = rng.uniform(0.2, 0.8) * h;
    const sw = Math.max(10, Math.round(Math.min(w, h) * 0.025));
    const xs = [x0, x1];
    const ys = [y0, y1];
    artifacts.push({
      kind: 'pen',
      x: Math.floor(Math.min(...xs) - sw),
      y: Math.floor(Math.min(...ys) - sw),
      w: Math.ceil(Math.abs(x1 - x0) + 2 * sw),
      h: Math.ceil(Math.abs(y1 - y0) + 2 * sw),
      points: [
        [Math.round(x0), Math.round(y0)],
        [Math.round(x1), Math.round(y1)],
      ],
      strokeWidth: sw,
    });
  }
  return { cv, artifacts, patternShare };
}

function distanceToSegment(px: number, py: number, a: [number, number], b: [number, number]): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const t = Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

function toRgb(cv: Canvas, institution: number, artifacts: SynthArtifact[], rng: Generator): Uint8Array {
  const { w, h } = cv;
  const st = INSTITUTION_STAINS[
    institution % INSTITUTION_STAINS.length
  ] as (typeof INSTITUTION_STAINS)[number];
  const rgb = new Uint8Array(w * h * 3);
  const bg = [st.io - 6, st.io - 8, st.io - 4];
  for (let i = 0; i < w * h; i++) {
    const ch = cv.cH[i] as number;
    const ce = cv.cE[i] as number;
    for (let c = 0; c < 3; c++) {
      const od = ch * (st.h[c] as number) + ce * (st.e[c] as number);
      const v = cv.tissue[i] ? st.io * Math.exp(-od) : (bg[c] as number);
      rgb[3 * i + c] = Math.max(0, Math.min(255, Math.round(v + rng.normal(0, 2.5))));
    }
  }
  for (const a of artifacts) {
    if (a.kind === 'blur') boxBlur(rgb, w, h, a, 6, 3);
  }
  for (const a of artifacts) {
    if (a.kind !== 'pen' || !a.points) continue;
    const ink = rng.random() < 0.5 ? [20, 120, 70] : [25, 60, 170];
    const half = (a.strokeWidth as number) / 2;
    const [p, q] = a.points as [[number, number], [number, number]];
    for (let y = Math.max(0, a.y); y < Math.min(h, a.y + a.h); y++) {
      for (let x = Math.max(0, a.x); x < Math.min(w, a.x + a.w); x++) {
        if (distanceToSegment(x, y, p, q) > half) continue;
        const i = 3 * (y * w + x);
        // Ink on glass over tissue: multiply (transmission), mostly ink colour.
        for (let c = 0; c < 3; c++)
          rgb[i + c] = Math.round(
            (0.8 * (ink[c] as number) * (rgb[i + c] as number)) / 255 + 0.2 * (ink[c] as number),
          );
      }
    }
  }
  return rgb;
}

/** Repeated separable box blur of a rectangle (≈ Gaussian), as an out-of-focus area. */
function boxBlur(
  rgb: Uint8Array,
  w: number,
  h: number,
  r: { x: number; y: number; w: number; h: number },
  radius: number,
  passes: number,
): void {
  const x0 = Math.max(0, r.x);
  const y0 = Math.max(0, r.y);
  const x1 = Math.min(w, r.x + r.w);
  const y1 = Math.min(h, r.y + r.h);
  const rw = x1 - x0;
  const rh = y1 - y0;
  const buf = new Float32Array(rw * rh * 3);
  for (let y = 0; y < rh; y++)
    for (let x = 0; x < rw; x++)
      for (let c = 0; c < 3; c++) buf[3 * (y * rw + x) + c] = rgb[3 * ((y + y0) * w + x + x0) + c] as number;
  const tmp = new Float32Array(buf.length);
  for (let p = 0; p < passes; p++) {
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          let n = 0;
          for (let d = -radius; d <= radius; d++) {
            const xx = Math.min(rw - 1, Math.max(0, x + d));
            s += buf[3 * (y * rw + xx) + c] as number;
            n++;
          }
          tmp[3 * (y * rw + x) + c] = s / n;
        }
      }
    }
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          let n = 0;
          for (let d = -radius; d <= radius; d++) {
            const yy = Math.min(rh - 1, Math.max(0, y + d));
            s += tmp[3 * (yy * rw + x) + c] as number;
            n++;
          }
          buf[3 * (y * rw + x) + c] = s / n;
        }
      }
    }
  }
  for (let y = 0; y < rh; y++)
    for (let x = 0; x < rw; x++)
      for (let c = 0; c < 3; c++)
        rgb[3 * ((y + y0) * w + x + x0) + c] = Math.round(buf[3 * (y * rw + x) + c] as number);
}

/**
 * Raw pathway scores of a patient (before z-scoring): each subtype's pathway is high in that subtype and
 * rises with the share of tissue its pattern covers (the glands, lymphocyte-like infiltrate or fibrous
 * stroma the generator paints), plus Gaussian noise from a separate generator (so the slide draws are
 * the same as without the scores).
 */
function rawPathwayScores(subtypeIndex: number, patternShare: number, noise: Generator): number[] {
  return [0, 1, 2].map(
    (k) => (subtypeIndex === k ? 1 + 3 * patternShare : 0.3 * noise.random()) + noise.normal(0, 0.25),
  );
}

const AGE_BANDS = ['<50', '50-64', '65-74', '75+'];
// Exponential hazards per subtype (per month): Stromal worst, Immune best (as CMS4 vs CMS1 after relapse is
// not modelled; this is only for the survival metrics to have something to find).
const HAZARD = [0.02, 0.012, 0.035];

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Writes `count` synthetic slides plus clinical.csv and artifacts.json to `dir`. */
export async function synthesize(
  dir: string,
  input: SynthConfigInput = {},
  subtypes: readonly string[] = DEFAULT_SUBTYPES,
): Promise<SynthResult> {
  const cfg = SynthConfigSchema.parse(input);
  mkdirSync(join(dir, 'slides'), { recursive: true });
  const rng = new Generator(cfg.seed);
  // Pathway-score noise has its own stream: the slides and the other columns do not change.
  const pathwayNoise = new Generator(cfg.seed + 0x5eed);
  const rawPathways = new Map<string, number[]>();
  const slides: SynthSlideRecord[] = [];
  let slideNo = 0;
  const total = cfg.patients + cfg.blankSlides;
  for (let p = 0; p < total; p++) {
    const blank = p >= cfg.patients;
    const subtypeIndex = p % subtypes.length;
    const subtype = subtypes[subtypeIndex] as string;
    const patient = `P${String(p + 1).padStart(3, '0')}`;
    const institution = rng.int(cfg.institutions);
    const msi = rng.random() < (subtypeIndex === 1 ? 0.7 : 0.1) ? 'MSI-H' : 'MSS';
    const braf = rng.random() < (subtypeIndex === 1 ? 0.4 : 0.08) ? 'mutant' : 'wild-type';
    const ageBand = AGE_BANDS[rng.int(AGE_BANDS.length)] as string;
    const hazard = HAZARD[subtypeIndex] ?? 0.02;
    const tEvent = -Math.log(1 - rng.random()) / hazard;
    const tCensor = rng.uniform(12, 96);
    const nSlides = !blank && rng.random() < cfg.multiSlideFraction ? 2 : 1;
    const shares: number[] = [];
    for (let s = 0; s < nSlides; s++) {
      slideNo++;
      const slideId = `S${String(slideNo).padStart(4, '0')}`;
      const file = `slides/${slideId}.svs`;
      const { cv, artifacts, patternShare } = renderSlide(cfg, subtypeIndex, rng, blank);
      shares.push(patternShare);
      const rgb = toRgb(cv, institution, artifacts, rng);
      const tmp = join(dir, `${file}.tmp-${process.pid}`);
      await writePyramidalTiff(
        tmp,
        { width: cfg.width, height: cfg.height, data: rgb },
        {
          tileSize: 256,
          downsamples: [1, 4, 16],
          compression: 'jpeg',
          quality: cfg.jpegQuality,
          mpp: 0.25,
          appMag: 40,
          style: 'aperio',
        },
      );
      renameSync(tmp, join(dir, file));
      slides.push({
        patient_id: patient,
        slide_id: slideId,
        slide_file: file,
        institution: `site-${String.fromCharCode(65 + institution)}`,
        subtype,
        msi,
        braf,
        age_band: ageBand,
        survival_months: Math.round(Math.min(tEvent, tCensor) * 10) / 10,
        event: tEvent <= tCensor ? 1 : 0,
        pathway_canonical: null,
        pathway_immune: null,
        pathway_stromal: null,
        artifacts,
      });
    }
    if (!blank)
      rawPathways.set(
        patient,
        rawPathwayScores(subtypeIndex, shares.reduce((a, b) => a + b, 0) / shares.length, pathwayNoise),
      );
  }
  // z-score each pathway over the patients with tissue (3 decimals in the CSV).
  const raw = [...rawPathways.values()];
  const keys = ['pathway_canonical', 'pathway_immune', 'pathway_stromal'] as const;
  keys.forEach((key, k) => {
    const v = raw.map((r) => r[k] as number);
    const mean = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length)) || 1;
    for (const s of slides) {
      const r = rawPathways.get(s.patient_id);
      s[key] = r ? Math.round((((r[k] as number) - mean) / sd) * 1000) / 1000 : null;
    }
  });
  const header = [
    'patient_id',
    'slide_id',
    'slide_file',
    'institution',
    'subtype',
    'msi',
    'braf',
    'age_band',
    'survival_months',
    'event',
    'pathway_canonical',
    'pathway_immune',
    'pathway_stromal',
  ] as const;
  const lines = [header.join(',')];
  for (const s of slides) lines.push(header.map((k) => csvField(s[k])).join(','));
  const clinicalCsv = join(dir, 'clinical.csv');
  writeAtomic(clinicalCsv, `${lines.join('\n')}\n`);
  writeAtomic(
    join(dir, 'artifacts.json'),
    `${JSON.stringify({ config: cfg, subtypes, slides: slides.map((s) => ({ slide_id: s.slide_id, artifacts: s.artifacts })) }, null, 1)}\n`,
  );
  return { dir, clinicalCsv, slides };
}

export function writeAtomic(path: string, text: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
