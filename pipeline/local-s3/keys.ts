import { StoreError } from './errors.js';

/**
 * The store's layout: the one way from an S3 key to a path inside a bucket's folder, and back.
 *
 * Any S3 key can coexist with any other (`a/b` and `a/b/c`, the folder marker `prefix/`, `a//b`), so an
 * object cannot simply be the file at its key's path. Each `/`-separated segment of the key but the last
 * is a folder named after the segment with its `/` written as `%2F`; the last segment is the file, named
 * after the segment itself (`%` for an empty one, the folder marker's). A `%` in a segment is written
 * `%25`, so no file name ends in `%2F` and a file never takes a folder's name:
 * `s3://b/data/cat.png` is `<root>/b/data%2F/cat.png`, `s3://b/data/` is `<root>/b/data%2F/%`.
 * The metadata tree mirrors it, each file's name with `.json` added.
 */
export const MAX_KEY_BYTES = 1024;
/** The longest file name Linux, macOS and Windows file systems keep (NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** What an object's metadata file adds to its name. */
export const METADATA_SUFFIX = '.json';

/** The path of a valid key, relative to its bucket's folder, as `/`-separated names. */
export function keyToPath(key: string): string[] {
  const segments = key.split('/');
  const last = segments.pop() ?? '';
  return [
    ...segments.map((segment) => `${escapeSegment(segment)}%2F`),
    last === '' ? '%' : escapeSegment(last),
  ];
}

/** The key a file's path (relative to its bucket's folder) holds, or undefined for a file the store did not name. */
export function pathToKey(path: string): string | undefined {
  const names = path.split('/');
  const file = names.pop() ?? '';
  const segments: string[] = [];
  for (const folder of names) {
    const segment = folder.endsWith('%2F') ? unescapeName(folder.slice(0, -3)) : undefined;
    if (segment === undefined) return undefined;
    segments.push(segment);
  }
  const last = file === '%' ? '' : file.endsWith('%2F') ? undefined : unescapeName(file);
  if (last === undefined) return undefined;
  const key = [...segments, last].join('/');
  return validKey(key) === undefined ? key : undefined;
}

/**
 * Throws S3's error for a key the store does not keep: over 1024 bytes (`KeyTooLongError`, as S3), or
 * (`InvalidArgument`) a `.` or `..` segment, a NUL, or a segment whose file or folder name would be over
 * the file system's 255 bytes. `.` and `..` are refused because a path resolver anywhere (the SDK, a
 * proxy, a user's shell) may resolve them: the store never meets a key that reads as a way out.
 */
export function checkKey(key: string): void {
  const problem = validKey(key);
  if (problem === 'too-long')
    throw new StoreError(
      'KeyTooLongError',
      400,
      `Your key is too long: ${Buffer.byteLength(key)} bytes; S3 keys are at most ${MAX_KEY_BYTES} bytes.`,
    );
  if (problem !== undefined)
    throw new StoreError(
      'InvalidArgument',
      400,
      `The local store cannot keep the key "${key}": ${problem}. Keys need 1 to ${MAX_KEY_BYTES} bytes, ` +
        `no '.' or '..' path segment, no NUL character, and no segment between '/' over ` +
        `${MAX_NAME_BYTES - METADATA_SUFFIX.length} bytes (a '%' counts 3): each is a file or folder name on disk.`,
    );
}

function validKey(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return 'too-long';
  if (key.includes('\0')) return 'it holds a NUL character';
  const names = keyToPath(key);
  names.push(`${names.pop()}${METADATA_SUFFIX}`); // the longest name a key needs is its metadata file's
  for (const [index, segment] of key.split('/').entries()) {
    if (segment === '.' || segment === '..') return `it has a '${segment}' segment`;
    if (Buffer.byteLength(names[index] ?? '') > MAX_NAME_BYTES)
      return `a segment is over the file system's limit of ${MAX_NAME_BYTES} bytes for a name`;
  }
  return undefined;
}

/** S3's bucket naming rules; they also keep a name from reaching outside the store's folder. */
export function validBucketName(bucket: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) &&
    !bucket.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(bucket) && // not an IP address
    !/^xn--|^sthree-|^amzn-s3-demo-|-s3alias$|--ol-s3$|\.mrap$|--x-s3$|--table-s3$/.test(bucket) &&
    !bucket.includes('.-') &&
    !bucket.includes('-.')
  );
}

function escapeSegment(segment: string): string {
  return segment.replaceAll('%', '%25');
}

/** The segment a name escapes, or undefined when the name is not one `escape` writes. */
function unescapeName(name: string): string | undefined {
  if (/%(?!25)/.test(name)) return undefined;
  return name.replaceAll('%25', '%');
}
