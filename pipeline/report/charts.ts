import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { Automation } from '../contracts/evaluation.js';
import { histogram } from '../util/statistics.js';
import type { CaptureAggregator } from './aggregate.js';
import { cached, cacheKey, remember } from './cache.js';
import type { DriftTest } from './drift.js';
import { timeAxis } from './time-axis.js';

const require = createRequire(import.meta.url);
/** resvg draws no text without a font file, and CI machines may have no system fonts: ship DejaVu Sans. */
const FONT_FILE = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');
const FONT = 'DejaVu Sans';

export interface Chart {
  name: string;
  title: string;
  svg: string;
  png: Buffer;
}

/** The version of an installed package: its package.json, found above its entry when it does not export it (vega). */
function installedVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
      const path = join(dir, 'package.json');
      const manifest = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { name?: string }) : {};
      if (manifest.name === name) return (manifest as { version: string }).version;
    }
    return 'unknown';
  }
}

/** What decides a chart's picture besides its spec: the renderers and the font, and the PNG's zoom. */
const RENDERER = {
  packages: ['vega', 'vega-lite', '@resvg/resvg-js', 'dejavu-fonts-ttf'].map(
    (p) => `${p}@${installedVersion(p)}`,
  ),
  font: FONT,
  zoom: 2,
  // Time axes are UTC; the zone is kept in the key in case a label is ever formatted in local time.
  timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
};
/**
 * Renders a Vega-Lite spec to SVG (vega's headless renderer) and PNG (resvg with the bundled font), or
 * reads the picture of the same spec and renderer back from the cache: an unchanged report draws nothing
 * and loads neither vega nor resvg.
 */
export async function renderChart(
  name: string,
  title: string,
  spec: TopLevelSpec,
  cacheDir?: string,
): Promise<Chart> {
  const themed = {
    ...spec,
    config: { font: FONT, background: 'white', ...(spec as { config?: object }).config },
  } as TopLevelSpec;
  const [svgFile, pngFile] = ['.svg', '.png'].map((extension) => cacheKey({ themed, RENDERER }, extension));
  const [svgCached, pngCached] = [cached(cacheDir, svgFile!), cached(cacheDir, pngFile!)];
  if (svgCached !== undefined && pngCached !== undefined)
    return { name, title, svg: svgCached.toString('utf8'), png: pngCached };
  const [vega, { compile }, { Resvg }] = await Promise.all([
    import('vega'),
    import('vega-lite'),
    import('@resvg/resvg-js'),
  ]);
  const view = new vega.View(vega.parse(compile(themed).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: FONT },
    fitTo: { mode: 'zoom', value: RENDERER.zoom },
  })
    .render()
    .asPng();
  remember(cacheDir, { [svgFile!]: svg, [pngFile!]: png });
  return { name, title, svg, png: Buffer.from(png) };
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Axis labels that would overlap are dropped by vega (greedy), never drawn on top of each other. */
const AXIS = { labelOverlap: 'greedy', labelFlush: true } as const;

/** The aggregator's sampled points (time in ms), span and threshold, with the figures below. */
type ChartData = ReturnType<CaptureAggregator['chartData']> & {
  /** Confidence of the window and of the baseline, for the side-by-side histogram. */
  confidence: { window: ArrayLike<number>; baseline: readonly number[] };
  /** Each drift test's bins with the baseline's and the window's counts. */
  drift: Record<string, DriftTest>;
  predictions: { predicted: string; count: number }[];
  /** The evaluated model's threshold choice and its curve, when the run evaluated one. */
  automation?: Automation | undefined;
};

function shares(values: ArrayLike<number>, bins: number, source: string) {
  const counts = histogram(values, bins);
  const total = Math.max(1, values.length);
  return counts.map((count, b) => ({
    source,
    binStart: b / bins,
    binEnd: (b + 1) / bins,
    share: count / total,
  }));
}

/** The report's charts, each as SVG (inline in the HTML) and PNG. */
export async function reportCharts(data: ChartData, cacheDir?: string): Promise<Chart[]> {
  const axis = timeAxis(data.span?.from ?? Date.now(), data.span?.to ?? Date.now());
  const overTime: TopLevelSpec = {
    $schema: SCHEMA,
    title: 'Confidence of captured inferences over time',
    width: 640,
    height: 280,
    layer: [
      {
        data: { values: data.points },
        mark: { type: 'point', filled: true, size: 40, opacity: 0.8 },
        encoding: {
          x: {
            field: 'time',
            type: 'temporal',
            title: axis.title,
            scale: { type: 'utc', domain: axis.domain },
            axis: { ...AXIS, format: axis.format, values: axis.ticks },
          },
          y: {
            field: 'confidence',
            type: 'quantitative',
            title: 'top confidence',
            scale: { domain: [0, 1] },
          },
          color: { field: 'predicted', type: 'nominal', title: 'predicted' },
        },
      },
      rule('threshold', data.threshold, 'y'),
    ],
  };
  const confidence: TopLevelSpec = {
    $schema: SCHEMA,
    title: 'Confidence: baseline (validation) and window, threshold dashed',
    width: 640,
    height: 240,
    layer: [
      {
        data: {
          values: [
            ...shares(data.confidence.baseline, 20, 'baseline'),
            ...shares(data.confidence.window, 20, 'window'),
          ],
        },
        mark: { type: 'bar', opacity: 0.55 },
        encoding: {
          x: {
            field: 'binStart',
            type: 'quantitative',
            bin: { binned: true, step: 0.05 },
            title: 'top confidence',
            scale: { domain: [0, 1] },
            // A binned axis ticks every bin edge (0.05): label every other one, so labels never touch.
            axis: { ...AXIS, values: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], format: '.1f' },
          },
          x2: { field: 'binEnd' },
          y: {
            field: 'share',
            type: 'quantitative',
            stack: null,
            title: 'share of records',
            axis: { ...AXIS, format: '%' },
          },
          color: {
            field: 'source',
            type: 'nominal',
            title: null,
            scale: { domain: ['baseline', 'window'], range: ['#9aa5b1', '#1f77b4'] },
          },
        },
      },
      rule('threshold', data.threshold, 'x'),
    ],
  };
  const perClass: TopLevelSpec = {
    $schema: SCHEMA,
    title: 'Predictions per class',
    width: 400,
    height: 220,
    data: { values: data.predictions },
    mark: 'bar',
    encoding: {
      x: { field: 'predicted', type: 'nominal', title: 'predicted class', axis: { ...AXIS, labelAngle: 0 } },
      y: { field: 'count', type: 'quantitative', title: 'inferences', axis: AXIS },
      color: { field: 'predicted', type: 'nominal', legend: null },
    },
  };
  const driftCharts = Object.entries(data.drift).map(([name, test]) =>
    renderChart(
      `drift-${name}`,
      `${name}: baseline and window side by side`,
      driftSpec(name, test),
      cacheDir,
    ),
  );
  return Promise.all([
    ...(data.automation === undefined
      ? []
      : [
          renderChart(
            'automation-curve',
            'Automation: share routed against accuracy of the routed, threshold marked, target dashed',
            automationSpec(data.automation),
            cacheDir,
          ),
        ]),
    renderChart('confidence-over-time', 'Confidence over time', overTime, cacheDir),
    renderChart('confidence-histogram', 'Confidence: baseline and window', confidence, cacheDir),
    renderChart('predictions-per-class', 'Predictions per class', perClass, cacheDir),
    ...driftCharts,
  ]);
}

type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];

/** A dashed red rule: the deployed threshold on the confidence axis, or the target accuracy. */
function rule(field: 'threshold' | 'target', value: number, channel: 'x' | 'y'): Layer {
  const encoding = { field, type: 'quantitative' as const };
  return {
    data: { values: [{ [field]: value }] },
    mark: { type: 'rule', color: '#d62728', strokeDash: [6, 4], strokeWidth: 2 },
    encoding: channel === 'x' ? { x: encoding } : { y: encoding },
  };
}

/**
 * The trade-off: for each threshold, the share of predictions kept (routed automatically) against the
 * accuracy of the kept ones, on the validation split (where, with out-of-fold predictions, the threshold is chosen) and the test split
 * (held out); the deployed threshold's held-out point marked, the target accuracy dashed.
 */
export function automationSpec(automation: Automation): TopLevelSpec {
  const values = automation.curve.flatMap((p) =>
    (['validation', 'test'] as const).map((split) => ({
      split: split === 'test' ? 'test (held out)' : 'validation',
      threshold: p.threshold,
      automationRate: p[split].automationRate,
      keptAccuracy: p[split].keptAccuracy,
    })),
  );
  const held = automation.heldOut;
  const chosen = [
    {
      automationRate: held.automationRate,
      keptAccuracy: held.keptAccuracy,
      label: `threshold ${automation.threshold.toFixed(3)}`,
    },
  ];
  const x = { field: 'automationRate', type: 'quantitative' as const, title: 'share routed automatically' };
  const y = { field: 'keptAccuracy', type: 'quantitative' as const, title: 'accuracy of the routed' };
  return {
    $schema: SCHEMA,
    title: 'Share routed automatically against accuracy of the routed',
    width: 520,
    height: 300,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { ...x, scale: { domain: [0, 1] }, axis: { ...AXIS, format: '%' } },
          y: { ...y, scale: { zero: false }, axis: { ...AXIS, format: '%' } },
          color: { field: 'split', type: 'nominal', title: null },
          order: { field: 'threshold', type: 'quantitative', sort: 'descending' },
          tooltip: [{ field: 'threshold', type: 'quantitative' }],
        },
      },
      rule('target', automation.targetAccuracy, 'y'),
      {
        data: { values: chosen },
        mark: { type: 'point', shape: 'diamond', size: 160, filled: true, color: '#d62728' },
        encoding: { x, y },
      },
      {
        data: { values: chosen },
        mark: { type: 'text', align: 'left', dx: 8, dy: -8 },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  };
}

/** Shares per bin of the baseline and of the window, bars side by side. */
function driftSpec(name: string, test: DriftTest): TopLevelSpec {
  const baselineTotal = Math.max(1, test.baselineCount);
  const windowTotal = Math.max(1, test.windowCount);
  const values = test.bins.flatMap((b, order) => [
    { bin: b.bin, order, source: 'baseline', share: b.baseline / baselineTotal },
    { bin: b.bin, order, source: 'window', share: b.window / windowTotal },
  ]);
  return {
    $schema: SCHEMA,
    title: `${name}: baseline and window`,
    width: { step: 36 },
    height: 180,
    data: { values },
    mark: 'bar',
    encoding: {
      x: {
        field: 'bin',
        type: 'ordinal',
        sort: { field: 'order' },
        title: 'bin (baseline deciles or classes)',
        axis: { ...AXIS, labelAngle: -35, labelLimit: 120 },
      },
      xOffset: { field: 'source' },
      y: { field: 'share', type: 'quantitative', title: 'share', axis: { ...AXIS, format: '%' } },
      color: {
        field: 'source',
        type: 'nominal',
        title: null,
        scale: { domain: ['baseline', 'window'], range: ['#9aa5b1', '#1f77b4'] },
      },
    },
  };
}
