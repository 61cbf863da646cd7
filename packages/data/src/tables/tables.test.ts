import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  balanceReport,
  foldIndices,
  groupRatioSplit,
  ManifestError,
  parseManifest,
  readManifest,
  SplitError,
  stratifiedGroupKFold,
} from './index';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'tables');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-tables-'));

const rowSchema = z.object({
  image: z.string().endsWith('.dcm'),
  patient: z.string().regex(/^P\d{3}$/),
  label: z.coerce.number().int().min(0).max(1),
  site: z.string(),
  age: z.coerce.number().int().positive(),
  note: z.string().optional(),
});
type Row = z.infer<typeof rowSchema>;

const reference = JSON.parse(readFileSync(join(fixtures, 'sgkf_reference.json'), 'utf8')) as {
  k: number;
  cases: Record<string, number[]>;
};

describe('manifests', () => {
  it('reads a quoted CSV (commas, doubled quotes, embedded newline) into typed rows', async () => {
    const rows = await readManifest(join(fixtures, 'manifest.csv'), rowSchema);
    expect(rows).toHaveLength(94);
    expect(rows[0]).toEqual({
      image: 'images/P000_0.dcm',
      patient: 'P000',
      label: 1,
      site: 'site, C',
      age: 61,
      note: undefined,
    });
    expect(rows.find((r) => r.site.includes('"'))?.site).toBe('site "B"');
    expect(rows.find((r) => r.note)?.note).toBe('multi\nline');
  });

  it('TSV and JSONL read the same rows', () => {
    const schema = z.object({ patient: z.string(), label: z.coerce.number() });
    const tsv = parseManifest('patient\tlabel\nP1\t0\nP2\t1\n', schema, { format: 'tsv' });
    const jsonl = parseManifest('{"patient":"P1","label":0}\n{"patient":"P2","label":1}\n', schema, {
      format: 'jsonl',
    });
    expect(tsv).toEqual([
      { patient: 'P1', label: 0 },
      { patient: 'P2', label: 1 },
    ]);
    expect(jsonl).toEqual(tsv);
  });

  it('reports every bad row with row, line and field', () => {
    const text = 'image,patient,label,site,age\na.dcm,P001,1,s,40\nb.png,P002,1,s,41\nc.dcm,X,2,s,-3\n';
    const err = (() => {
      try {
        parseManifest(text, rowSchema, { source: 'train.csv' });
      } catch (e) {
        return e;
      }
    })() as ManifestError;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.meddl).toBe(true);
    expect(err.issues.map((i) => [i.row, i.line, i.field])).toEqual([
      [2, 3, 'image'],
      [3, 4, 'patient'],
      [3, 4, 'label'],
      [3, 4, 'age'],
    ]);
    expect(err.message).toMatch(/^train\.csv: 4 invalid value\(s\):\n {2}row 2 \(line 3\), field "image"/);
  });

  it('malformed CSV and JSONL name the file and line', async () => {
    expect(() => parseManifest('a,b\n1,"2\n', z.object({}), { source: 'x.csv' })).toThrow(
      /x\.csv: line \d+: malformed CSV/,
    );
    expect(() => parseManifest('a,b\n1,2,3\n', z.object({}), { source: 'x.csv' })).toThrow(
      /x\.csv: line 2: malformed CSV/,
    );
    expect(() => parseManifest('a,a\n1,2\n', z.object({}), { source: 'x.csv' })).toThrow(
      /duplicate column "a"/,
    );
    const path = join(tmp, 'rows.jsonl');
    writeFileSync(path, '{"patient":"P001","score":0.5}\n\n{"patient":"P002","score":"high"}\n{oops\n');
    const schema = z.object({ patient: z.string(), score: z.number() });
    await expect(readManifest(path, schema)).rejects.toThrow(/rows\.jsonl: line 4: invalid JSON/);
    writeFileSync(path, '{"patient":"P001","score":0.5}\n\n{"patient":"P002","score":"high"}\n');
    await expect(readManifest(path, schema)).rejects.toThrow(
      /rows\.jsonl: 1 invalid value\(s\):\n {2}row 2 \(line 3\), field "score"/,
    );
    await expect(readManifest(join(tmp, 'missing.csv'), schema)).rejects.toThrow(ManifestError);
  });
});

describe('patient-level splits', () => {
  const rows = parseManifest(readFileSync(join(fixtures, 'manifest.csv'), 'utf8'), rowSchema);

  it('stratifiedGroupKFold without shuffling equals scikit-learn StratifiedGroupKFold(shuffle=False)', () => {
    expect(stratifiedGroupKFold(rows, { k: 4, group: 'patient', stratify: 'label' })).toEqual(
      reference.cases.label,
    );
    expect(stratifiedGroupKFold(rows, { k: 4, group: 'patient', stratify: ['label', 'site'] })).toEqual(
      reference.cases['label+site'],
    );
  });

  it('seeded shuffling is reproducible, keeps patients whole and classes balanced', () => {
    const a = stratifiedGroupKFold(rows, {
      k: 4,
      group: 'patient',
      stratify: 'label',
      generator: new Generator(3),
    });
    const b = stratifiedGroupKFold(rows, {
      k: 4,
      group: 'patient',
      stratify: 'label',
      generator: new Generator(3),
    });
    const c = stratifiedGroupKFold(rows, {
      k: 4,
      group: 'patient',
      stratify: 'label',
      generator: new Generator(4),
    });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const report = balanceReport(rows, a, { group: 'patient', classes: 'label', site: 'site' });
    expect(report.leakedGroups).toEqual([]);
    const positives = rows.filter((r) => r.label === 1).length / rows.length;
    for (const f of ['0', '1', '2', '3']) {
      const s = report.splits[f];
      expect(s?.rows).toBeGreaterThan(15);
      expect(Math.abs((s?.classFractions['1'] ?? 0) - positives)).toBeLessThan(0.12);
    }
    const idx = foldIndices(a, 4);
    expect(idx.map((f) => f.test.length + f.train.length)).toEqual([94, 94, 94, 94]);
    const patientsIn = (ids: number[]) => new Set(ids.map((i) => rows[i]?.patient));
    for (const f of idx) {
      const test = patientsIn(f.test);
      for (const p of patientsIn(f.train)) expect(test.has(p)).toBe(false);
    }
  });

  it('groupRatioSplit: ratios met at patient level, reproducible, report counts', () => {
    const ratios = { train: 0.7, val: 0.15, test: 0.15 };
    const split = groupRatioSplit(rows, {
      ratios,
      group: 'patient',
      stratify: 'label',
      generator: new Generator(9),
    });
    expect(
      groupRatioSplit(rows, { ratios, group: 'patient', stratify: 'label', generator: new Generator(9) }),
    ).toEqual(split);
    const report = balanceReport<Row>(rows, split, { group: 'patient', classes: 'label', site: 'site' });
    expect(report.leakedGroups).toEqual([]);
    for (const [name, r] of Object.entries(ratios)) {
      // Whole patients of 1–4 images: within 5 rows of the target.
      expect(Math.abs((report.splits[name]?.rows ?? 0) - r * rows.length)).toBeLessThanOrEqual(5);
    }
    const total = Object.values(report.splits).reduce((n, s) => n + s.rows, 0);
    expect(total).toBe(94);
    const sites = Object.values(report.splits).reduce(
      (n, s) => n + Object.values(s.siteCounts).reduce((a, b) => a + b, 0),
      0,
    );
    expect(sites).toBe(94);
    expect(report.splits.train?.classCounts['0'] ?? 0).toBeGreaterThan(0);
  });

  it('balanceReport finds leaked patients; impossible requests throw SplitError', () => {
    const leaky = rows.map((_, i) => (i % 2 ? 'a' : 'b'));
    expect(
      balanceReport(rows, leaky, { group: 'patient', classes: 'label' }).leakedGroups.length,
    ).toBeGreaterThan(0);
    expect(() => stratifiedGroupKFold(rows.slice(0, 3), { k: 4, group: 'patient' })).toThrow(
      /cannot make 4 folds from \d groups/,
    );
    expect(() => stratifiedGroupKFold(rows, { k: 1, group: 'patient' })).toThrow(SplitError);
    expect(() => groupRatioSplit(rows, { ratios: { train: 0.8, test: 0.3 }, group: 'patient' })).toThrow(
      /sum to 1/,
    );
    expect(() => stratifiedGroupKFold(rows, { k: 2, group: 'nope' as 'patient' })).toThrow(
      /no value for column "nope"/,
    );
  });
});
