#!/usr/bin/env node
// The `scones` command: runs the TypeScript CLI through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

// The SDK warns on every command that Node 20 support ends in 2027; the README says so once instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../pipeline/cli.ts');
const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
// main has closed and unlocked; a stage abandoned on an interrupt or on the store's death must not keep
// the process alive.
if (exitCode !== 0) process.exit(exitCode);
