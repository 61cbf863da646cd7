import { writeFileAtomic } from './artifact';
import { printPdf } from './browser';
import { ReportArgumentError } from './errors';
import { renderReport, reportPath } from './html';
import { compareRuns, listRuns } from './runs';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface ReportCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

/** Writes report.html (and report.pdf with `pdf`) into the run directory; returns the paths. */
export async function writeReport(
  runDir: string,
  options: { pdf?: boolean; out?: string } = {},
): Promise<{ html: string; pdf?: string }> {
  const html = renderReport(runDir);
  const htmlFile = options.out ?? reportPath(runDir, 'html');
  writeFileAtomic(htmlFile, html);
  if (!options.pdf) return { html: htmlFile };
  const pdfFile = htmlFile.replace(/\.html?$/i, '') + '.pdf';
  await printPdf(html, pdfFile);
  return { html: htmlFile, pdf: pdfFile };
}

/**
 * `meddl report`, `meddl runs`, `meddl runs compare`. Keep ['runs'] before ['runs', 'compare']:
 * the CLI creates the parent command from the first spec that names it.
 */
export const commands: ReportCommand[] = [
  {
    path: ['report'],
    description: 'Write a self-contained HTML report (and PDF with --pdf) for a run directory',
    arguments: [{ name: 'runDir', description: 'run directory (runs/<name>)', required: true }],
    options: [
      { flags: '--pdf', description: 'also print report.pdf through headless Chromium' },
      { flags: '--out <file>', description: 'HTML output path (default RUN_DIR/report.html)' },
    ],
    async run(args, options) {
      if (!args[0]) throw new ReportArgumentError('runDir', 'a run directory is required');
      const r = await writeReport(args[0], {
        pdf: Boolean(options.pdf),
        out: typeof options.out === 'string' ? options.out : undefined,
      });
      console.log(r.html);
      if (r.pdf) console.log(r.pdf);
    },
  },
  {
    path: ['runs'],
    description: 'List run directories with their key metrics',
    arguments: [{ name: 'dir', description: 'directory holding runs (default runs)', required: false }],
    run(args) {
      console.log(listRuns(args[0] ?? 'runs').text);
    },
  },
  {
    path: ['runs', 'compare'],
    description: 'Show two runs side by side (metrics and config differences)',
    arguments: [
      { name: 'a', description: 'first run directory', required: true },
      { name: 'b', description: 'second run directory', required: true },
    ],
    run(args) {
      if (args.length < 2) throw new ReportArgumentError('runs compare', 'two run directories are required');
      console.log(compareRuns(args[0], args[1]));
    },
  },
];
