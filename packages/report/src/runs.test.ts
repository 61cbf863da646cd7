import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { findChromium, launchChromium } from './browser';
import { commands } from './commands';
import { BrowserError, EvalArtifactError, RunDirectoryError } from './errors';
import { renderReport } from './html';
import { parseCsv, readRunDirectory } from './rundir';
import { compareRuns, listRuns } from './runs';
import { buildFixtureRun } from './testing/fixtures';

const work = mkdtempSync(join(tmpdir(), 'meddl-runs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const runs = join(work, 'runs');
buildFixtureRun(join(runs, 'tb-a'), 'tissuebert', 1);
buildFixtureRun(join(runs, 'tb-b'), 'tissuebert', 2);
buildFixtureRun(join(runs, 'crc'), 'crc-mil', 1);

describe('run directories', () => {
  it('parses CSV with quotes and reads the trainer files', () => {
    expect(parseCsv('a,b\n"x,1","say ""hi"""\n\n')).toEqual([
      ['a', 'b'],
      ['x,1', 'say "hi"'],
    ]);
    const c = readRunDirectory(join(runs, 'tb-a'));
    expect(c.metrics?.rows).toHaveLength(8);
    expect(c.metrics?.columns.slice(0, 5)).toEqual(['epoch', 'step', 'train_loss', 'lr', 'duration_s']);
    expect(c.run?.backend?.name).toBe('native');
    expect(c.checkpoints).toHaveLength(1);
    // 160 steps, one skipped; validation lines and the truncated last line left out.
    expect(c.steps?.step).toHaveLength(159);
    expect(c.steps?.step.includes(7)).toBe(false);
    expect(c.evaluation?.model).toBe('tissuebert');
  });

  it('typed errors name the bad file', () => {
    const bad = join(work, 'bad');
    mkdirSync(join(bad, 'logs'), { recursive: true });
    writeFileSync(join(bad, 'run.json'), '{}');
    writeFileSync(join(bad, 'logs', 'metrics.csv'), 'epoch,train_loss\n0,1,2\n');
    expect(() => readRunDirectory(bad)).toThrow(RunDirectoryError);
    expect(() => readRunDirectory(bad)).toThrow(/metrics\.csv: line 2 has 3 cells/);
    writeFileSync(join(bad, 'logs', 'metrics.csv'), 'epoch,train_loss\n0,1\n');
    writeFileSync(
      join(bad, 'eval.json'),
      JSON.stringify({ format: 'meddl-eval', version: 1, model: 'x', split: 'val' }),
    );
    expect(() => renderReport(bad)).toThrow(EvalArtifactError);
    expect(() => renderReport(bad)).toThrow(/eval\.json: createdAt/);
    mkdirSync(join(work, 'empty'));
    expect(() => readRunDirectory(join(work, 'empty'))).toThrow(/not a run directory/);
    writeFileSync(join(bad, 'logs', 'steps.jsonl'), '{"step":1,"loss":1}\n{oops\n{"step":2,"loss":1}\n');
    expect(() => readRunDirectory(bad)).toThrow(/steps\.jsonl: line 2 is not valid JSON/);
  });
});

describe('runs made of stages or folds', () => {
  const staged = join(work, 'nested', 'two-stage');
  for (const st of ['stage1', 'stage2']) {
    buildFixtureRun(join(staged, st), 'mdf-net', st === 'stage1' ? 4 : 5);
    renameSync(join(staged, st, 'eval.json'), join(staged, 'eval.json'));
  }
  const folds = join(work, 'nested', 'cv');
  for (const f of ['fold-1', 'fold-2', 'fold-10']) {
    buildFixtureRun(join(folds, 'folds', f), 'vjepa3d', f.length);
    rmSync(join(folds, 'folds', f, 'eval.json'));
  }
  writeFileSync(join(folds, 'eval.json'), JSON.stringify({ classes: ['a', 'b'], pooled: {} }));

  it('reads nested trainer runs and renders one training section per stage', () => {
    const c = readRunDirectory(staged);
    expect(c.run).toBeNull();
    expect(c.children.map((k) => k.name)).toEqual(['stage1', 'stage2']);
    const html = renderReport(staged);
    expect(html.match(/data-section="training" data-run="stage\d"/g)).toHaveLength(2);
    // Run facts come from the first stage's run.json.
    expect(html).toContain('native (tfjs cpu');
    expect(html.match(/data-chart="training-loss"/g)).toHaveLength(2);
    expect(html.match(/data-section="config" data-run="stage\d"/g)).toHaveLength(2);
  });

  it('finds folds two levels down in numeric order; a foreign eval.json is an error naming the file', () => {
    rmSync(join(folds, 'eval.json'));
    expect(readRunDirectory(folds).children.map((k) => k.name)).toEqual([
      'folds/fold-1',
      'folds/fold-2',
      'folds/fold-10',
    ]);
    writeFileSync(join(folds, 'eval.json'), JSON.stringify({ classes: ['a', 'b'], pooled: {} }));
    expect(() => renderReport(folds)).toThrow(/cv\/eval\.json: format/);
  });

  it('meddl runs lists the staged run as one and marks the unreadable one instead of failing', () => {
    const { summaries, errors, text } = listRuns(join(work, 'nested'));
    expect(summaries.map((s) => s.name)).toEqual(['two-stage']);
    expect(summaries[0].epochs).toBe(10);
    expect(errors.map((e) => e.error.name)).toEqual(['EvalArtifactError']);
    expect(text).toMatch(/cv\s+\?\s+unreadable \(EvalArtifactError\)/);
  });
});

describe('renderReport (HTML, no browser)', () => {
  it('is self-contained: no scripts, no external URLs, config and backend included', () => {
    const html = renderReport(join(runs, 'crc'));
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/)/);
    expect(html).toContain('native (tfjs cpu 0.1.0, tfjs-core 4.22.0, 2 threads, SIMD)');
    expect(html).toContain('maxEpochs: 6');
    expect(html.match(/src="data:image\/png;base64,/g)).toHaveLength(3);
    expect(html).toContain('data-section="survival"');
  });

  it('shows a missing gallery image as a placeholder; a training-only run still renders', () => {
    const dir = join(work, 'missing-img');
    buildFixtureRun(dir, 'crc-mil', 1);
    rmSync(join(dir, 'eval', 'heatmaps', 'slide-1.png'));
    const html = renderReport(dir);
    expect(html.match(/data-gallery="missing"/g)).toHaveLength(1);
    rmSync(join(dir, 'eval.json'));
    const plain = renderReport(dir);
    expect(plain).toContain('not evaluated yet');
    expect(plain).toContain('data-chart="training-loss"');
  });
});

describe('browser discovery', () => {
  it('MEDDL_CHROMIUM pointing nowhere disables the browser; launching then fails with a BrowserError', async () => {
    const saved = process.env.MEDDL_CHROMIUM;
    process.env.MEDDL_CHROMIUM = join(work, 'no-such-chromium');
    try {
      expect(findChromium()).toBeNull();
      await expect(launchChromium()).rejects.toThrow(BrowserError);
      await expect(launchChromium()).rejects.toThrow(/apt-get install -y chromium/);
    } finally {
      if (saved === undefined) delete process.env.MEDDL_CHROMIUM;
      else process.env.MEDDL_CHROMIUM = saved;
    }
  });
});

describe('meddl runs / runs compare / report', () => {
  it('lists runs with headline metrics', () => {
    const { summaries, text } = listRuns(runs);
    expect(summaries.map((s) => s.name).sort()).toEqual(['crc', 'tb-a', 'tb-b']);
    expect(text.split('\n')[0]).toMatch(/^run\s+model\s+status\s+epochs/);
    expect(text).toMatch(/tb-a\s+tissuebert\s+evaluated/);
    expect(text).toContain('macro_auroc 0.');
  });

  it('compares two runs: headline side by side and config differences', () => {
    const text = compareRuns(join(runs, 'tb-a'), join(runs, 'crc'));
    expect(text).toMatch(/model\s+tissuebert\s+crc-mil/);
    expect(text).toMatch(/config: 3 key\(s\) differ/);
    expect(text).toMatch(/trainer\.maxEpochs\s+8\s+6/);
  });

  it('the report command writes report.html atomically into the run directory', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const report = commands.find((c) => c.path.join(' ') === 'report')!;
      await report.run([join(runs, 'tb-b')], {});
      const file = join(runs, 'tb-b', 'report.html');
      expect(existsSync(file)).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/^<!DOCTYPE html>/);
      expect(log).toHaveBeenCalledWith(file);
      const list = commands.find((c) => c.path.join(' ') === 'runs')!;
      await list.run([runs], {});
      expect(String(log.mock.calls.at(-1)?.[0])).toContain('tb-b');
    } finally {
      log.mockRestore();
    }
    // 'runs' precedes 'runs compare' so the CLI builds the parent command from the leaf spec.
    expect(commands.map((c) => c.path.join(' '))).toEqual(['report', 'runs', 'runs compare']);
  });
});
