/**
 * Builds the three Lambda zips into outDir (default dist/lambdas) and prints their names and sizes.
 *
 *   node --import tsx scripts/bundle-lambdas.ts [outDir]
 */
import { bundleLambdas } from '../pipeline/templates/lambda-bundles.js';

bundleLambdas(process.argv[2]).then(
  (bundles) => {
    for (const b of bundles) process.stdout.write(`${b.zipName}\t${(b.zipBytes / 1024).toFixed(1)} KiB\n`);
  },
  (error: unknown) => {
    process.stderr.write(`bundle-lambdas: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
