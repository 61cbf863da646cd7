import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '@meddl/tensor';
import { z } from 'zod';
import { TissueBertArgumentError } from '../errors';
import { type CpgRegion, writeBlocksBed, writeCpgIndex } from '../formats/bed';
import { writeBeta } from '../formats/beta';
import { writeFasta } from '../formats/fasta';
import { type PatRecord, patToBeta, writePatGz } from '../formats/pat';
import { SYNTH_MAJOR_TISSUE, SYNTH_TISSUE_GROUPS, SYNTH_TISSUES } from './tissues';

export const SynthConfigSchema = z.object({
  seed: z.number().int().default(0),
  /** Number of sample files (.pat.gz). */
  samples: z.number().int().min(29).default(88),
  /** Panel regions (CpG-rich windows). */
  regions: z.number().int().min(1).default(200),
  /** Length of each panel region in bp (the model's window). */
  regionLength: z.number().int().min(20).default(150),
  chromosomes: z.number().int().min(1).default(2),
  /** Bases of background sequence between regions (random in [gap/2, 3·gap/2]). */
  gap: z.number().int().min(10).default(400),
  /** Mean reads per region per sample; each sample's coverage is drawn log-normally around it. */
  meanCoverage: z.number().positive().default(10),
  /** Log-normal sigma of per-sample coverage (variable sequencing depth). */
  coverageSigma: z.number().min(0).default(0.5),
  /** Fraction of files given to the major tissue (as in the real atlas, ~27%). */
  majorFraction: z.number().min(0).max(1).default(0.27),
  /** Regions per tissue that are tissue-specific markers (flipped relative to the group). */
  markersPerTissue: z.number().int().min(0).default(4),
  /** Per-CpG probability of a methylated call in a methylated-type read (and of an unmethylated call in an unmethylated-type read). */
  readFidelity: z.number().min(0.5).max(1).default(0.95),
  /** Probability that a CpG inside a read is not called ('.'). */
  missingRate: z.number().min(0).max(1).default(0.02),
  /** SD of a per-sample, per-region logit jitter (biological variability between samples of a tissue). */
  sampleJitter: z.number().min(0).default(0.3),
});
export type SynthConfig = z.infer<typeof SynthConfigSchema>;

/** Ground truth written to `ground_truth.json`: enough to compute Bayes-optimal read posteriors. */
export interface SynthGroundTruth {
  tissues: string[];
  groups: Array<{ name: string; tissues: string[] }>;
  regions: CpgRegion[];
  /**
   * probMethylatedRead[t][g]: probability that a read from tissue t in region g is of the
   * methylated type. Read model: choose the type, then each CpG is called methylated with
   * probability `readFidelity` (methylated type) or 1 − readFidelity (unmethylated type),
   * independently, and not called with probability `missingRate`.
   */
  probMethylatedRead: number[][];
  readFidelity: number;
  missingRate: number;
  /** Class frequencies of files in the data set (the prior of a file-level classifier). */
  fileTissueCounts: Record<string, number>;
  config: SynthConfig;
}

export interface SynthSample {
  sample: string;
  tissue: string;
  label: number;
  /** Path relative to the output directory. */
  file: string;
  betaFile: string;
  reads: number;
}

export interface SynthDataset {
  dir: string;
  genome: string;
  cpgIndex: string;
  regionsBed: string;
  manifest: string;
  groundTruthFile: string;
  samples: SynthSample[];
  groundTruth: SynthGroundTruth;
  nSites: number;
}

const BASES = 'ACGT';

/**
 * Background sequence with CpG depletion (as in vertebrate genomes, CpG ~1/5 of its expected
 * frequency) or, in panel regions, CpG-rich island-like sequence.
 */
function randomSequence(rng: Generator, length: number, cpgRich: boolean): string {
  const out: string[] = [];
  let prev = '';
  for (let i = 0; i < length; i++) {
    let b: string;
    if (cpgRich && prev === 'C' && rng.random() < 0.35) b = 'G';
    else {
      b = BASES[rng.int(4)];
      if (prev === 'C' && b === 'G' && !cpgRich && rng.random() < 0.8) b = BASES[rng.int(2) === 0 ? 0 : 3];
    }
    if (cpgRich && i < length - 1 && rng.random() < 0.06) {
      out.push('C', 'G');
      i++;
      prev = 'G';
      continue;
    }
    out.push(b);
    prev = b;
  }
  return out.join('');
}

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Number of files per tissue: the major tissue gets `majorFraction`, every tissue at least 2 when possible. */
export function allocateFiles(
  total: number,
  tissues: readonly string[],
  major: string,
  majorFraction: number,
  rng: Generator,
): number[] {
  const counts = new Array<number>(tissues.length).fill(0);
  const mi = tissues.indexOf(major);
  counts[mi] = Math.max(1, Math.round(total * majorFraction));
  let rest = total - counts[mi];
  const others = tissues.map((_, i) => i).filter((i) => i !== mi);
  const minEach = rest >= 2 * others.length ? 2 : 1;
  if (rest < others.length)
    throw new TissueBertArgumentError('samples', `too few samples (${total}) for ${tissues.length} tissues`);
  for (const i of others) counts[i] = minEach;
  rest -= minEach * others.length;
  const w = others.map(() => rng.uniform(0.5, 2));
  while (rest > 0) {
    counts[others[rng.categorical(w)]]++;
    rest--;
  }
  return counts;
}

/**
 * Writes a synthetic wgbstools-style data set to `dir`:
 * `genome.fa` + `.fai`, `CpG.bed.gz` (CpG index), `regions.bed` (blocks with CpG indices),
 * `samples/<sample>.pat.gz` and `.beta`, `manifest.csv` (sample,tissue,file) and
 * `ground_truth.json`.
 */
export function generateSyntheticDataset(dir: string, config: Partial<SynthConfig> = {}): SynthDataset {
  const cfg = SynthConfigSchema.parse(config);
  const rng = new Generator(cfg.seed);
  const genomeRng = rng.fork();
  const methRng = rng.fork();
  const sampleRng = rng.fork();
  mkdirSync(join(dir, 'samples'), { recursive: true });

  // 1. Genome: regions spread over chromosomes, separated by CpG-poor background.
  const chroms = Array.from({ length: cfg.chromosomes }, (_, i) => `chr${i + 1}`);
  const regionChrom: number[] = [];
  for (let g = 0; g < cfg.regions; g++) regionChrom.push(Math.floor((g * cfg.chromosomes) / cfg.regions));
  const seqs: string[] = [];
  const regionSpans: Array<{ chrom: string; start: number; end: number }> = [];
  for (let c = 0; c < cfg.chromosomes; c++) {
    const parts: string[] = [];
    let len = 0;
    const gap = () =>
      randomSequence(genomeRng, Math.round(genomeRng.uniform(cfg.gap / 2, (3 * cfg.gap) / 2)), false);
    for (let g = 0; g < cfg.regions; g++) {
      if (regionChrom[g] !== c) continue;
      const bg = gap();
      parts.push(bg);
      len += bg.length;
      let region = randomSequence(genomeRng, cfg.regionLength, true);
      // Every panel region needs CpGs that sit mid-token (offset ≥ 1).
      if (!/.CG/.test(region)) region = `${region.slice(0, 10)}CG${region.slice(12)}`;
      parts.push(region);
      regionSpans.push({ chrom: chroms[c], start: len, end: len + cfg.regionLength });
      len += region.length;
    }
    const tail = gap();
    parts.push(tail);
    seqs.push(parts.join(''));
  }
  const genome = join(dir, 'genome.fa');
  writeFasta(
    genome,
    chroms.map((name, i) => ({ name, sequence: seqs[i] })),
  );

  // 2. CpG index (1-based position of each C of a CG), genome-wide numbering from 1.
  const positions = new Map<string, Int32Array>();
  const firstIndex = new Map<string, number>();
  let nSites = 0;
  chroms.forEach((c, i) => {
    const p: number[] = [];
    const s = seqs[i];
    for (let k = 0; k + 1 < s.length; k++) if (s[k] === 'C' && s[k + 1] === 'G') p.push(k + 1);
    positions.set(c, Int32Array.from(p));
    firstIndex.set(c, nSites + 1);
    nSites += p.length;
  });
  const cpgIndex = join(dir, 'CpG.bed.gz');
  writeCpgIndex(cpgIndex, chroms, positions);
  const regions: CpgRegion[] = regionSpans.map((r) => {
    const p = positions.get(r.chrom) as Int32Array;
    const first = firstIndex.get(r.chrom) as number;
    let lo = 0;
    while (lo < p.length && p[lo] - 1 < r.start) lo++;
    let hi = lo;
    while (hi < p.length && p[hi] - 1 < r.end - 1) hi++; // C and G both inside the region
    return { ...r, startCpg: first + lo, endCpg: first + hi };
  });
  const regionsBed = join(dir, 'regions.bed');
  writeBlocksBed(regionsBed, regions);

  // 3. Methylation model: logit = region base + group effect + tissue effect + markers.
  const T = SYNTH_TISSUES.length;
  const G = regions.length;
  const groupOf = SYNTH_TISSUES.map((t) => SYNTH_TISSUE_GROUPS.findIndex((g) => g.tissues.includes(t)));
  const base = Array.from({ length: G }, () => (methRng.bernoulli(0.5) ? 3 : -3) + methRng.normal(0, 0.5));
  const groupEffect = SYNTH_TISSUE_GROUPS.map(() =>
    Array.from({ length: G }, () => (methRng.bernoulli(0.25) ? methRng.normal(0, 3) : 0)),
  );
  const tissueEffect = SYNTH_TISSUES.map((_, t) =>
    Array.from({ length: G }, () =>
      methRng.bernoulli(0.15) ? methRng.normal(0, groupOf[t] === 0 ? 1.2 : 2) : 0,
    ),
  );
  const logits = SYNTH_TISSUES.map((_, t) =>
    base.map((b, g) => b + groupEffect[groupOf[t]][g] + tissueEffect[t][g]),
  );
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < cfg.markersPerTissue; k++) {
      const g = methRng.int(G);
      logits[t][g] = -Math.sign(base[g] + groupEffect[groupOf[t]][g]) * 3.5; // flipped: a tissue-specific U or M marker
    }
  }
  const probMethylatedRead = logits.map((row) => row.map((x) => Math.round(logistic(x) * 1e6) / 1e6));

  // 4. Samples.
  const perTissue = allocateFiles(
    cfg.samples,
    SYNTH_TISSUES,
    SYNTH_MAJOR_TISSUE,
    cfg.majorFraction,
    sampleRng,
  );
  const labels: number[] = [];
  perTissue.forEach((n, t) => {
    for (let i = 0; i < n; i++) labels.push(t);
  });
  sampleRng.shuffle(labels);
  const samples: SynthSample[] = [];
  const seen = new Array<number>(T).fill(0);
  const chromIndex = new Map(chroms.map((c, i) => [c, i]));
  for (let s = 0; s < labels.length; s++) {
    const t = labels[s];
    const name = `S${String(s + 1).padStart(3, '0')}_${SYNTH_TISSUES[t]}_${++seen[t]}`;
    // The same tissue probabilities jittered per sample (biological variability) below.
    const coverage =
      cfg.meanCoverage * Math.exp(sampleRng.normal(0, cfg.coverageSigma) - cfg.coverageSigma ** 2 / 2);
    const records = new Map<string, PatRecord>();
    let reads = 0;
    for (let g = 0; g < G; g++) {
      const r = regions[g];
      const nCpg = r.endCpg - r.startCpg;
      if (nCpg === 0) continue;
      const pM = logistic(logits[t][g] + (cfg.sampleJitter > 0 ? sampleRng.normal(0, cfg.sampleJitter) : 0));
      const nReads = poisson(sampleRng, coverage);
      for (let k = 0; k < nReads; k++) {
        // A read covers a random contiguous run of the region's CpGs (fragment shorter than the region).
        const first = sampleRng.int(nCpg);
        const len = 1 + sampleRng.int(Math.min(nCpg - first, 1 + Math.ceil(nCpg * 0.8)));
        const methType = sampleRng.bernoulli(pM);
        let pattern = '';
        for (let j = 0; j < len; j++) {
          if (sampleRng.bernoulli(cfg.missingRate)) pattern += '.';
          else pattern += sampleRng.bernoulli(methType ? cfg.readFidelity : 1 - cfg.readFidelity) ? 'C' : 'T';
        }
        const key = `${r.chrom}\t${r.startCpg + first}\t${pattern}`;
        const rec = records.get(key);
        if (rec) rec.count++;
        else records.set(key, { chrom: r.chrom, startCpg: r.startCpg + first, pattern, count: 1 });
        reads++;
      }
    }
    const sorted = [...records.values()].sort(
      (a, b) =>
        (chromIndex.get(a.chrom) as number) - (chromIndex.get(b.chrom) as number) ||
        a.startCpg - b.startCpg ||
        (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0),
    );
    const file = `samples/${name}.pat.gz`;
    const betaFile = `samples/${name}.beta`;
    writePatGz(join(dir, file), sorted);
    const beta = patToBeta(sorted, nSites);
    writeBeta(join(dir, betaFile), beta.methylated, beta.covered);
    samples.push({ sample: name, tissue: SYNTH_TISSUES[t], label: t, file, betaFile, reads });
  }
  const manifest = join(dir, 'manifest.csv');
  writeFileSync(
    manifest,
    `sample,tissue,file\n${samples.map((s) => `${s.sample},${s.tissue},${s.file}`).join('\n')}\n`,
  );

  const groundTruth: SynthGroundTruth = {
    tissues: SYNTH_TISSUES,
    groups: SYNTH_TISSUE_GROUPS,
    regions,
    probMethylatedRead,
    readFidelity: cfg.readFidelity,
    missingRate: cfg.missingRate,
    fileTissueCounts: Object.fromEntries(SYNTH_TISSUES.map((t, i) => [t, perTissue[i]])),
    config: cfg,
  };
  const groundTruthFile = join(dir, 'ground_truth.json');
  writeFileSync(groundTruthFile, `${JSON.stringify(groundTruth)}\n`);
  return { dir, genome, cpgIndex, regionsBed, manifest, groundTruthFile, samples, groundTruth, nSites };
}

function poisson(rng: Generator, lambda: number): number {
  if (lambda > 50) return Math.max(0, Math.round(rng.normal(lambda, Math.sqrt(lambda))));
  const L = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng.random();
  } while (p > L);
  return k - 1;
}

/**
 * Bayes posterior P(t | read) under the generator's read model (uniform tissue prior unless
 * given): the best any classifier can do on a read, used to compute the Bayes-optimal accuracy.
 * Exact when `sampleJitter` = 0; with jitter it ignores the per-sample deviation (a close
 * approximation for small jitter).
 * `pattern` covers consecutive CpGs of region `region`.
 */
export function bayesReadPosterior(
  truth: SynthGroundTruth,
  region: number,
  pattern: string,
  prior?: ArrayLike<number>,
): Float64Array {
  const T = truth.tissues.length;
  let m = 0;
  let u = 0;
  for (const ch of pattern) {
    if (ch === 'C') m++;
    else if (ch === 'T') u++;
  }
  const f = truth.readFidelity;
  const logM = m * Math.log(f) + u * Math.log(1 - f);
  const logU = m * Math.log(1 - f) + u * Math.log(f);
  const out = new Float64Array(T);
  let max = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < T; t++) {
    const p = truth.probMethylatedRead[t][region];
    const a = Math.log(Math.max(p, 1e-300)) + logM;
    const b = Math.log(Math.max(1 - p, 1e-300)) + logU;
    const hi = Math.max(a, b);
    out[t] = hi + Math.log(Math.exp(a - hi) + Math.exp(b - hi)) + Math.log(prior ? prior[t] : 1 / T);
    max = Math.max(max, out[t]);
  }
  let s = 0;
  for (let t = 0; t < T; t++) {
    out[t] = Math.exp(out[t] - max);
    s += out[t];
  }
  for (let t = 0; t < T; t++) out[t] /= s;
  return out;
}
