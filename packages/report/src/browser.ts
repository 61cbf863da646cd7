// Headless Chromium through playwright-core (no bundled browser download): the system's
// Chromium (Debian: `apt-get install chromium`) prints reports to PDF and drives the tests.
import { existsSync, renameSync } from 'node:fs';
import { BrowserError } from './errors';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

/**
 * The Chromium to launch: $MEDDL_CHROMIUM when set (null if that path does not exist, so
 * `MEDDL_CHROMIUM=none` disables the browser), else $CHROME_PATH, then the usual system paths.
 */
export function findChromium(): string | null {
  const forced = process.env.MEDDL_CHROMIUM;
  if (forced) return existsSync(forced) ? forced : null;
  for (const p of [process.env.CHROME_PATH, ...CANDIDATES]) if (p && existsSync(p)) return p;
  return null;
}

/** Launch arguments: --no-sandbox because CI runs as root in a container. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage'];

type PlaywrightChromium = typeof import('playwright-core').chromium;

/** Launches headless Chromium (typed error when it is missing). */
export async function launchChromium(executablePath = findChromium()) {
  if (!executablePath)
    throw new BrowserError(
      'no Chromium found (set MEDDL_CHROMIUM, or install it: apt-get install -y chromium)',
    );
  let chromium: PlaywrightChromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new BrowserError(`playwright-core is not installed (${(e as Error).message})`);
  }
  try {
    return await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  } catch (e) {
    throw new BrowserError(`${executablePath} failed to start: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Prints an HTML page to an A4 PDF (atomic: temp file + rename). Returns the number of bytes. */
export async function printPdf(
  html: string,
  pdfFile: string,
  options: { executablePath?: string } = {},
): Promise<void> {
  const browser = await launchChromium(options.executablePath ?? findChromium());
  try {
    const page = await browser.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    const tmp = `${pdfFile}.tmp-${process.pid}`;
    await page.pdf({
      path: tmp,
      format: 'A4',
      printBackground: true,
      margin: { top: '12mm', bottom: '12mm', left: '10mm', right: '10mm' },
    });
    renameSync(tmp, pdfFile);
  } finally {
    await browser.close();
  }
}
