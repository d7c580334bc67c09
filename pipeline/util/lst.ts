import { isAbsolute, normalize } from 'node:path';
import { InputError } from '../errors.js';

/** One line of SageMaker's image-classification list format: `index<TAB>label<TAB>path`. */
export interface LstEntry {
  index: number;
  label: number;
  path: string;
  line: number;
}

/** Parses a `.lst` file; every problem names the file and the line. Paths may not leave their folder. */
export function parseLst(text: string, file: string): LstEntry[] {
  const entries: LstEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const fields = raw.split('\t');
    if (fields.length !== 3)
      throw new InputError(
        `${file} line ${line}: expected 3 tab-separated fields (index, label, path), found ${fields.length}`,
      );
    const [indexText, labelText, path] = fields as [string, string, string];
    const index = Number(indexText);
    const label = Number(labelText);
    if (!Number.isInteger(index) || index < 0)
      throw new InputError(`${file} line ${line}: index "${indexText}" is not a non-negative integer`);
    if (!Number.isInteger(label) || label < 0)
      throw new InputError(
        `${file} line ${line}: label "${labelText}" is not a non-negative integer class id`,
      );
    const normalized = normalize(path);
    if (path === '' || isAbsolute(path) || normalized.startsWith('..'))
      throw new InputError(
        `${file} line ${line}: path "${path}" must be relative and stay inside the image folder`,
      );
    entries.push({ index, label, path: normalized, line });
  });
  return entries;
}

/** Formats entries as a `.lst` file (trailing newline, tabs, as SageMaker reads it). */
export function formatLst(entries: readonly { index: number; label: number; path: string }[]): string {
  return entries.map((e) => `${e.index}\t${e.label}\t${e.path}\n`).join('');
}
