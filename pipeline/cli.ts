import { type Command, CommanderError } from 'commander';
import { writeErrorDocument } from './cli/actions.js';
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
      // Commander has printed the message on stderr; with --json, scripts get the error document too.
      if (asksForJson(argv))
        writeErrorDocument(
          io,
          commandOf(program, argv),
          error.message.replace(/^error: /, ''),
          ExitCode.Usage,
        );
      return ExitCode.Usage;
    }
    throw error;
  }
  return exitCode;
}

/** Whether the command line has --json, read before (or without) commander: its parse failed. */
function asksForJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** The command the command line names (its first word), or `scones` when it names none. */
function commandOf(program: Command, argv: readonly string[]): string {
  const name = argv.find((arg) => !arg.startsWith('-'));
  return program.commands.find((command) => command.name() === name)?.name() ?? 'scones';
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
