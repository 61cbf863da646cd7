import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeReport } from '@meddl/report';
import { currentBackend } from '@meddl/tensor';
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
      for (const q of chosen) {
        const { data, headline, secondary, seconds, run, ...rest } = await q.run({
          outDir: String(options.out),
        });
        const b = currentBackend();
        const runDir = typeof run === 'string' ? run : '';
        rows.push({
          model: q.model,
          data: data ?? '',
          headline: headline ?? '',
          secondary: secondary ?? '',
          seconds: seconds ?? '',
          backend: b ? `${b.name}, ${b.threads} thread${b.threads === 1 ? '' : 's'}` : 'n/a',
          run: runDir,
          // The run's self-contained HTML report (as `meddl report` writes it), from its eval.json.
          report: runDir && existsSync(join(runDir, 'eval.json')) ? (await writeReport(runDir)).html : 'n/a',
          ...rest,
        });
      }
      console.table(rows);
    },
  };
}
