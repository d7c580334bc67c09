import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Writes the body to `path` and returns the MD5 of what was written, in hex. */
export async function writeHashed(body: Buffer | Readable, path: string): Promise<string> {
  if (Buffer.isBuffer(body)) {
    writeFileSync(path, body);
    return createHash('md5').update(body).digest('hex');
  }
  const md5 = createHash('md5');
  await writeFileFrom(path, (file) =>
    pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          md5.update(chunk);
          yield chunk;
        }
      },
      file,
    ),
  );
  return md5.digest('hex');
}

/**
 * Creates the file at `path` and lets `write` fill it (typically `pipeline(source, ..., file)`). On failure
 * it settles only once the file is closed: `pipeline` rejects on the first error without waiting for the
 * file's open, so a source that fails at once would otherwise have the caller's cleanup run before the
 * file exists, and the file appear after it.
 */
export async function writeFileFrom(
  path: string,
  write: (file: WriteStream) => Promise<void>,
): Promise<void> {
  const file = createWriteStream(path);
  try {
    await write(file);
  } catch (error) {
    if (!file.closed) {
      const closed = new Promise<void>((resolve) => file.once('close', () => resolve()));
      file.destroy();
      await closed;
    }
    throw error;
  }
}
