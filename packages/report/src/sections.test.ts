import { SeededRandom } from '@meddl/metrics';
import { describe, expect, it } from 'vitest';
import { ReportArgumentError } from './errors';
import {
  ablationSection,
  binaryCalibrationSection,
  calibrationSection,
  classificationSection,
  confusionSection,
  embeddingHealth,
  multilabelClassificationSection,
  scatterSection,
  subgroupAurocSection,
  survivalSection,
  thinCurve,
} from './sections';

/** Independent AUROC: fraction of (positive, negative) pairs ranked correctly, ties half. */
function bruteAuroc(y: number[], s: number[]): number {
  let num = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++)
    for (let j = 0; j < y.length; j++)
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
  return num / pairs;
}

function normal(r: SeededRandom): number {
  return Math.sqrt(-2 * Math.log(1 - r.nextFloat())) * Math.cos(2 * Math.PI * r.nextFloat());
}

function multiclass(seed: number, n: number, K: number, scale: number) {
  const r = new SeededRandom(seed);
  const y: number[] = [];
  const logits: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = r.nextInt(K);
    y.push(c);
    logits.push(Array.from({ length: K }, (_, k) => scale * ((k === c ? 1.2 : 0) + normal(r))));
  }
  const probs = logits.map((row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  return { y, logits, probs };
}

describe('classificationSection', () => {
  const { y, probs } = multiclass(5, 120, 3, 1);
  const s = classificationSection(y, probs, ['a', 'b', 'c']);

  it('per-class one-vs-rest AUROC matches brute-force pair counting, with a DeLong CI around it', () => {
    expect(s.perClass).toHaveLength(3);
    s.perClass.forEach((c, k) => {
      const yk = y.map((v) => (v === k ? 1 : 0));
      expect(c.auroc.value).toBeCloseTo(
        bruteAuroc(
          yk,
          probs.map((p) => p[k]),
        ),
        12,
      );
      expect(c.positives).toBe(yk.reduce((a: number, b) => a + b, 0));
      expect(c.auroc.lower!).toBeLessThan(c.auroc.value!);
      expect(c.auroc.upper!).toBeGreaterThan(c.auroc.value!);
      expect(c.auroc.method).toBe('DeLong');
      // ROC runs from (0, 0) to (1, 1); PR ends at recall 0, precision 1.
      expect([c.roc.x[0], c.roc.y[0]]).toEqual([0, 0]);
      expect([c.roc.x.at(-1), c.roc.y.at(-1)]).toEqual([1, 1]);
      expect([c.pr.x.at(-1), c.pr.y.at(-1)]).toEqual([0, 1]);
    });
    const macro = s.perClass.reduce((a, c) => a + (c.auroc.value ?? 0), 0) / 3;
    expect(s.macroAuroc?.value).toBeCloseTo(macro, 12);
    const pred = probs.map((p) => p.indexOf(Math.max(...p)));
    expect(s.accuracy).toBeCloseTo(pred.filter((p, i) => p === y[i]).length / y.length, 12);
  });

  it('a binary task given P(y = 1) reports the positive class only', () => {
    const yb = y.map((v) => (v === 0 ? 1 : 0));
    const p1 = probs.map((p) => p[0]);
    const b = classificationSection(yb, p1, ['rest', 'a']);
    expect(b.perClass.map((c) => c.className)).toEqual(['a']);
    expect(b.perClass[0].auroc.value).toBeCloseTo(bruteAuroc(yb, p1), 12);
    expect(b.macroAuroc).toEqual(b.perClass[0].auroc);
  });

  it('a class without positives gets a null AUROC with the reason, not a number', () => {
    const y2 = y.map((v) => (v === 2 ? 0 : v));
    const c = classificationSection(y2, probs, ['a', 'b', 'c']);
    expect(c.perClass[2].auroc.value).toBeNull();
    expect(c.perClass[2].auroc.reason).toBeTruthy();
    expect(c.perClass[2].roc.x).toEqual([]);
  });

  it('rejects shape mismatches with a typed error naming the argument', () => {
    expect(() => classificationSection(y, probs, ['a', 'b'])).toThrow(ReportArgumentError);
    expect(() => classificationSection(y.slice(1), probs, ['a', 'b', 'c'])).toThrow(/probs/);
  });

  it('thinCurve keeps the endpoints and at most max points', () => {
    const x = Array.from({ length: 1001 }, (_, i) => i / 1000);
    const t = thinCurve(x, x, 50);
    expect(t.x).toHaveLength(50);
    expect([t.x[0], t.x.at(-1)]).toEqual([0, 1]);
  });
});

describe('multilabelClassificationSection', () => {
  it('per-label AUROC matches brute force; mean over labels with both classes; a one-class label is n/a', () => {
    const r = new SeededRandom(21);
    const Y: number[][] = [];
    const S: number[][] = [];
    for (let i = 0; i < 80; i++) {
      const row = [r.nextFloat() < 0.3 ? 1 : 0, r.nextFloat() < 0.5 ? 1 : 0, 0];
      Y.push(row);
      S.push(row.map((v) => v + normal(r)));
    }
    const m = multilabelClassificationSection(Y, S, ['effusion', 'edema', 'fracture']);
    const a0 = bruteAuroc(
      Y.map((y) => y[0]),
      S.map((s) => s[0]),
    );
    const a1 = bruteAuroc(
      Y.map((y) => y[1]),
      S.map((s) => s[1]),
    );
    expect(m.perClass[0].auroc.value).toBeCloseTo(a0, 12);
    expect(m.perClass[1].auroc.value).toBeCloseTo(a1, 12);
    expect(m.perClass[2].auroc.value).toBeNull();
    expect(m.macroAuroc?.value).toBeCloseTo((a0 + a1) / 2, 12);
    expect(m.accuracy).toBeUndefined();
    expect(m.task).toBe('multilabel');
    expect(() => multilabelClassificationSection([[2, 0, 0]], [[0, 0, 0]], ['a', 'b', 'c'])).toThrow(
      /expected 0 or 1/,
    );
  });
});

describe('confusion and calibration', () => {
  it('confusion counts match a direct tally', () => {
    const { y, probs } = multiclass(9, 60, 4, 1);
    const c = confusionSection(y, probs, ['a', 'b', 'c', 'd']);
    const tally = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    y.forEach((t, i) => {
      tally[t][probs[i].indexOf(Math.max(...probs[i]))]++;
    });
    expect(c.counts).toEqual(tally);
  });

  it('temperature scaling of overconfident logits lowers NLL and ECE; T > 1', () => {
    const { y, logits } = multiclass(3, 400, 4, 3);
    const c = calibrationSection(y, logits, { bins: 10 });
    expect(c.temperature!).toBeGreaterThan(1.5);
    expect(c.nllAfter!).toBeLessThan(c.nllBefore!);
    expect(c.after!.ece).toBeLessThan(c.before.ece);
    expect(c.before.counts.reduce((a, b) => a + b, 0)).toBe(400);
    expect(c.before.binEdges).toHaveLength(11);
    expect(c.fittedOn).toMatch(/optimistic/);
    // A temperature fitted elsewhere is applied as given.
    expect(calibrationSection(y, logits, { temperature: 2, fittedOn: 'val' }).temperature).toBe(2);
  });
});

describe('binary calibration', () => {
  it('Platt scaling of overconfident probabilities lowers NLL and ECE and says where it was fitted', () => {
    const r = new SeededRandom(12);
    const y: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < 400; i++) {
      const z = 2 * normal(r);
      const lab = r.nextFloat() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
      y.push(lab);
      p.push(1 / (1 + Math.exp(-3 * z)));
    }
    const c = binaryCalibrationSection(y, p, { bins: 10, platt: true });
    expect(c.mode).toBe('binary');
    expect(c.method).toBe('Platt scaling');
    expect(c.nllAfter!).toBeLessThan(c.nllBefore!);
    expect(c.after!.ece).toBeLessThan(c.before.ece);
    expect(c.fittedOn).toMatch(/optimistic/);
    const given = binaryCalibrationSection(y, p, { probsAfter: p, method: 'none', fittedOn: 'val' });
    expect(given.after).toEqual(given.before);
  });
});

describe('subgroups, survival, scatter, ablation', () => {
  it('subgroup forest rows: All first, sizes add up, a one-class subgroup is n/a', () => {
    const y = [1, 0, 1, 0, 1, 0, 1, 1, 1, 1];
    const s = [0.9, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.5, 0.4, 0.95];
    const g = ['x', 'x', 'x', 'x', 'x', 'x', 'z', 'z', 'z', 'z'];
    const f = subgroupAurocSection(y, s, g);
    expect(f.rows.map((r) => r.label)).toEqual(['All', 'x', 'z']);
    expect(f.rows[0].n).toBe(10);
    expect(f.rows[1].n! + f.rows[2].n!).toBe(10);
    expect(f.rows[0].value).toBeCloseTo(bruteAuroc(y, s), 12);
    expect(f.reference).toBe(f.rows[0].value);
    expect(f.rows[2].value).toBeNull();
  });

  it('Kaplan–Meier matches the product-limit estimate by hand; log-rank separates groups', () => {
    const one = survivalSection([1, 2, 3, 4, 5], [1, 0, 1, 1, 0], ['a', 'a', 'a', 'a', 'a']);
    const c = one.curves[0];
    expect(c.time).toEqual([1, 2, 3, 4, 5]);
    const expected = [0.8, 0.8, 0.8 * (2 / 3), 0.8 * (2 / 3) * 0.5, 0.8 * (2 / 3) * 0.5];
    c.survival.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i], 12);
    });
    expect(c.events).toBe(3);
    expect(one.logRank).toBeUndefined();
    const r = new SeededRandom(4);
    const time: number[] = [];
    const event: number[] = [];
    const group: string[] = [];
    for (let i = 0; i < 200; i++) {
      const g = i % 2;
      time.push(-Math.log(1 - r.nextFloat()) / (g ? 0.2 : 0.05));
      event.push(1);
      group.push(g ? 'high' : 'low');
    }
    const two = survivalSection(time, event, group, { risk: group.map((g) => (g === 'high' ? 1 : 0)) });
    expect(two.logRank!.pValue).toBeLessThan(1e-6);
    expect(two.cIndex!.value!).toBeGreaterThan(0.6);
    expect(two.curves.map((k) => k.label)).toEqual(['high', 'low']);
  });

  it('scatter of identical values has r = 1 and MAE 0', () => {
    const t = [
      [0.2, 0.8],
      [0.5, 0.5],
      [0.9, 0.1],
    ];
    const s = scatterSection(t, t, ['a', 'b']);
    expect(s.groups[0].pearson).toBeCloseTo(1, 12);
    expect(s.groups[1].mae).toBe(0);
    expect(s.groups[0].x).toEqual([0.2, 0.5, 0.9]);
  });

  it('ablation: reference row has no p-value; others carry the DeLong difference and p', () => {
    const r = new SeededRandom(8);
    const y: number[] = [];
    const good: number[] = [];
    const weak: number[] = [];
    for (let i = 0; i < 150; i++) {
      const lab = i % 3 === 0 ? 1 : 0;
      y.push(lab);
      const z = normal(r);
      good.push(2 * lab + z);
      weak.push(0.3 * lab + z + normal(r));
    }
    const a = ablationSection(y, [
      { name: 'full', score: good },
      { name: 'ablated', score: weak },
    ]);
    expect(a.reference).toBe('full');
    expect(a.rows[0].pValue).toBeNull();
    expect(a.rows[1].difference).toBeCloseTo(bruteAuroc(y, weak) - bruteAuroc(y, good), 12);
    expect(a.rows[1].pValue!).toBeLessThan(0.001);
    expect(() => ablationSection(y, [{ name: 'x', score: good }], { reference: 'nope' })).toThrow(
      ReportArgumentError,
    );
  });
});

describe('embeddingHealth', () => {
  it('effective rank equals exp(entropy) of the known covariance spectrum after a rotation', () => {
    // Orthogonal, zero-mean columns (Walsh patterns): covariance is diag(4a²/3, 4b²/3, 4c²/3).
    const [a, b, c] = [3, 2, 1];
    const base = [
      [a, b, c],
      [a, -b, -c],
      [-a, b, -c],
      [-a, -b, c],
    ];
    // Rotate the feature space: eigenvalues do not change.
    const th = Math.PI / 6;
    const ph = Math.PI / 4;
    const rot = (v: number[]) => {
      const x1 = Math.cos(th) * v[0] - Math.sin(th) * v[1];
      const y1 = Math.sin(th) * v[0] + Math.cos(th) * v[1];
      return [x1, Math.cos(ph) * y1 - Math.sin(ph) * v[2], Math.sin(ph) * y1 + Math.cos(ph) * v[2]];
    };
    const h = embeddingHealth(base.map(rot));
    const eig = [a, b, c].map((v) => (4 * v * v) / 3);
    const tot = eig.reduce((x, y) => x + y, 0);
    const ent = -eig.reduce((s, e) => s + (e / tot) * Math.log(e / tot), 0);
    expect(h.effectiveRank).toBeCloseTo(Math.exp(ent), 10);
    expect(h.collapsedDims).toBe(0);
  });

  it('counts collapsed dimensions', () => {
    const r = new SeededRandom(2);
    const emb = Array.from({ length: 50 }, () =>
      Array.from({ length: 6 }, (_, j) => (j < 2 ? normal(r) : 0)),
    );
    const h = embeddingHealth(emb);
    expect(h.collapsedDims).toBe(4);
    expect(h.effectiveRank).toBeGreaterThan(1.5);
    expect(h.effectiveRank).toBeLessThanOrEqual(2);
  });
});
