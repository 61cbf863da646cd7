import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import {
  concordanceCorrelation,
  mae,
  pearson,
  r2,
  regressionPerColumn,
  rmse,
  spearman,
} from './regression.js';
import { expectClose } from './test-utils.js';
import { column } from './validate.js';

describe('regression and agreement vs scikit-learn / scipy', () => {
  const r = ref.regression;
  const t = { data: Float64Array.from(r.yTrue.flat()), rows: r.yTrue.length, cols: r.yTrue[0].length };
  const p = { data: Float64Array.from(r.yPred.flat()), rows: r.yPred.length, cols: r.yPred[0].length };
  r.columns.forEach((c, j) => {
    it(`column ${j}: RMSE, MAE, Pearson, Spearman (ties), R², Lin's CCC`, () => {
      const a = column(t, j);
      const b = column(p, j);
      expectClose(rmse(a, b), c.rmse);
      expectClose(mae(a, b), c.mae);
      expectClose(pearson(a, b).value, c.pearson);
      expectClose(spearman(a, b).value, c.spearman);
      expectClose(r2(a, b).value, c.r2);
      expectClose(concordanceCorrelation(a, b).value, c.ccc);
    });
  });

  it('per-column report and its means', () => {
    const rep = regressionPerColumn(r.yTrue, r.yPred);
    r.columns.forEach((c, j) => {
      expectClose(rep.rmse[j], c.rmse);
      expectClose(rep.ccc[j].value, c.ccc);
    });
    const meanR2 = r.columns.reduce((s, c) => s + c.r2, 0) / r.columns.length;
    expectClose(rep.mean.r2.value, meanR2);
  });

  it('constant inputs give undefined correlations and R², not 0 or 1', () => {
    expect(pearson([1, 1, 1], [1, 2, 3]).defined).toBe(false);
    expect(spearman([1, 2, 3], [5, 5, 5]).defined).toBe(false);
    expect(r2([2, 2, 2], [1, 2, 3]).defined).toBe(false);
    expect(concordanceCorrelation([2, 2], [2, 2]).defined).toBe(false);
    expect(concordanceCorrelation([2, 2], [3, 3]).value).toBe(0);
  });
});
