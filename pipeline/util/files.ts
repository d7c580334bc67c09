import { createWriteStream, type WriteStream } from 'node:fs';

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
