/// <reference lib="dom" />
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

function findChromium(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

/**
 * Debian's chromium, installed with apt-get where it is missing and we may (root, apt-get present).
 * Returns the path, or why there is none (the caller skips with that note).
 */
export function ensureChromium(): { path: string } | { missing: string } {
  const found = findChromium();
  if (found !== undefined) return { path: found };
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0)
    return { missing: 'no chromium, and apt-get cannot install it here (not root or no apt-get)' };
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'ignore',
      env,
      timeout: 600_000,
    });
  } catch (error) {
    return { missing: `apt-get install chromium failed: ${(error as Error).message.split('\n')[0]}` };
  }
  const installed = findChromium();
  return installed === undefined
    ? { missing: 'apt-get installed chromium but no binary was found' }
    : { path: installed };
}

export interface PageCheck {
  consoleErrors: string[];
  images: { total: number; broken: string[] };
  /** Pairs of axis labels whose boxes intersect, by chart. */
  overlappingAxisLabels: { chart: string; a: string; b: string }[];
  axisLabels: number;
  charts: number;
}

/** Opens the page as a person would and checks it; optionally saves a full-page screenshot. */
export async function checkPage(
  executablePath: string,
  htmlFile: string,
  screenshot?: string,
): Promise<PageCheck> {
  const browser: Browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    page.on('requestfailed', (request) =>
      consoleErrors.push(`request failed: ${request.url().slice(0, 80)}`),
    );
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
    const result = await page.evaluate(() => {
      const images = [...document.images];
      const broken = images.filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.alt);
      const overlapping: { chart: string; a: string; b: string }[] = [];
      let axisLabels = 0;
      const charts = [...document.querySelectorAll('figure.chart')];
      for (const chart of charts) {
        // Vega's SVG renderer marks axis labels and titles with these role classes.
        for (const group of chart.querySelectorAll('g.role-axis-label, g.role-axis-title')) {
          const texts = [...group.querySelectorAll('text')].filter(
            (t) => (t.textContent ?? '').trim() !== '',
          );
          axisLabels += texts.length;
          const boxes = texts.map((t) => ({ text: t.textContent ?? '', box: t.getBoundingClientRect() }));
          for (let i = 0; i < boxes.length; i++)
            for (let j = i + 1; j < boxes.length; j++) {
              const a = boxes[i]!.box;
              const b = boxes[j]!.box;
              const overlap =
                Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
                Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
              if (overlap)
                overlapping.push({
                  chart: chart.getAttribute('data-chart') ?? '',
                  a: boxes[i]!.text,
                  b: boxes[j]!.text,
                });
            }
        }
      }
      return { images: { total: images.length, broken }, overlapping, axisLabels, charts: charts.length };
    });
    if (screenshot !== undefined)
      await page.screenshot({ path: screenshot as `${string}.png`, fullPage: true });
    return {
      consoleErrors,
      images: result.images,
      overlappingAxisLabels: result.overlapping,
      axisLabels: result.axisLabels,
      charts: result.charts,
    };
  } finally {
    await browser.close();
  }
}
