// Option handling shared by `pnpm bench` and `meddl bench` (no benchmark runs here).
import { describe, expect, it } from 'vitest';
import { commands } from './commands.mjs';
import { BenchArgumentError, parseArgv, suiteOptions } from './suite.mjs';

describe('suite options', () => {
  it('defaults: quick → tiny preset, 3 × 5, no accuracy; full → small, 3 × 5, every scenario', () => {
    const q = suiteOptions({ quick: true }, '/tmp');
    expect(q).toMatchObject({ preset: 'tiny', rounds: 3, steps: 5, peers: 'pytorch', compare: null });
    expect(q.models).toEqual(['tissuebert', 'crc-mil', 'mdf-net', 'vjepa3d']);
    expect(q.scenarios).toContain('onnx-latency');
    expect(q.scenarios).toContain('allreduce');
    expect(q.scenarios).toContain('wsi-preprocess');
    expect(q.scenarios).not.toContain('accuracy'); // only when named with --quick
    expect(suiteOptions({ quick: true, scenarios: 'accuracy' }, '/tmp').scenarios).toEqual(['accuracy']);
    const full = suiteOptions({}, '/tmp');
    expect(full).toMatchObject({ preset: 'small', rounds: 3, steps: 5 });
    expect(full.scenarios).toContain('accuracy');
  });

  it('parses argv the way pnpm bench passes it and resolves paths against cwd', () => {
    const raw = parseArgv([
      '--quick',
      '--preset',
      'base',
      '--models',
      'crc-mil,vjepa3d',
      '--out',
      'o',
      '--compare',
      'a.json',
    ]);
    const o = suiteOptions(raw, '/work/x');
    expect(o).toMatchObject({
      quick: true,
      preset: 'base',
      models: ['crc-mil', 'vjepa3d'],
      out: '/work/x/o',
      compare: '/work/x/a.json',
    });
  });

  it('names the option and the problem on bad input', () => {
    expect(() => suiteOptions({ preset: 'huge' })).toThrow(
      /--preset: unknown preset 'huge' \(tiny, small, base\)/,
    );
    expect(() => suiteOptions({ models: 'resnet' })).toThrow(/--models: unknown model 'resnet'/);
    expect(() => suiteOptions({ scenarios: 'fly' })).toThrow(/--scenarios: unknown scenario 'fly'/);
    expect(() => suiteOptions({ rounds: '0' })).toThrow(/--rounds: expected a positive integer/);
    expect(() => parseArgv(['--fast'])).toThrow(BenchArgumentError);
    expect(() => parseArgv(['--models'])).toThrow(/--models: needs a value/);
  });
});

describe('meddl bench command', () => {
  it('offers the same flags as pnpm bench', () => {
    const bench = commands.find((c) => c.path.join(' ') === 'bench');
    expect(bench).toBeDefined();
    const flags = bench.options.map((o) => o.flags.split(' ')[0]);
    for (const f of [
      '--quick',
      '--preset',
      '--models',
      '--scenarios',
      '--peers',
      '--out',
      '--compare',
      '--threshold',
      '--rounds',
      '--steps',
    ])
      expect(flags).toContain(f);
  });
});
