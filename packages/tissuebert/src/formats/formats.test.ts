import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TissueBertDataError } from '../errors';
import { parseNumericTable, readNumericTable } from './atlas';
import { parseBlocksBed, readBlocksBed, readUxmMarkers } from './bed';
import { readBeta, writeBeta } from './beta';
import { BGZF_EOF, bgzfBlocks, bgzfCompress } from './bgzf';
import { IndexedFasta, indexFasta, parseFai, writeFasta } from './fasta';
import { parsePat, patSummary, patToBeta, readPat, writePatGz } from './pat';

const data = resolve(__dirname, '../../../../../shared/data');
const tmp = () => mkdtempSync(join(tmpdir(), 'tissuebert-'));

describe('wgbstools .pat.gz', () => {
  it('reads the real UXM tutorial pat files (line and read counts from the data README)', () => {
    const lung = readPat(join(data, 'uxm/Lung_STL001.pat.gz'));
    expect(patSummary(lung)).toMatchObject({ lines: 20966, reads: 85882 });
    expect(lung[0]).toEqual({ chrom: 'chr1', startCpg: 11593, pattern: 'CCC', count: 1 });
    const liver = readPat(join(data, 'uxm/Liver_STL011.pat.gz'));
    expect(patSummary(liver)).toMatchObject({ lines: 32984, reads: 225372 });
    // '.' (uncalled CpG inside a read) occurs in the real file.
    expect(lung.some((r) => r.pattern.includes('.'))).toBe(true);
  });

  it('the real files are BGZF, and our writer produces the same framing (BC field, EOF block)', () => {
    const real = readFileSync(join(data, 'uxm/Lung_STL001.pat.gz'));
    const blocks = bgzfBlocks(real, 'Lung_STL001.pat.gz');
    expect(blocks.length).toBeGreaterThan(1);
    expect(real.subarray(real.length - 28).equals(BGZF_EOF)).toBe(true);
    const dir = tmp();
    const recs = readPat(join(data, 'uxm/Lung_STL001.pat.gz'));
    const out = join(dir, 'copy.pat.gz');
    writePatGz(out, recs);
    const bytes = readFileSync(out);
    const ours = bgzfBlocks(bytes, out);
    expect(ours.length).toBeGreaterThan(2); // > 64 KiB of text → several blocks
    for (const b of ours) expect(b.size).toBeLessThanOrEqual(65536);
    expect(ours[ours.length - 1].uncompressedSize).toBe(0);
    expect(gunzipSync(bytes).toString()).toBe(gunzipSync(real).toString());
    expect(readPat(out)).toEqual(recs);
  });

  it('BGZF handles incompressible data within the block limit', () => {
    const noise = Buffer.alloc(200_000);
    let x = 12345;
    for (let i = 0; i < noise.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      noise[i] = x >>> 24;
    }
    const z = bgzfCompress(noise);
    for (const b of bgzfBlocks(z)) expect(b.size).toBeLessThanOrEqual(65536);
    expect(gunzipSync(z).equals(noise)).toBe(true);
  });

  it('names file and line on malformed input', () => {
    expect(() => parsePat('chr1\t5\tCCT\t1\nchr1\t6\tCQ\t1\n', 'bad.pat')).toThrow(
      /bad\.pat:2: unexpected pattern character 'Q'/,
    );
    expect(() => parsePat('chr1\tx\tC\t1\n', 'bad.pat')).toThrow(TissueBertDataError);
    expect(() => parsePat('chr1\t1\tC\n', 'bad.pat')).toThrow(/bad\.pat:1: expected 4/);
  });

  it('collapses to per-CpG counts', () => {
    const recs = parsePat('chr1\t2\tCT.\t3\nchr1\t3\tC\t1\n');
    const b = patToBeta(recs, 5);
    expect(Array.from(b.methylated)).toEqual([0, 3, 1, 0, 0]);
    expect(Array.from(b.covered)).toEqual([0, 3, 4, 0, 0]);
  });
});

describe('.beta / .lbeta', () => {
  it('round-trips uint8 and uint16 files and scales counts above 255 in .beta', () => {
    const dir = tmp();
    writeBeta(join(dir, 'a.beta'), [0, 3, 300], [1, 4, 600]);
    expect(readFileSync(join(dir, 'a.beta')).length).toBe(6);
    const a = readBeta(join(dir, 'a.beta'));
    expect(Array.from(a.methylated)).toEqual([0, 3, 128]);
    expect(Array.from(a.covered)).toEqual([1, 4, 255]);
    writeBeta(join(dir, 'a.lbeta'), [0, 3, 300], [1, 4, 600]);
    const l = readBeta(join(dir, 'a.lbeta'));
    expect(Array.from(l.methylated)).toEqual([0, 3, 300]);
    expect(Array.from(l.covered)).toEqual([1, 4, 600]);
    expect(() => readBeta(join(dir, 'a.beta'), 4)).toThrow(/has 3 CpG sites, the genome has 4/);
    writeFileSync(join(dir, 'bad.beta'), Buffer.from([5, 2]));
    expect(() => readBeta(join(dir, 'bad.beta'))).toThrow(/methylated count 5 exceeds covered 2/);
  });
});

describe('BED and atlas tables', () => {
  it('reads the real wgbstools blocks BED', () => {
    const r = readBlocksBed(join(data, 'wgbs_tools/chr19_100k_500k.blocks.bed'));
    expect(r).toHaveLength(475);
    expect(r[0]).toEqual({
      chrom: 'chr19',
      start: 101311,
      end: 101338,
      startCpg: 24877223,
      endCpg: 24877225,
    });
    expect(r[r.length - 1].endCpg).toBe(24887003);
    expect(() => parseBlocksBed('chr1\t10\t5\t1\t2\n', 'x.bed')).toThrow(/x\.bed:1: end 5 < start 10/);
  });

  it('reads the UXM atlas TSV and the headerless marker BED', () => {
    const atlas = readUxmMarkers(join(data, 'uxm/Atlas.U25.l4.hg19.tsv'));
    expect(atlas.markers).toHaveLength(900);
    expect(atlas.cellTypes).toHaveLength(36);
    expect(atlas.cellTypes[0]).toBe('Adipocytes');
    const nan = atlas.markers.reduce((a, m) => a + m.values.filter(Number.isNaN).length, 0);
    expect(nan).toBe(1077);
    expect(atlas.markers[0]).toMatchObject({
      chrom: 'chr1',
      start: 910433,
      startCpg: 11594,
      endCpg: 11600,
      target: 'Skeletal-Musc',
      direction: 'U',
    });
    const bed = readUxmMarkers(join(data, 'uxm/Markers.U25.bed'));
    expect(bed.markers).toHaveLength(953);
    expect(bed.cellTypes).toHaveLength(39);
  });

  it('reads the meth_atlas reference atlas with its repeated ids', () => {
    const t = readNumericTable(join(data, 'meth_atlas/reference_atlas.csv'));
    expect(t.rowIds).toHaveLength(7890);
    expect(new Set(t.rowIds).size).toBe(6105);
    expect(t.columns).toHaveLength(25);
    expect(t.values[0]).toBeCloseTo(0.8866, 10);
    expect(() => parseNumericTable('id,a\ncg1,0.5,3\n', 'm.csv')).toThrow(
      /m\.csv:2: expected 2 fields, got 3/,
    );
  });
});

describe('FASTA with .fai', () => {
  it('writes a samtools-style index and fetches regions across line breaks', () => {
    const dir = tmp();
    const chr1 = 'ACGTTGCANNACGT'.repeat(20);
    const chr2 = 'GGGCCCAT'.repeat(9);
    const file = join(dir, 'g.fa');
    writeFasta(
      file,
      [
        { name: 'chr1', sequence: chr1 },
        { name: 'chr2', sequence: chr2 },
      ],
      50,
    );
    const fai = parseFai(readFileSync(`${file}.fai`, 'utf8'));
    expect(fai[0]).toEqual({ name: 'chr1', length: 280, offset: 6, lineBases: 50, lineWidth: 51 });
    expect(fai[1].offset).toBe(6 + 280 + 6 + 6);
    const fa = new IndexedFasta(file);
    for (const [s, e] of [
      [0, 1],
      [45, 55],
      [49, 51],
      [0, 280],
      [199, 280],
    ])
      expect(fa.fetch('chr1', s, e)).toBe(chr1.slice(s, e));
    expect(fa.fetch('chr2', 3, 70)).toBe(chr2.slice(3, 70));
    expect(() => fa.fetch('chr2', 0, 73)).toThrow(/outside 0\.\.72/);
    expect(() => fa.fetch('chrX', 0, 1)).toThrow(/no sequence named 'chrX'/);
    fa.close();
    // Differing inner line lengths are rejected, as by samtools.
    expect(() => indexFasta(Buffer.from('>a\nACG\nAC\nACG\n'), 'bad.fa')).toThrow(/bad\.fa:4/);
  });
});
