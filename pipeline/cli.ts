import { CommanderError } from 'commander';
import type { CliIo } from './cli/options.js';
import { createProgram } from './cli/program.js';
import { ExitCode } from './constants.js';

export type { CliIo } from './cli/options.js';
export { createProgram } from './cli/program.js';

/** Runs the CLI and returns the exit code; never calls process.exit itself. */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = createProgram(io, (code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    // No command is a usage error: the help goes where errors go, and scripts see exit 2.
    program.outputHelp({ error: true });
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code))
        return ExitCode.Ok;
      return ExitCode.Usage;
    }
    throw error;
  }
  return exitCode;
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
