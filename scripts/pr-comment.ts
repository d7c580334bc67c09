/**
 * Writes the pull request's model-feedback comment (Markdown) from the PR's evaluation and main's.
 *   node --import tsx scripts/pr-comment.ts --pr FILE [--main FILE] [--preview FILE] [--report-url URL] [--note TEXT] --out FILE
 * FILE: an evaluation record, a run manifest or a monitor report's report.json. Exit 2 on bad input.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prCommentBody, readEvaluation, readMainEvaluation } from '../pipeline/report/pr-comment.js';
import { fixedLimit, readCheckedFile } from '../pipeline/util/files.js';

/** A document the run wrote, checked before it is read (a FIFO would hang the job, a huge file fill memory). */
function read(path: string, flag: string): string {
  return readCheckedFile(path, `${flag} ${path}`, {
    maxBytes: 64 * 1024 * 1024,
    overLimit: fixedLimit('a run document', 'pass the file the run wrote'),
    expected: 'a file: pass the file the run wrote',
  }).toString('utf8');
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
      : { previewMarkdown: read(values.preview, '--preview') }),
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
