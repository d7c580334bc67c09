import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type CliIo, main } from '../../pipeline/cli.js';
import { type Config, loadConfig } from '../../pipeline/config.js';
import { PlainReporter } from '../../pipeline/console-reporter.js';

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'scones-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A writable stream that keeps what was written. */
export class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** A reporter whose lines are kept for assertions. */
export function captureReporter(): { reporter: PlainReporter; stream: Capture } {
  const stream = new Capture();
  return { reporter: new PlainReporter({ stream, plainIntervalSeconds: 3600 }), stream };
}

/** Runs the CLI in-process with captured output. */
export async function runCli(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = {
    stdout,
    stderr,
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
  };
  const code = await main(args, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A validated configuration with overrides, as the CLI would build it. */
export function testConfig(overrides: Record<string, unknown>): Config {
  return loadConfig({ env: {}, overrides, cwd: tmpdir() }).config;
}
