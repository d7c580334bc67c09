/**
 * Rewrites pipeline/contracts/sagemaker-prices.json, the on-demand SageMaker prices the run's cost lines use,
 * from AWS's public Price List bulk API (no credentials): the service Region index file of AmazonSageMaker,
 * then the offer file of each region that hosts the image-classification algorithm (regions.ts). Formats:
 * AWS Billing User Guide, "Service Region index file for AWS services" and "Reading the service price list
 * file for an AWS service" (products by SKU with attributes; terms.OnDemand[sku][term].priceDimensions with
 * unit and pricePerUnit.USD). Only the instance types scones uses are kept: the configuration's defaults and
 * those docs/aws.md names.
 *
 *   node --import tsx scripts/refresh-prices.ts
 *
 * Exit 1 when AWS cannot be reached or answers something else than the documented format.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { IMAGE_CLASSIFICATION_REGISTRIES } from '../pipeline/backends/aws/regions.js';
import { configSchema } from '../pipeline/config.js';
import {
  type InstancePrice,
  type InstanceUse,
  type PriceSnapshot,
  priceSnapshotSchema,
} from '../pipeline/contracts/prices.js';

const ROOT = join(import.meta.dirname, '..');
export const SNAPSHOT_PATH = join(ROOT, 'pipeline', 'contracts', 'sagemaker-prices.json');
export const PRICE_LIST_HOST = 'https://pricing.us-east-1.amazonaws.com';
export const REGION_INDEX_URL = `${PRICE_LIST_HOST}/offers/v1.0/aws/AmazonSageMaker/current/region_index.json`;

const regionIndexSchema = z.object({
  publicationDate: z.string(),
  regions: z.record(z.string(), z.object({ regionCode: z.string(), currentVersionUrl: z.string() })),
});

/** The part of an offer file read here. */
const offerSchema = z.object({
  offerCode: z.literal('AmazonSageMaker'),
  publicationDate: z.string(),
  products: z.record(
    z.string(),
    z.object({ sku: z.string(), attributes: z.record(z.string(), z.string()).default({}) }),
  ),
  terms: z.object({
    OnDemand: z
      .record(
        z.string(),
        z.record(
          z.string(),
          z.object({
            priceDimensions: z.record(
              z.string(),
              z.object({ unit: z.string(), pricePerUnit: z.record(z.string(), z.string()) }),
            ),
          }),
        ),
      )
      .default({}),
  }),
});

/**
 * SageMaker's usage types name the use and the type: `USE1-Train:ml.g4dn.xlarge`, `USE1-Tsform:ml.m5.large`
 * (Batch Transform), `USE1-Host:ml.m5.xlarge` (real-time endpoints). Spot training and the other uses
 * (`Notebk`, `Processing`, `Studio:...`) have other names and are not matched.
 */
const USAGE_TYPE = /^(?:[A-Z0-9]+-)?(Train|Tsform|Host):(ml\.[a-z0-9-]+\.[a-z0-9]+)$/;
const USE_OF: Readonly<Record<string, InstanceUse>> = {
  Train: 'training',
  Tsform: 'transform',
  Host: 'hosting',
};

/** The configuration's default types and every `ml.*` type docs/aws.md names. */
export function typesToPrice(docsText: string): string[] {
  const defaults = configSchema.parse({});
  const named = docsText.match(/\bml\.[a-z0-9-]+\.[a-z0-9]+\b/g) ?? [];
  return [
    ...new Set([
      defaults.train.sagemaker.instanceType,
      defaults.evaluate.transformInstanceType,
      defaults.deploy.endpointInstanceType,
      ...named,
    ]),
  ].sort();
}

/** The offer file URL of each wanted region the index lists. */
export function offerUrls(
  regionIndex: unknown,
  regions: readonly string[],
): { region: string; url: string }[] {
  const index = regionIndexSchema.parse(regionIndex);
  return regions
    .filter((region) => index.regions[region] !== undefined)
    .map((region) => ({ region, url: `${PRICE_LIST_HOST}${index.regions[region]?.currentVersionUrl}` }));
}

type RegionPrices = PriceSnapshot['prices'][string];

/** The hourly on-demand USD prices of `types` in one region's offer file, by use. */
export function pricesFromOffer(
  offerJson: unknown,
  offerUrl: string,
  region: string,
  types: ReadonlySet<string>,
): RegionPrices {
  const offer = offerSchema.parse(offerJson);
  const date = offer.publicationDate.slice(0, 10);
  const prices: Partial<Record<InstanceUse, Record<string, InstancePrice>>> = {};
  for (const product of Object.values(offer.products)) {
    const { usagetype = '', regionCode } = product.attributes;
    const match = USAGE_TYPE.exec(usagetype);
    if (match === null || regionCode !== region) continue;
    const [, kind = '', type = ''] = match;
    const use = USE_OF[kind];
    if (use === undefined || !types.has(type)) continue;
    const hourly = Object.values(offer.terms.OnDemand[product.sku] ?? {})
      .flatMap((term) => Object.values(term.priceDimensions))
      .filter((dimension) => dimension.unit === 'Hrs' && Number(dimension.pricePerUnit.USD) > 0)
      .map((dimension) => Number(dimension.pricePerUnit.USD));
    if (hourly.length === 0) continue;
    if (new Set(hourly).size > 1)
      throw new Error(
        `${offerUrl}: SKU ${product.sku} (${usagetype}) has several hourly prices: ${hourly.join(', ')}`,
      );
    const byType = prices[use] ?? {};
    const known = byType[type];
    if (known !== undefined && known.usdPerHour !== hourly[0])
      throw new Error(
        `${offerUrl}: two on-demand prices for ${usagetype}: ${known.usdPerHour} and ${hourly[0]}`,
      );
    byType[type] = {
      usdPerHour: hourly[0] as number,
      source: `${offerUrl} (SKU ${product.sku}, usage type ${usagetype})`,
      date,
    };
    prices[use] = byType;
  }
  return prices;
}

/** The snapshot of the regions' prices, checked against the contract the pipeline reads it with. */
export function snapshotOf(byRegion: Record<string, RegionPrices>, retrieved: string): PriceSnapshot {
  return priceSnapshotSchema.parse({
    source: `AWS Price List bulk API: ${REGION_INDEX_URL} and the per-region offer files it lists (each price names its file and SKU); written by scripts/refresh-prices.ts`,
    retrieved,
    currency: 'USD',
    prices: Object.fromEntries(Object.entries(byRegion).filter(([, uses]) => Object.keys(uses).length > 0)),
  });
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.json();
}

async function main(): Promise<void> {
  const types = new Set(typesToPrice(readFileSync(join(ROOT, 'docs', 'aws.md'), 'utf8')));
  const urls = offerUrls(await getJson(REGION_INDEX_URL), Object.keys(IMAGE_CLASSIFICATION_REGISTRIES));
  const byRegion: Record<string, RegionPrices> = {};
  for (const { region, url } of urls) {
    process.stderr.write(`reading ${url}\n`);
    byRegion[region] = pricesFromOffer(await getJson(url), url, region, types);
  }
  const snapshot = snapshotOf(byRegion, new Date().toISOString().slice(0, 10));
  writeFileSync(SNAPSHOT_PATH, `${JSON.stringify(snapshot, null, 2)}\n`);
  process.stderr.write(
    `wrote ${SNAPSHOT_PATH}: ${[...types].join(', ')} in ${Object.keys(snapshot.prices).length} regions\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  main().catch((error: unknown) => {
    process.stderr.write(`refresh-prices: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
