// Renders each domain kind's report in headless Chromium (Debian `chromium` driven by
// playwright-core): every chart present and well-formed SVG, images decoded, no console errors,
// no network requests; screenshots kept under test-output/ (ignored by git).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, launchChromium, printPdf } from './browser';
import { renderReport } from './html';
import { buildFixtureRun, FIXTURE_KINDS } from './testing/fixtures';

const chromiumPath = findChromium();
if (!chromiumPath)
  console.warn(
    'report browser tests skipped: no Chromium (apt-get install -y chromium, or set MEDDL_CHROMIUM to its path)',
  );
const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output');

describe.skipIf(!chromiumPath)('report in headless Chromium', () => {
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const work = mkdtempSync(join(tmpdir(), 'meddl-report-'));
  beforeAll(async () => {
    mkdirSync(outDir, { recursive: true });
    browser = await launchChromium(chromiumPath);
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(work, { recursive: true, force: true });
  });

  for (const kind of FIXTURE_KINDS) {
    it(`${kind}: every chart present, no console errors, screenshot kept`, async () => {
      const runDir = join(work, kind);
      const expected = buildFixtureRun(runDir, kind, 11);
      const html = renderReport(runDir, { generatedAt: '2026-11-23T10:07:00Z' });
      const htmlFile = join(outDir, `${kind}.html`);
      writeFileSync(htmlFile, html);
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('data:') && r.url() !== pathToFileURL(htmlFile).href) requests.push(r.url());
      });
      await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
      const found = await page.evaluate(() => {
        const counts: Record<string, number> = {};
        const bad: string[] = [];
        for (const svg of Array.from(document.querySelectorAll('svg[data-chart]'))) {
          const kindName = svg.getAttribute('data-chart') ?? '?';
          counts[kindName] = (counts[kindName] ?? 0) + 1;
          const box = svg.getBoundingClientRect();
          if (box.width < 50 || box.height < 50) bad.push(`${kindName}: ${box.width}x${box.height}`);
          // The markup must also be well-formed standalone SVG (an exported chart opens elsewhere).
          const doc = new DOMParser().parseFromString(svg.outerHTML, 'image/svg+xml');
          if (doc.getElementsByTagName('parsererror').length) bad.push(`${kindName}: not well-formed SVG`);
          if (svg.querySelectorAll('path,circle,rect,line').length < 3) bad.push(`${kindName}: nearly empty`);
        }
        const images = Array.from(
          document.querySelectorAll('figure[data-gallery="image"] img'),
        ) as HTMLImageElement[];
        return {
          counts,
          bad,
          images: images.length,
          decoded: images.filter((i) => i.complete && i.naturalWidth > 0).length,
          missing: document.querySelectorAll('[data-gallery="missing"]').length,
          scripts: document.querySelectorAll('script').length,
        };
      });
      await page.screenshot({ path: join(outDir, `${kind}.png`), fullPage: true });
      await page.close();
      expect(found.counts).toEqual(expected.charts);
      expect(found.bad).toEqual([]);
      expect(found.images).toBe(expected.images);
      expect(found.decoded).toBe(expected.images);
      expect(found.missing).toBe(0);
      expect(found.scripts).toBe(0);
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    });
  }

  it('prints a PDF', async () => {
    const runDir = join(work, 'pdf');
    buildFixtureRun(runDir, 'crc-mil', 3);
    const pdf = join(outDir, 'crc-mil.pdf');
    await printPdf(renderReport(runDir), pdf, { executablePath: chromiumPath ?? undefined });
    const bytes = readFileSync(pdf);
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    // More than one page: the report is long, and the charts are vector content.
    expect((bytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []).length).toBeGreaterThan(1);
  });
});
