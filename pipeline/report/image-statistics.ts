import type { RgbaImage } from '../data/image.js';

/** What an image says about itself, for input drift: size, brightness, contrast and colour. */
export interface ImageStatistics {
  /** Width x height. */
  pixels: number;
  /** Mean luma (Rec. 601 weights), 0..1. */
  brightness: number;
  /** Standard deviation of luma, 0..0.5. */
  contrast: number;
  /** Mean HSV saturation, 0..1: 0 for grey images. */
  saturation: number;
}

export const IMAGE_FEATURES = ['pixels', 'brightness', 'contrast', 'saturation'] as const;
export type ImageFeature = (typeof IMAGE_FEATURES)[number];

export function imageStatistics(image: RgbaImage): ImageStatistics {
  const pixels = image.width * image.height;
  let lumaSum = 0;
  let lumaSquares = 0;
  let saturationSum = 0;
  for (let i = 0; i < pixels; i++) {
    const r = (image.data[i * 4] as number) / 255;
    const g = (image.data[i * 4 + 1] as number) / 255;
    const b = (image.data[i * 4 + 2] as number) / 255;
    const luma = 0.299 * r + 0.587 * g + 0.114 * b;
    lumaSum += luma;
    lumaSquares += luma * luma;
    const max = Math.max(r, g, b);
    saturationSum += max === 0 ? 0 : (max - Math.min(r, g, b)) / max;
  }
  const brightness = pixels === 0 ? 0 : lumaSum / pixels;
  const variance = pixels === 0 ? 0 : Math.max(0, lumaSquares / pixels - brightness * brightness);
  return {
    pixels,
    brightness,
    contrast: Math.sqrt(variance),
    saturation: pixels === 0 ? 0 : saturationSum / pixels,
  };
}
