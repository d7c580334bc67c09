/**
 * What one PNG bomb costs the endpoint's decode path: `node --import tsx bench/png-bomb.ts <side> <old|new>`.
 * `old` decodes up to 4096x4096 and resizes from full-size floats; `new` is the endpoint's path (limit set
 * by the model's input side, block shrink before any float copy). Prints time per image and memory.
 * `--smoke`: a 256x256 image through the endpoint's path.
 */
import { PNG } from 'pngjs';
import { imageToInput } from '../pipeline/backends/local/model.js';
import { initTensorflow } from '../pipeline/backends/local/tf.js';
import { decodeImage, endpointPixelLimit, shrinkByBlocks } from '../pipeline/data/image.js';

await initTensorflow();
const smoke = process.argv.includes('--smoke');
const [sideArg, mode = 'new'] = process.argv.slice(2).filter((a) => a !== '--smoke');
const side = Number(sideArg ?? (smoke ? 256 : Number.NaN));
if (!Number.isInteger(side) || side < 1 || !['old', 'new'].includes(mode)) {
  process.stderr.write('usage: node --import tsx bench/png-bomb.ts <side> <old|new> (or --smoke)\n');
  process.exit(2);
}
const png = new PNG({ width: side, height: side });
png.data.fill(200);
const bomb = PNG.sync.write(png);
const before = process.memoryUsage().rss;
const t = performance.now();
for (let i = 0; i < 3; i++) {
  if (mode === 'old') imageToInput(decodeImage(bomb, 'x', 4096 * 4096), 32);
  else imageToInput(shrinkByBlocks(decodeImage(bomb, 'x', endpointPixelLimit(32)), 32), 32);
}
console.log(
  JSON.stringify({
    side,
    mode,
    bytes: bomb.length,
    msEach: Math.round((performance.now() - t) / 3),
    rssGrowthMB: Math.round((process.memoryUsage().rss - before) / 1e6),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1e3),
  }),
);
