/**
 * Writes the pull request's model-feedback comment (Markdown) from the PR's evaluation and main's.
 *   node --import tsx scripts/pr-comment.ts --pr FILE [--main FILE] [--preview FILE] [--report-url URL] [--note TEXT] --out FILE
 * FILE: an evaluation record, a run manifest or a monitor report's report.json. Exit 2 on bad input.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prCommentBody, readEvaluation, readMainEvaluation } from '../pipeline/report/pr-comment.js';

function read(path: string, flag: string): string {
  if (!existsSync(path)) throw new Error(`${flag} ${path} does not exist: pass the file the run wrote`);
  return readFileSync(path, 'utf8');
}

try {
  const { values } = parseArgs({
    options: {
      pr: { type: 'string' },
      main: { type: 'string' },
      preview: { type: 'string' },
      'report-url': { type: 'string' },
      note: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (values.pr === undefined || values.out === undefined)
    throw new Error('--pr FILE and --out FILE are required');
  const body = prCommentBody({
    pr: readEvaluation(read(values.pr, '--pr'), values.pr),
    ...(values.main === undefined
      ? {}
      : { main: readMainEvaluation(read(values.main, '--main'), values.main) }),
    ...(values.preview === undefined || !existsSync(values.preview)
      ? {}
      : { previewMarkdown: readFileSync(values.preview, 'utf8') }),
    ...(values['report-url'] === undefined || values['report-url'] === ''
      ? {}
      : { reportUrl: values['report-url'] }),
    ...(values.note === undefined || values.note === '' ? {} : { runNote: values.note }),
  });
  writeFileSync(values.out, body);
} catch (error) {
  process.stderr.write(`pr-comment: ${(error as Error).message}\n`);
  process.exitCode = 2;
}
