import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { stringify as toYaml } from 'yaml';
import { backendModule } from '../backends/index.js';
import { loadConfig } from '../config.js';
import { createReporter } from '../console-reporter.js';
import { ExitCode, STAGES } from '../constants.js';
import { SconesError, UsageError } from '../errors.js';
import { guarded, lockWorkDir, modelsCommand, rollbackCommand, runCommand } from './actions.js';
import {
  type CliIo,
  configOptions,
  confirm,
  flagOption,
  STAGE_FLAGS,
  STAGE_HELP,
  type StageOptions,
  wholeNumberAtLeast,
  withCommonOptions,
} from './options.js';

/** The command tree (also read by the workflow test, to check every command and flag the workflows use). */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('scones')
    .description('Train, gate, deploy, exercise and monitor the Scones Unlimited image classifier')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run with --help for usage)')
    .version(packageVersion(), '-V, --version', 'print the version of scones');
  /** A command's action, guarded: errors printed and mapped to exit codes (a document too with --json). */
  const guardedAction =
    <O extends StageOptions>(name: string, body: (options: O) => Promise<number>) =>
    async (options: O) =>
      setExit(
        await guarded(io, undefined, { json: options.json === true, stage: () => name }, () => body(options)),
      );

  for (const stage of [...STAGES, 'run'] as const) {
    const command = withCommonOptions(program.command(stage).description(STAGE_HELP[stage]));
    for (const flag of STAGE_FLAGS[stage]) command.addOption(flagOption(flag));
    command.action(async (options: StageOptions) => {
      setExit(await runCommand(stage, options, io));
    });
  }
  withCommonOptions(
    program.command('config').description('print the effective configuration and where it came from'),
  ).action(
    guardedAction('config', async (options) => {
      const { config, sources } = loadConfig(configOptions(options, io));
      const { origins, ignoredEnv } = sources;
      if (options.json === true)
        io.stdout.write(`${JSON.stringify({ config, origins, ignoredEnvironment: ignoredEnv }, null, 2)}\n`);
      else {
        io.stdout.write(toYaml(config));
        const set = Object.entries(origins).filter(([, origin]) => origin !== 'default');
        io.stderr.write(
          `# set outside the defaults: ${set.length === 0 ? 'nothing' : set.map(([k, o]) => `${k} (${o})`).join(', ')}\n`,
        );
        if (ignoredEnv.length > 0)
          io.stderr.write(`# ignored (not configuration keys): ${ignoredEnv.join(', ')}\n`);
      }
      return ExitCode.Ok;
    }),
  );
  withCommonOptions(
    program.command('teardown').description('remove what runs left deployed or stored (asks first)'),
  )
    .option('--yes', 'do not ask for confirmation')
    .option(
      '--keep-runs <n>',
      'local: keep the newest N runs and remove the others (the deployment stays unless --include-deployment)',
      wholeNumberAtLeast(0, '--keep-runs'),
    )
    .option('--include-deployment', 'with --keep-runs: also remove the local deployment')
    .option('--include-bootstrap', 'aws: also delete the bootstrap stack (the bucket is retained)')
    .action(
      guardedAction(
        'teardown',
        async (
          options: StageOptions & {
            yes?: boolean;
            keepRuns?: string;
            includeBootstrap?: boolean;
            includeDeployment?: boolean;
          },
        ) => {
          const { config } = loadConfig(configOptions(options, io));
          const reporter = createReporter({ stream: io.stderr, env: io.env });
          const plan = {
            ...(options.keepRuns === undefined ? {} : { keepRuns: Number(options.keepRuns) }),
            ...(options.includeBootstrap === true ? { includeBootstrap: true } : {}),
            // Pruning runs leaves the endpoint up unless asked; a plain teardown removes it.
            deployment: options.keepRuns === undefined || options.includeDeployment === true,
          };
          const backends = await backendModule(config);
          const targets = backends.teardownPlan(config, plan);
          const listed = `  - ${targets.join('\n  - ')}`;
          if (targets.length === 0) {
            reporter.info('nothing to remove');
            return ExitCode.Ok;
          }
          if (options.yes !== true) {
            const answer = await confirm(io, `This removes:\n${listed}\nContinue? [y/N] `);
            if (answer === 'no terminal')
              throw new UsageError(
                `teardown would remove:\n${listed}\nno terminal to ask: pass --yes to remove them`,
              );
            if (answer === 'no') {
              reporter.info('nothing removed');
              return ExitCode.Ok;
            }
          }
          const lock = await lockWorkDir(config, 'teardown');
          try {
            await backends.teardown(config, plan, reporter);
          } finally {
            lock?.release();
          }
          return ExitCode.Ok;
        },
      ),
    );
  withCommonOptions(
    program.command('bootstrap').description('aws: create the artifact bucket and roles once per account'),
  )
    .option(
      '--github-repository <owner/name>',
      'create GitHub OIDC deploy and preview roles trusted by this repository',
    )
    .option('--existing-oidc-provider-arn <arn>', "use the account's existing GitHub OIDC provider")
    .action(
      guardedAction(
        'bootstrap',
        async (options: StageOptions & { githubRepository?: string; existingOidcProviderArn?: string }) => {
          const { config } = loadConfig(configOptions(options, io));
          // The parsed flags are the bootstrap options: commander leaves a flag not given unset.
          const variables = await (await backendModule(config)).bootstrap(
            config,
            options,
            createReporter({ stream: io.stderr, env: io.env }),
          );
          if (options.json === true) io.stdout.write(`${JSON.stringify(variables)}\n`);
          return ExitCode.Ok;
        },
      ),
    );
  withCommonOptions(
    program
      .command('serve')
      .description('run the local object store and endpoint in the foreground until Ctrl-C'),
  ).action(
    guardedAction('serve', async (options) => {
      const { config } = loadConfig(configOptions(options, io));
      // The store and the deployment are the work directory's: no run may change them meanwhile.
      const { serve } = await backendModule(config);
      if (serve === undefined)
        throw new SconesError(`scones serve runs the local backend only: drop --backend ${config.backend}`);
      const lock = await lockWorkDir(config, 'serve');
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await serve(
        config,
        (info) => {
          if (options.json === true) io.stdout.write(`${JSON.stringify(info)}\n`);
          io.stderr.write(
            `object store  ${info.objectStore} (bucket ${info.bucket}, path-style)\n` +
              `endpoint      ${info.endpoint} (name ${info.endpointName})\n` +
              `credentials   export AWS_ACCESS_KEY_ID=${info.accessKeyId} AWS_SECRET_ACCESS_KEY=${info.secretAccessKey} (valid until Ctrl-C; requests must be signed)\n` +
              `try: aws sagemaker-runtime invoke-endpoint --endpoint-url ${info.endpoint} --endpoint-name ${info.endpointName} --content-type image/png --body fileb://image.png out.json\n` +
              'Ctrl-C stops both.\n',
          );
        },
        stopped,
      ).finally(() => lock?.release());
      return ExitCode.Ok;
    }),
  );
  withCommonOptions(
    program
      .command('models')
      .description('list the model history, newest first, marking the live model (reads only)'),
  ).action(async (options: StageOptions) => {
    setExit(await modelsCommand(options, io));
  });
  withCommonOptions(
    program
      .command('rollback')
      .description(
        'deploy the previous model of the history again (or --to one), without retraining or re-evaluating',
      ),
  )
    .option(
      '--to <training-id>',
      'the model of the history to put live (default: the one before the live one)',
      (value: string) => {
        if (value.trim() === '')
          throw new InvalidArgumentError(
            '--to takes a training id (scones models lists them), not an empty value',
          );
        return value;
      },
    )
    .action(async (options: StageOptions & { to?: string }) => {
      setExit(await rollbackCommand(options, io));
    });

  return program;
}

/** The package's version, for --version, from the package.json beside the sources (no build step copies it). */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return String((JSON.parse(text) as { version?: unknown }).version);
}
