#!/usr/bin/env node
// The `scones` command runs the compiled CLI (scripts/build-cli.mjs: built by `npm ci`, rebuilt here
// whenever a source changed), so a command starts without compiling TypeScript. If the bundle cannot be
// built (dist/ not writable), it runs the sources through tsx, as before, only slower to start.
import { createRequire } from 'node:module';

// An older Node fails deep inside a stage (a Lambda worker, the state machine); refuse here instead, naming
// the floor that package.json's engines sets and the Node that npm ci installs beside the project.
const floor = Number(/\d+/.exec(createRequire(import.meta.url)('../package.json').engines.node)[0]);
if (Number(process.versions.node.split('.')[0]) < floor) {
  process.stderr.write(
    `scones: Node ${process.version} is older than ${floor}, the oldest this project supports (package.json engines). ` +
      `Run it through npm (npm start, npx scones ...), which uses the Node ${floor} that npm ci installs in node_modules, or install Node ${floor} (.nvmrc).\n`,
  );
  process.exit(2);
}
let cli;
try {
  const { compiledCli } = await import('../scripts/build-cli.mjs');
  cli = await import(await compiledCli());
} catch (error) {
  process.stderr.write(`scones: no compiled CLI (${error.message.split('\n')[0]}); running the sources\n`);
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../pipeline/cli.ts');
}
const exitCode = await cli.main(process.argv.slice(2));
process.exitCode = exitCode;
// main has closed and unlocked; a stage abandoned on an interrupt or on the store's death must not keep
// the process alive.
if (exitCode !== 0) process.exit(exitCode);
