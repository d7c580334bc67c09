import { seededRandom } from '../util/random.js';
import type { ClassInfo, LabeledImage, SourceDataset, Split } from './dataset.js';
import { encodePng } from './image.js';

export interface SyntheticOptions {
  classes: readonly ClassInfo[];
  trainPerClass: number;
  testPerClass: number;
  imageSize: number;
  seed: number;
}

/**
 * A seeded, learnable image set: each class has its own hue (kept under flips and crops, so
 * augmentation does not break it) drawn over random stripes and noise that carry no label.
 */
export function syntheticDataset(options: SyntheticOptions): SourceDataset {
  const random = seededRandom(options.seed);
  const images: LabeledImage[] = [];
  const n = options.classes.length;
  const size = options.imageSize;
  for (const [split, perClass] of [
    ['train', options.trainPerClass],
    ['test', options.testPerClass],
  ] as [Split, number][]) {
    for (const cls of options.classes) {
      for (let i = 0; i < perClass; i++) {
        const hue = (cls.label / n + (random() - 0.5) * (0.5 / n) + 1) % 1;
        const angle = random() * Math.PI;
        const frequency = 0.2 + random() * 0.6;
        const data = new Uint8Array(size * size * 4);
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const stripe = 0.5 + 0.5 * Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) * frequency);
            const value = 0.35 + 0.5 * stripe + (random() - 0.5) * 0.2;
            const [r, g, b] = hsvToRgb(hue, 0.75, Math.min(1, Math.max(0, value)));
            const o = (y * size + x) * 4;
            data[o] = r;
            data[o + 1] = g;
            data[o + 2] = b;
            data[o + 3] = 255;
          }
        }
        images.push({
          split,
          label: cls.label,
          name: `${cls.name}_${split}_${String(i).padStart(5, '0')}.png`,
          png: encodePng({ width: size, height: size, data }),
          width: size,
          height: size,
        });
      }
    }
  }
  return { source: 'synthetic', classes: [...options.classes], images };
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const table: [number, number, number][] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  const [r, g, b] = table[i % 6] as [number, number, number];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}
