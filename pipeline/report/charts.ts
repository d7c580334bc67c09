import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

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

/** Renders a Vega-Lite spec to SVG (vega's headless renderer) and PNG (resvg with the bundled font). */
export async function renderChart(name: string, title: string, spec: TopLevelSpec): Promise<Chart> {
  const themed = {
    ...spec,
    config: { font: FONT, background: 'white', ...(spec as { config?: object }).config },
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(themed).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: FONT },
    fitTo: { mode: 'zoom', value: 2 },
  })
    .render()
    .asPng();
  return { name, title, svg, png: Buffer.from(png) };
}

export interface ChartData {
  threshold: number;
  /** Sampled points for the time chart. */
  points: { time: string; confidence: number; predicted: string }[];
  /** Confidence histogram counts per predicted class (bins over [0, 1]). */
  histograms: { predicted: string; binStart: number; binEnd: number; count: number }[];
  predictions: { predicted: string; count: number }[];
}

/** The report's three charts: the reference notebook's confidence-over-time plot and two distributions. */
export async function reportCharts(data: ChartData): Promise<Chart[]> {
  const overTime: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Confidence of captured inferences over time',
    width: 640,
    height: 300,
    layer: [
      {
        data: { values: data.points },
        mark: { type: 'point', filled: true, size: 40, opacity: 0.8 },
        encoding: {
          x: {
            field: 'time',
            type: 'temporal',
            title: 'inference time (UTC)',
            scale: { type: 'utc' },
            axis: { format: '%H:%M:%S' },
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
      {
        data: { values: [{ threshold: data.threshold }] },
        mark: { type: 'rule', color: '#d62728', strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y: { field: 'threshold', type: 'quantitative' } },
      },
    ],
  };
  const histogramSpec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Confidence by predicted class',
    width: 640,
    height: 260,
    data: { values: data.histograms },
    mark: { type: 'bar', opacity: 0.75 },
    encoding: {
      x: {
        field: 'binStart',
        type: 'quantitative',
        bin: { binned: true, step: 0.05 },
        title: 'top confidence',
        scale: { domain: [0, 1] },
      },
      x2: { field: 'binEnd' },
      y: { field: 'count', type: 'quantitative', stack: null, title: 'inferences' },
      color: { field: 'predicted', type: 'nominal', title: 'predicted' },
    },
  };
  const perClass: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Predictions per class',
    width: 400,
    height: 240,
    data: { values: data.predictions },
    mark: 'bar',
    encoding: {
      x: { field: 'predicted', type: 'nominal', title: 'predicted class', axis: { labelAngle: 0 } },
      y: { field: 'count', type: 'quantitative', title: 'inferences' },
      color: { field: 'predicted', type: 'nominal', legend: null },
    },
  };
  return Promise.all([
    renderChart('confidence-over-time', 'Confidence over time', overTime),
    renderChart('confidence-histogram', 'Confidence by predicted class', histogramSpec),
    renderChart('predictions-per-class', 'Predictions per class', perClass),
  ]);
}
