import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { evalArtifact, parseEvalArtifact, readEvalArtifact, writeEvalArtifact } from './artifact';
import { EvalArtifactError } from './errors';
import { classificationSection, confusionSection, headline } from './sections';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'meddl-eval-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 1];
const p = y.map((c, i) => [0, 1, 2].map((k) => (k === c ? 0.6 : 0.2) + (i % 3 === k ? 0.05 : 0)));

function valid() {
  return evalArtifact({
    model: 'tissuebert',
    split: 'val',
    headline: [headline('macro_auroc', 0.9)],
    sections: [classificationSection(y, p, ['a', 'b', 'c']), confusionSection(y, p, ['a', 'b', 'c'])],
  });
}

function errorOf(f: () => unknown): EvalArtifactError {
  try {
    f();
  } catch (e) {
    if (e instanceof EvalArtifactError) return e;
    throw e;
  }
  throw new Error('expected an EvalArtifactError');
}

describe('eval.json contract', () => {
  it('round-trips through writeEvalArtifact / readEvalArtifact', () => {
    const dir = tmp();
    const a = valid();
    const file = writeEvalArtifact(dir, a);
    expect(file).toBe(join(dir, 'eval.json'));
    expect(readEvalArtifact(dir)).toEqual(a);
    // Atomic write: no temp file left behind.
    expect(readdirSync(dir)).toEqual(['eval.json']);
  });

  it('returns null for a run without eval.json', () => {
    expect(readEvalArtifact(tmp())).toBeNull();
  });

  it('writes non-finite numbers as null (an undefined metric), which the schema accepts', () => {
    const dir = tmp();
    writeEvalArtifact(dir, { model: 'm', split: 'test', headline: [headline('kappa', Number.NaN)] });
    const raw = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    expect(raw.headline[0].value).toBeNull();
    expect(readEvalArtifact(dir)?.headline[0].value).toBeNull();
  });

  it('names the file and the field of a bad section', () => {
    const dir = tmp();
    const a = valid() as unknown as { sections: Array<{ perClass: Array<{ roc: { y: number[] } }> }> };
    a.sections[0].perClass[1].roc.y.pop();
    writeFileSync(join(dir, 'eval.json'), JSON.stringify(a));
    const e = errorOf(() => readEvalArtifact(dir));
    expect(e.meddl).toBe(true);
    expect(e.file).toBe(join(dir, 'eval.json'));
    expect(e.field).toBe('sections[0].perClass[1].roc.y');
    expect(e.message).toContain(join(dir, 'eval.json'));
    expect(e.message).toContain('sections[0].perClass[1].roc.y');
  });

  it('rejects an unknown section type, naming the field', () => {
    const a = { ...valid(), sections: [{ type: 'pie-chart' }] };
    expect(errorOf(() => parseEvalArtifact(a, 'x/eval.json')).field).toBe('sections[0].type');
  });

  it('rejects a wrong version and a non-square confusion matrix', () => {
    expect(errorOf(() => parseEvalArtifact({ ...valid(), version: 2 }, 'e.json')).field).toBe('version');
    const a = valid();
    const cm = a.sections[1] as { counts: number[][] };
    cm.counts[2] = [1, 2];
    expect(errorOf(() => parseEvalArtifact(a, 'e.json')).field).toBe('sections[1].counts[2]');
  });

  it('rejects gallery paths that leave the run directory', () => {
    for (const path of ['../secret.png', '/etc/passwd.png', 'a/../../b.png']) {
      const a = { ...valid(), sections: [{ type: 'gallery', images: [{ path }] }] };
      expect(errorOf(() => parseEvalArtifact(a, 'e.json')).field).toBe('sections[0].images[0].path');
    }
  });

  it('reports invalid JSON with the file name', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'eval.json'), '{"format": "meddl-eval",');
    const e = errorOf(() => readEvalArtifact(dir));
    expect(e.field).toBe('');
    expect(e.message).toMatch(/eval\.json: not valid JSON/);
  });

  it('refuses to write an invalid artifact and leaves the old file intact', () => {
    const dir = tmp();
    writeEvalArtifact(dir, valid());
    const before = readFileSync(join(dir, 'eval.json'), 'utf8');
    const bad = valid();
    (bad.headline[0] as { key: string }).key = '';
    expect(() => writeEvalArtifact(dir, bad)).toThrow(EvalArtifactError);
    expect(readFileSync(join(dir, 'eval.json'), 'utf8')).toBe(before);
    expect(existsSync(join(dir, 'eval.json'))).toBe(true);
  });
});
