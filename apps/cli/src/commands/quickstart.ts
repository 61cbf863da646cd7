import type { CommandSpec } from '../command';
import { infoCommand } from './info';

/** A domain's quickstart: synthesize data, train its quickstart config, evaluate, summarize. */
export interface QuickstartSpec {
  model: string;
  run(options: { outDir: string }): Promise<Record<string, string | number>>;
}

export function quickstartCommand(quickstarts: QuickstartSpec[]): CommandSpec {
  return {
    path: ['quickstart'],
    description: 'Generate synthetic data, train and evaluate each model, and print a summary',
    arguments: [{ name: 'models...', description: 'models to run (default: all)', required: false }],
    options: [{ flags: '--out <dir>', description: 'where runs go', default: 'runs/quickstart' }],
    async run(args, options) {
      await infoCommand.run([], {});
      const chosen = args.length ? quickstarts.filter((q) => args.includes(q.model)) : quickstarts;
      if (quickstarts.length === 0) {
        console.log('\nNo domain quickstarts are installed yet; the backend above is ready.');
        return;
      }
      const rows: Record<string, string | number>[] = [];
      for (const q of chosen)
        rows.push({ model: q.model, ...(await q.run({ outDir: String(options.out) })) });
      console.table(rows);
    },
  };
}
