import { BinaryRankingAccumulator, ConfusionMatrixAccumulator } from '@meddl/metrics';
import { describe, expect, it } from 'vitest';
import { allGatherMetric } from './metrics';
import { localGroups } from './test-utils';

describe('allGatherMetric', () => {
  it('3 ranks merging @meddl/metrics accumulators equal one accumulator over all examples', async () => {
    const yTrue = Array.from({ length: 30 }, (_, i) => (i * 7) % 3);
    const yPred = Array.from({ length: 30 }, (_, i) => (i * 5) % 3);
    const scores = Array.from({ length: 30 }, (_, i) => ((i * 37) % 101) / 101);
    const binary = yTrue.map((y) => (y === 1 ? 1 : 0));
    const whole = new ConfusionMatrixAccumulator(3);
    whole.update(yTrue, yPred);
    const wholeRank = new BinaryRankingAccumulator();
    wholeRank.update(binary, scores);
    const groups = await localGroups(3);
    try {
      const merged = await Promise.all(
        groups.map(async (g, r) => {
          const part = new ConfusionMatrixAccumulator(3);
          part.update(yTrue.slice(r * 10, r * 10 + 10), yPred.slice(r * 10, r * 10 + 10));
          const rank = new BinaryRankingAccumulator();
          rank.update(binary.slice(r * 10, r * 10 + 10), scores.slice(r * 10, r * 10 + 10));
          return {
            cm: await allGatherMetric(g, part, ConfusionMatrixAccumulator.fromState),
            auc: await allGatherMetric(g, rank, BinaryRankingAccumulator.fromState),
          };
        }),
      );
      for (const m of merged) {
        expect(m.cm.compute()).toEqual(whole.compute());
        expect(m.auc.compute().auroc.value).toBe(wholeRank.compute().auroc.value);
      }
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });
});
