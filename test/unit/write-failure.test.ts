import { expect } from 'chai';
import { SconesError } from '../../pipeline/errors.js';
import { writeFailure } from '../../pipeline/util/files.js';

/** A Node fs error as write(2) or open(2) raise it: code, errno, syscall, and a message without the path. */
const fsError = (code: string, syscall = 'write') =>
  Object.assign(new Error(`${code}: failed, ${syscall}`), { code, syscall });

describe('writeFailure: a write the disk refused names the path and what to do', () => {
  for (const [code, advice, relocate] of [
    [
      'ENOSPC',
      /no space left on the device: free space on it \(or set workDir to a folder on another disk\)/,
      'workDir',
    ],
    ['EDQUOT', /the disk quota is used up/, 'workDir'],
    [
      'EROFS',
      /the file system is read-only: set data\.cifar100\.cacheDir to a writable folder/,
      'data.cifar100.cacheDir',
    ],
    ['EACCES', /permission denied: make the folder writable for this user/, 'workDir'],
  ] as const)
    it(`${code}: a SconesError (exit 1) naming the path, the advice and the code, with the cause kept`, () => {
      const cause = fsError(code);
      const error = writeFailure('/work/.scones/runs/r1/manifest.json', cause, relocate);
      expect(error).to.be.instanceOf(SconesError);
      const message = (error as SconesError).message;
      expect(message).to.include('could not write /work/.scones/runs/r1/manifest.json: ');
      expect(message)
        .to.match(advice)
        .and.to.match(new RegExp(`then run again \\(${code}\\)$`));
      expect((error as SconesError).exitCode).to.equal(1);
      expect((error as Error).cause).to.equal(cause);
    });

  it('returns any other error unchanged: a bug or a conflict is not a full disk', () => {
    for (const other of [fsError('EISDIR', 'open'), new TypeError('x is not a function'), 'a string'])
      expect(writeFailure('/p', other)).to.equal(other);
  });
});
