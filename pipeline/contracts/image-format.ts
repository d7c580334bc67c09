/** The image formats the endpoint accepts, recognised by their magic bytes (PNG: 8-byte signature; JPEG: SOI + marker). */
export type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** PNG or JPEG from the first bytes; undefined for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((byte, i) => bytes[i] === byte))
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** The Content-Type sent to InvokeEndpoint for each format. */
export const IMAGE_CONTENT_TYPES = { png: 'image/png', jpeg: 'image/jpeg' } as const satisfies Record<
  ImageFormat,
  string
>;
export type ImageContentType = (typeof IMAGE_CONTENT_TYPES)[ImageFormat];
