import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /**
   * Motif sites per region. Each region is cut into this many slots; a slot holds a transcription
   * factor motif and the CpGs right after it (a "site"). Tissue-specific hypomethylation at the
   * binding sites of tissue TFs is what real marker regions look like (Loyfer et al. 2023).
   */
  sitesPerRegion: z.number().int().min(1).max(10).default(6),
  /** Probability that a site carries a lineage (group) motif: unmethylated in every tissue of the group. */
  groupSiteRate: z.number().min(0).max(1).default(0.15),
  /** Probability that a site has no motif: constitutively methylated or unmethylated, uninformative. */
  constitutiveSiteRate: z.number().min(0).max(1).default(0.1),
  /** P(a read's site is unmethylated) in the tissue whose motif the site carries (blood: `bloodSiteStrength`). */
  siteStrength: z.number().min(0).max(1).default(0.9),
  bloodSiteStrength: z.number().min(0).max(1).default(0.75),
  /** The same probability in the other tissues of that tissue's group (blood cell types share more). */
  sisterLeak: z.number().min(0).max(1).default(0.15),
  bloodSisterLeak: z.number().min(0).max(1).default(0.3),
  /** The same probability in unrelated tissues. */
  offTarget: z.number().min(0).max(1).default(0.04),
  /** Per-CpG probability that a call agrees with its site's state in the read (bisulfite/sequencing errors aside). */
  readFidelity: z.number().min(0.5).max(1).default(0.95),
  /** Probability that a CpG inside a read is not called ('.'). */
  missingRate: z.number().min(0).max(1).default(0.02),
  /** SD of a per-sample, per-site logit jitter (biological variability between samples of a tissue). */
  sampleJitter: z.number().min(0).default(0.3),
});
export type SynthConfig = z.infer<typeof SynthConfigSchema>;

/**
 * One motif site of a region: a TF motif (or none) and the CpGs that follow it. In a read, the
 * site is in one state — unmethylated with probability `pUnmethylated[tissue]` (jittered per
 * sample), else methylated — and each of its covered CpGs is called in agreement with that state
 * with probability `readFidelity`. Sites are independent of each other.
 */
export interface SynthSite {
  kind: 'tissue' | 'group' | 'constitutive';
  /** Tissue or group whose motif the site carries (null for constitutive sites). */
  owner: string | null;
  /** Motif sequence and its offset (bp) in the region; null for constitutive sites. */
  motif: string | null;
  motifOffset: number | null;
  /** Indices of the site's CpGs within the region (0 = the region's first CpG). */
  cpgs: number[];
  /** Their positions: bp offset of each CpG's C from the region start. */
  offsets: number[];
  /** Per tissue (in `tissues` order). */
  pUnmethylated: number[];
}

/** Ground truth written to `ground_truth.json`: enough to compute Bayes-optimal read posteriors. */
export interface SynthGroundTruth {
  /** Version of the generator's model ({@link SYNTH_GENERATOR_VERSION}). */
  generator: number;
  tissues: string[];
  groups: Array<{ name: string; tissues: string[] }>;
  regions: CpgRegion[];
  /** Motif of each tissue and each group (8 bp, CpG-free). */
  motifs: Record<string, string>;
  /** sites[g]: the sites of region g; every CpG of the region belongs to exactly one. */
  sites: SynthSite[][];
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
 * Version of the generator's methylation model; a cached data set written by another version (or
 * another config) is regenerated by {@link ensureSyntheticDataset}. 2: motif sites (per-CpG-group
 * tissue patterns); 1 (no field): one methylated/unmethylated read type per region.
 */
export const SYNTH_GENERATOR_VERSION = 2;

/**
 * The synthetic data set in `dir` for `config`, generated when absent or when the cached one was
 * written by another generator version or config (its samples and prepared store are removed
 * first). A folder with a manifest but no ground_truth.json is real data and is never touched.
 * Returns true when it generated.
 */
export function ensureSyntheticDataset(dir: string, config: Partial<SynthConfig> = {}): boolean {
  const cfg = SynthConfigSchema.parse(config);
  if (existsSync(join(dir, 'manifest.csv'))) {
    const truthFile = join(dir, 'ground_truth.json');
    if (!existsSync(truthFile)) return false;
    let cached: { generator?: number; config?: unknown } = {};
    try {
      cached = JSON.parse(readFileSync(truthFile, 'utf8'));
    } catch {
      // unreadable: regenerate
    }
    if (cached.generator === SYNTH_GENERATOR_VERSION && JSON.stringify(cached.config) === JSON.stringify(cfg))
      return false;
    for (const f of ['samples', 'store.h5', 'manifest.csv', truthFile])
      rmSync(join(dir, f), { recursive: true, force: true });
  }
  generateSyntheticDataset(dir, cfg);
  return true;
}

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

/** A random CpG-free motif of `length` bp, distinct from `taken`. */
function randomMotif(rng: Generator, length: number, taken: Set<string>): string {
  for (;;) {
    let m = '';
    while (m.length < length) {
      const b = BASES[rng.int(4)];
      if (b === 'G' && m.endsWith('C')) continue;
      m += b;
    }
    if (!taken.has(m)) {
      taken.add(m);
      return m;
    }
  }
}

interface SiteDraft {
  kind: SynthSite['kind'];
  owner: string | null;
  motif: string | null;
  /** Constitutive sites: methylated (true) or unmethylated everywhere. */
  methylated: boolean;
}

/**
 * A panel region of `length` bp cut into one slot per site: each slot is CpG-poor background with
 * the site's motif near its start and two or three CpGs after it. Returns the sequence and, per
 * slot, the motif offset.
 */
function regionSequence(
  rng: Generator,
  length: number,
  drafts: readonly SiteDraft[],
): { sequence: string; motifOffsets: Array<number | null>; slot: number } {
  const slot = Math.floor(length / drafts.length);
  const seq = randomSequence(rng, length, false).split('');
  const motifOffsets: Array<number | null> = [];
  drafts.forEach((d, k) => {
    const start = k * slot;
    const end = k === drafts.length - 1 ? length : start + slot;
    let at = start + rng.int(3);
    if (d.motif) {
      for (let j = 0; j < d.motif.length && at + j < end; j++) seq[at + j] = d.motif[j];
      motifOffsets.push(at);
      at += d.motif.length + 1;
    } else {
      motifOffsets.push(null);
      at += 2;
    }
    const n = 2 + rng.int(2);
    for (let c = 0; c < n && at + 1 < end - 1; c++) {
      seq[at] = 'C';
      seq[at + 1] = 'G';
      at += 3 + rng.int(4);
    }
  });
  // Stray CGs across a motif boundary are harmless (they join the slot's site), but a motif must
  // stay intact: re-write motifs last.
  drafts.forEach((d, k) => {
    const at = motifOffsets[k];
    if (d.motif && at !== null) for (let j = 0; j < d.motif.length; j++) seq[at + j] = d.motif[j];
  });
  return { sequence: seq.join(''), motifOffsets, slot };
}

/**
 * Writes a synthetic wgbstools-style data set to `dir`:
 * `genome.fa` + `.fai`, `CpG.bed.gz` (CpG index), `regions.bed` (blocks with CpG indices),
 * `samples/<sample>.pat.gz` and `.beta`, `manifest.csv` (sample,tissue,file) and
 * `ground_truth.json`.
 *
 * Methylation model (what makes the task learnable, and how): every tissue and every lineage
 * (group) has a TF motif. A region holds `sitesPerRegion` sites; a site carries one tissue's motif,
 * one group's motif, or none. A site is unmethylated in reads of the tissue whose motif it carries
 * (probability `siteStrength`), partly in that tissue's sister tissues (`sisterLeak`; more in blood,
 * whose cell types stay close as in real atlases), in every tissue of a group for a group motif,
 * and rarely elsewhere (`offTarget`); constitutive sites are methylated or unmethylated everywhere.
 * So a read says which tissue it came from when it covers an unmethylated site — the rule (motif →
 * tissue, unmethylated neighbours) is the same in every region, as TF-driven hypomethylation is.
 */
export function generateSyntheticDataset(dir: string, config: Partial<SynthConfig> = {}): SynthDataset {
  const cfg = SynthConfigSchema.parse(config);
  const rng = new Generator(cfg.seed);
  const genomeRng = rng.fork();
  const methRng = rng.fork();
  const sampleRng = rng.fork();
  mkdirSync(join(dir, 'samples'), { recursive: true });
  const T = SYNTH_TISSUES.length;
  const groupOf = SYNTH_TISSUES.map((t) => SYNTH_TISSUE_GROUPS.findIndex((g) => g.tissues.includes(t)));
  const isBlood = (t: number) => SYNTH_TISSUE_GROUPS[groupOf[t]].name === 'blood';

  // 1. Motifs, and the site layout of every region.
  const taken = new Set<string>();
  const motifs: Record<string, string> = {};
  for (const t of SYNTH_TISSUES) motifs[t] = randomMotif(methRng, 8, taken);
  for (const g of SYNTH_TISSUE_GROUPS) motifs[g.name] = randomMotif(methRng, 8, taken);
  const drafts: SiteDraft[][] = Array.from({ length: cfg.regions }, () => {
    const used = new Set<number>();
    return Array.from({ length: cfg.sitesPerRegion }, (): SiteDraft => {
      const r = methRng.random();
      if (r < cfg.constitutiveSiteRate)
        return { kind: 'constitutive', owner: null, motif: null, methylated: methRng.bernoulli(0.7) };
      if (r < cfg.constitutiveSiteRate + cfg.groupSiteRate) {
        const g = SYNTH_TISSUE_GROUPS[methRng.int(SYNTH_TISSUE_GROUPS.length)].name;
        return { kind: 'group', owner: g, motif: motifs[g], methylated: true };
      }
      let t = methRng.int(T);
      while (used.has(t) && used.size < T) t = methRng.int(T);
      used.add(t);
      return { kind: 'tissue', owner: SYNTH_TISSUES[t], motif: motifs[SYNTH_TISSUES[t]], methylated: true };
    });
  });

  // 2. Genome: regions spread over chromosomes, separated by CpG-poor background.
  const chroms = Array.from({ length: cfg.chromosomes }, (_, i) => `chr${i + 1}`);
  const regionChrom: number[] = [];
  for (let g = 0; g < cfg.regions; g++) regionChrom.push(Math.floor((g * cfg.chromosomes) / cfg.regions));
  const seqs: string[] = [];
  const regionSpans: Array<{ chrom: string; start: number; end: number }> = [];
  const layouts: Array<{ motifOffsets: Array<number | null>; slot: number }> = [];
  for (let c = 0; c < cfg.chromosomes; c++) {
    const parts: string[] = [];
    let len = 0;
    const gap = () =>
      randomSequence(genomeRng, Math.round(genomeRng.uniform(cfg.gap / 2, (3 * cfg.gap) / 2)), false);
    for (let g = 0; g < cfg.regions; g++) {
      if (regionChrom[g] !== c) continue;
      let bg = gap();
      // No CpG may straddle the region's borders (its C and G would be split between region and gap).
      if (bg.endsWith('C')) bg = `${bg.slice(0, -1)}A`;
      parts.push(bg);
      len += bg.length;
      const region = regionSequence(genomeRng, cfg.regionLength, drafts[g]);
      let sequence = region.sequence;
      if (sequence.endsWith('C')) sequence = `${sequence.slice(0, -1)}T`;
      layouts[g] = region;
      parts.push(sequence);
      regionSpans.push({ chrom: chroms[c], start: len, end: len + cfg.regionLength });
      len += sequence.length;
    }
    let tail = gap();
    if (tail.startsWith('G')) tail = `A${tail.slice(1)}`;
    parts.push(tail);
    seqs.push(parts.join(''));
  }
  const genome = join(dir, 'genome.fa');
  writeFasta(
    genome,
    chroms.map((name, i) => ({ name, sequence: seqs[i] })),
  );

  // 3. CpG index (1-based position of each C of a CG), genome-wide numbering from 1.
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

  // 4. Sites: each CpG joins the site of the slot it lies in.
  const sites: SynthSite[][] = regions.map((r, g) => {
    const p = positions.get(r.chrom) as Int32Array;
    const first = firstIndex.get(r.chrom) as number;
    const { motifOffsets, slot } = layouts[g];
    const out: SynthSite[] = drafts[g].map((d, k) => {
      const pU = SYNTH_TISSUES.map((_, t) => {
        if (d.kind === 'constitutive') return d.methylated ? cfg.offTarget : 1 - cfg.offTarget;
        if (d.kind === 'group')
          return SYNTH_TISSUE_GROUPS[groupOf[t]].name === d.owner ? cfg.siteStrength : cfg.offTarget;
        const owner = SYNTH_TISSUES.indexOf(d.owner as string);
        if (t === owner) return isBlood(t) ? cfg.bloodSiteStrength : cfg.siteStrength;
        if (groupOf[t] === groupOf[owner]) return isBlood(t) ? cfg.bloodSisterLeak : cfg.sisterLeak;
        return cfg.offTarget;
      });
      return {
        kind: d.kind,
        owner: d.owner,
        motif: d.motif,
        motifOffset: motifOffsets[k],
        cpgs: [],
        offsets: [],
        pUnmethylated: pU,
      };
    });
    for (let j = 0; j < r.endCpg - r.startCpg; j++) {
      const offset = p[r.startCpg + j - first] - 1 - r.start;
      const site = out[Math.min(out.length - 1, Math.floor(offset / slot))];
      site.cpgs.push(j);
      site.offsets.push(offset);
    }
    return out;
  });

  // 5. Samples.
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
  const logit = (p: number) => Math.log(p / (1 - p));
  for (let s = 0; s < labels.length; s++) {
    const t = labels[s];
    const name = `S${String(s + 1).padStart(3, '0')}_${SYNTH_TISSUES[t]}_${++seen[t]}`;
    const coverage =
      cfg.meanCoverage * Math.exp(sampleRng.normal(0, cfg.coverageSigma) - cfg.coverageSigma ** 2 / 2);
    const records = new Map<string, PatRecord>();
    let reads = 0;
    for (let g = 0; g < regions.length; g++) {
      const r = regions[g];
      const nCpg = r.endCpg - r.startCpg;
      if (nCpg === 0) continue;
      const p = positions.get(r.chrom) as Int32Array;
      const first = firstIndex.get(r.chrom) as number;
      const siteOf = new Int32Array(nCpg);
      sites[g].forEach((site, k) => {
        for (const j of site.cpgs) siteOf[j] = k;
      });
      // The sample's own state probabilities: the tissue's, jittered (biological variability).
      const pU = sites[g].map((site) => {
        const q = Math.min(Math.max(site.pUnmethylated[t], 1e-6), 1 - 1e-6);
        return cfg.sampleJitter > 0 ? logistic(logit(q) + sampleRng.normal(0, cfg.sampleJitter)) : q;
      });
      const nReads = poisson(sampleRng, coverage);
      for (let k = 0; k < nReads; k++) {
        // A fragment of about the region's length, shifted by up to 40% of it: it covers the
        // CpGs of the overlap (at least one).
        const shift = Math.round(sampleRng.uniform(-0.4, 0.4) * cfg.regionLength);
        const lo = Math.max(0, shift);
        const hi = Math.min(cfg.regionLength, cfg.regionLength + shift);
        let a = 0;
        while (a < nCpg && p[r.startCpg + a - first] - 1 - r.start < lo) a++;
        let b = a;
        while (b < nCpg && p[r.startCpg + b - first] - r.start < hi) b++; // C and G inside the fragment
        if (b === a) {
          a = Math.min(a, nCpg - 1);
          b = a + 1;
        }
        const state = sites[g].map((_, j) => sampleRng.bernoulli(pU[j])); // true = unmethylated
        let pattern = '';
        for (let j = a; j < b; j++) {
          if (sampleRng.bernoulli(cfg.missingRate)) pattern += '.';
          else {
            const agree = sampleRng.bernoulli(cfg.readFidelity);
            pattern += state[siteOf[j]] === agree ? 'T' : 'C';
          }
        }
        const key = `${r.chrom}\t${r.startCpg + a}\t${pattern}`;
        const rec = records.get(key);
        if (rec) rec.count++;
        else records.set(key, { chrom: r.chrom, startCpg: r.startCpg + a, pattern, count: 1 });
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
    generator: SYNTH_GENERATOR_VERSION,
    tissues: SYNTH_TISSUES,
    groups: SYNTH_TISSUE_GROUPS,
    regions,
    motifs,
    sites,
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
 * approximation for small jitter). `pattern` covers consecutive CpGs of region `region`, the
 * first of them at index `offset` within the region (a pat record's startCpg − region.startCpg).
 */
export function bayesReadPosterior(
  truth: SynthGroundTruth,
  region: number,
  pattern: string,
  offset: number,
  prior?: ArrayLike<number>,
): Float64Array {
  const sites = truth.sites[region];
  if (!sites) throw new TissueBertArgumentError('region', `no region ${region} in the ground truth`);
  const siteOf = new Map<number, number>();
  sites.forEach((s, k) => {
    for (const j of s.cpgs) siteOf.set(j, k);
  });
  const calls: Array<{ site: number; methylated: boolean }> = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch !== 'C' && ch !== 'T') continue;
    const k = siteOf.get(offset + i);
    if (k === undefined)
      throw new TissueBertArgumentError('offset', `CpG ${offset + i} is outside region ${region}`);
    calls.push({ site: k, methylated: ch === 'C' });
  }
  return sitePosterior(truth, region, calls, prior);
}

/**
 * The same posterior from a prepared example: `methylation` holds the token states (0
 * unmethylated, 1 methylated, 2 none), token i covering window position i + 1; `windowStart` is
 * the window's first base on the chromosome. Calls at positions that are not CpGs of the region
 * are ignored.
 */
export function bayesExamplePosterior(
  truth: SynthGroundTruth,
  region: number,
  methylation: ArrayLike<number>,
  windowStart: number,
  prior?: ArrayLike<number>,
): Float64Array {
  const sites = truth.sites[region];
  const r = truth.regions[region];
  if (!sites || !r) throw new TissueBertArgumentError('region', `no region ${region} in the ground truth`);
  const siteAt = new Map<number, number>();
  sites.forEach((s, k) => {
    for (const o of s.offsets) siteAt.set(o, k);
  });
  const calls: Array<{ site: number; methylated: boolean }> = [];
  for (let i = 0; i < methylation.length; i++) {
    const st = methylation[i];
    if (st !== 0 && st !== 1) continue;
    const k = siteAt.get(windowStart + i + 1 - r.start);
    if (k !== undefined) calls.push({ site: k, methylated: st === 1 });
  }
  return sitePosterior(truth, region, calls, prior);
}

function sitePosterior(
  truth: SynthGroundTruth,
  region: number,
  calls: ReadonlyArray<{ site: number; methylated: boolean }>,
  prior?: ArrayLike<number>,
): Float64Array {
  const T = truth.tissues.length;
  const sites = truth.sites[region];
  // Per site: log-likelihood of its calls given the unmethylated (lu) or methylated (lm) state.
  const lu = new Float64Array(sites.length);
  const lm = new Float64Array(sites.length);
  const touched = new Uint8Array(sites.length);
  const f = truth.readFidelity;
  for (const c of calls) {
    touched[c.site] = 1;
    lu[c.site] += Math.log(c.methylated ? 1 - f : f);
    lm[c.site] += Math.log(c.methylated ? f : 1 - f);
  }
  const out = new Float64Array(T);
  let max = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < T; t++) {
    let ll = Math.log(prior ? prior[t] : 1 / T);
    for (let k = 0; k < sites.length; k++) {
      if (!touched[k]) continue;
      const q = sites[k].pUnmethylated[t];
      const a = Math.log(Math.max(q, 1e-300)) + lu[k];
      const b = Math.log(Math.max(1 - q, 1e-300)) + lm[k];
      const hi = Math.max(a, b);
      ll += hi + Math.log(Math.exp(a - hi) + Math.exp(b - hi));
    }
    out[t] = ll;
    max = Math.max(max, ll);
  }
  let s = 0;
  for (let t = 0; t < T; t++) {
    out[t] = Math.exp(out[t] - max);
    s += out[t];
  }
  for (let t = 0; t < T; t++) out[t] /= s;
  return out;
}
