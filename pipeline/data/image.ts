import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { type ImageFormat, sniffImageFormat } from '../contracts/image-format.js';
import { InputError } from '../errors.js';

/** Decoded pixels, always 4 channels (RGBA) row-major, whatever the file held. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

// The sniffer is the endpoint's contract, shared with the Lambdas.
export { type ImageFormat, sniffImageFormat };

/** Width and height from the header alone, so oversized images are refused before any pixel is allocated. */
export function imageDimensions(bytes: Uint8Array, format: ImageFormat): { width: number; height: number } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    // IHDR is always the first chunk: length(4) type(4) width(4) height(4).
    if (buffer.length < 24 || buffer.toString('latin1', 12, 16) !== 'IHDR')
      throw new Error('PNG without an IHDR header');
    return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20) };
  }
  // JPEG: walk the markers to the first start-of-frame.
  let offset = 2;
  while (offset + 9 < buffer.length) {
    if (buffer[offset] !== 0xff) throw new Error('JPEG marker expected');
    const marker = buffer[offset + 1] as number;
    const length = buffer.readUInt16BE(offset + 2);
    const isStartOfFrame =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isStartOfFrame)
      return { height: buffer.readUInt16BE(offset + 5), width: buffer.readUInt16BE(offset + 7) };
    offset += 2 + length;
  }
  throw new Error('JPEG without a frame header');
}

/**
 * Decodes a PNG or JPEG (RGB, RGBA, grayscale, palette) to RGBA. `where` names the input in errors;
 * images over `maxPixels` are refused from their header.
 */
export function decodeImage(
  bytes: Uint8Array,
  where: string,
  maxPixels: number,
  limitName = 'data.maxImagePixels',
): RgbaImage & { format: ImageFormat } {
  if (bytes.length === 0)
    throw new InputError(`${where} is empty (0 bytes): replace it with a PNG or JPEG image`);
  const format = sniffImageFormat(bytes);
  if (format === undefined)
    throw new InputError(`${where} is not a PNG or JPEG image: remove it from the folder or convert it`);
  let dims: { width: number; height: number };
  try {
    dims = imageDimensions(bytes, format);
  } catch (error) {
    throw new InputError(
      `${where} is a corrupt ${format.toUpperCase()} (${(error as Error).message}): replace it`,
    );
  }
  if (dims.width === 0 || dims.height === 0)
    throw new InputError(`${where} declares an empty image (${dims.width}x${dims.height}): replace it`);
  if (dims.width * dims.height > maxPixels)
    throw new InputError(
      `${where} declares ${dims.width}x${dims.height} pixels, over the limit of ${maxPixels} ` +
        `(${limitName}): refused before decoding; resize the image${limitName.startsWith('data.') ? ' or raise the limit' : ''}`,
    );
  try {
    if (format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      // A view, not a copy: at 4096x4096 a copy is another 64 MB.
      const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
      return { format, width: png.width, height: png.height, data };
    }
    const decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: Math.ceil(maxPixels / 1_000_000),
      // Room for the pixels allowed and jpeg-js's working buffers, not a fixed gigabyte.
      maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 16) / 1_000_000)),
    });
    return { format, width: decoded.width, height: decoded.height, data: decoded.data };
  } catch (error) {
    throw new InputError(
      `${where} is a corrupt ${format.toUpperCase()} (${(error as Error).message}): replace it`,
    );
  }
}

/**
 * The most pixels an endpoint whose model reads `side`x`side` inputs decodes: 64 times the side each
 * way (2048x2048 for 32x32), so one input pixel averages at most 4096 image pixels. Past that, more
 * pixels change nothing the model sees, and cost memory (16 MB of RGBA at this limit, 64 MB at 4096x4096).
 */
export function endpointPixelLimit(side: number): number {
  return Math.min(4096 * 4096, (side * 64) ** 2);
}

/**
 * Shrinks an image by averaging whole blocks of pixels until neither side exceeds `4 * side`, in one
 * pass over the bytes. The model's own resize then works on a small image: without this, a 2048x2048
 * request became 50 MB of floats and a tensor as large again before reaching 32x32.
 */
export function shrinkByBlocks(image: RgbaImage, side: number): RgbaImage {
  const factor = Math.floor(Math.max(image.width, image.height) / (4 * side));
  if (factor < 2) return image;
  const width = Math.max(1, Math.floor(image.width / factor));
  const height = Math.max(1, Math.floor(image.height / factor));
  const sums = new Uint32Array(width * 4);
  const data = new Uint8Array(width * height * 4);
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = (y * factor + dy) * image.width * 4;
      let source = row;
      for (let target = 0; target < width * 4; target += 4) {
        for (let k = 0; k < factor; k++, source += 4) {
          (sums[target] as number) += image.data[source] as number;
          (sums[target + 1] as number) += image.data[source + 1] as number;
          (sums[target + 2] as number) += image.data[source + 2] as number;
          (sums[target + 3] as number) += image.data[source + 3] as number;
        }
      }
    }
    for (let i = 0; i < width * 4; i++) data[y * width * 4 + i] = Math.round((sums[i] as number) / area);
  }
  return { width, height, data };
}

/**
 * Resizes to `width` x `height` by bilinear interpolation, as tf.image.resizeBilinear does by default
 * (source coordinate = target coordinate x in/out, corners not aligned, no half-pixel centres), rounded
 * to bytes. Deterministic: the same image always gives the same pixels.
 */
export function resizeBilinear(image: RgbaImage, width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  const scaleY = image.height / height;
  const scaleX = image.width / width;
  for (let y = 0; y < height; y++) {
    const sy = y * scaleY;
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = x * scaleX;
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const fx = sx - x0;
      for (let c = 0; c < 4; c++) {
        const at = (yy: number, xx: number) => image.data[(yy * image.width + xx) * 4 + c] as number;
        const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
        const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
        data[(y * width + x) * 4 + c] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return { width, height, data };
}

/** Encodes RGBA pixels as an RGB PNG (alpha dropped: the classifier sees three channels). Deterministic. */
export function encodePng(image: RgbaImage): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: 2 });
}

/** Builds RGBA from planar RGB (CIFAR's layout: 1024 red, then 1024 green, then 1024 blue bytes). */
export function rgbaFromPlanar(planar: Uint8Array, width: number, height: number): RgbaImage {
  const pixels = width * height;
  const data = new Uint8Array(pixels * 4);
  for (let i = 0; i < pixels; i++) {
    data[i * 4] = planar[i] as number;
    data[i * 4 + 1] = planar[pixels + i] as number;
    data[i * 4 + 2] = planar[2 * pixels + i] as number;
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}
