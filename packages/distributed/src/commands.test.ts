import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commands, type DistributedCommand } from './commands';

// Mounts the specs the way apps/cli/src/program.ts does (nested paths, variadic arguments,
// options), to check that `meddl launch [options] -- <command…>` arrives intact.
function mount(specs: DistributedCommand[], seen: { args: string[]; options: Record<string, unknown> }[]) {
  const program = new Command('meddl').enablePositionalOptions().exitOverride();
  for (const spec of specs) {
    let parent = program;
    for (const word of spec.path.slice(0, -1))
      parent = parent.commands.find((c) => c.name() === word) ?? parent.command(word);
    const leaf = parent.command(spec.path[spec.path.length - 1]).exitOverride();
    for (const a of spec.arguments ?? [])
      leaf.argument(a.required === false ? `[${a.name}]` : `<${a.name}>`, a.description);
    for (const o of spec.options ?? [])
      leaf.option(o.flags, o.description, o.default as string | boolean | undefined);
    leaf.action((...received: unknown[]) => {
      const cmd = received[received.length - 1] as Command;
      seen.push({ args: received.slice(0, -2).flat().map(String), options: cmd.opts() });
    });
  }
  return program;
}

describe('commands', () => {
  it('mount as `meddl launch`, `meddl worker` and `meddl queue status`, passing the worker command after --', async () => {
    expect(commands.map((c) => c.path.join(' '))).toEqual(['launch', 'worker', 'queue status']);
    const seen: { args: string[]; options: Record<string, unknown> }[] = [];
    const program = mount(
      commands.map((c) => ({ ...c, run: () => undefined })),
      seen,
    );
    await program.parseAsync(
      [
        'launch',
        '--nproc-per-node',
        '4',
        '--max-restarts',
        '2',
        '--',
        'meddl',
        'train',
        'tissuebert',
        '--config',
        'x.yaml',
      ],
      { from: 'user' },
    );
    expect(seen[0].args).toEqual(['meddl', 'train', 'tissuebert', '--config', 'x.yaml']);
    expect(seen[0].options).toMatchObject({ nprocPerNode: '4', maxRestarts: '2', gpus: 'auto' });
    const { launchOptionsFromArgs } = await import('./commands');
    expect(launchOptionsFromArgs(seen[0].args, seen[0].options, {}, ['node', 'meddl.js'])).toMatchObject({
      command: ['node', 'meddl.js', 'train', 'tissuebert', '--config', 'x.yaml'],
      nprocPerNode: 4,
      maxRestarts: 2,
      nnodes: 1,
      nodeRank: 0,
      masterAddr: '127.0.0.1',
    });
    await program.parseAsync(['queue', 'status', '--queue', 'redis://h:1/0', '--wait'], { from: 'user' });
    expect(seen[1].options).toMatchObject({ queue: 'redis://h:1/0', name: 'meddl', wait: true });
  });
});
