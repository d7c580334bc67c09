import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { SconesError } from '../../errors.js';

/** Network limits every aws client gets, so a silent endpoint fails the stage instead of hanging it. */
export interface AwsClientLimits {
  /** Milliseconds to establish a connection. */
  connectionTimeoutMs: number;
  /** Milliseconds for a whole request and response, once connected. */
  requestTimeoutMs: number;
  /** Attempts per call, the first included (the SDK's standard retry strategy, with backoff). */
  maxAttempts: number;
  /** A fixed delay between attempts instead of the standard backoff; tests pass 0 to retry at once. */
  retryDelayMs?: number;
}

/**
 * Worst case per call: 4 x (3 s + 10 s) plus the standard strategy's sub-second backoff, under a minute.
 * Long waits (training, stacks, executions) poll with short calls, so they keep their own overall limits.
 */
export const AWS_CLIENT_LIMITS: AwsClientLimits = {
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 10_000,
  maxAttempts: 4,
};

/** The longest one call can take under these limits, before backoff. */
export function worstCaseCallMs(limits: AwsClientLimits = AWS_CLIENT_LIMITS): number {
  return limits.maxAttempts * (limits.connectionTimeoutMs + limits.requestTimeoutMs);
}

/** Constructor options shared by every aws client: region, credentials, timeouts and bounded retries. */
export function awsClientConfig(
  region: string,
  credentials: AwsCredentialIdentityProvider | undefined,
  limits: AwsClientLimits = AWS_CLIENT_LIMITS,
) {
  return {
    region,
    ...(credentials === undefined ? {} : { credentials }),
    ...(limits.retryDelayMs === undefined
      ? { maxAttempts: limits.maxAttempts }
      : { retryStrategy: new ConfiguredRetryStrategy(limits.maxAttempts, limits.retryDelayMs) }),
    requestHandler: {
      connectionTimeout: limits.connectionTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

/**
 * Turns the SDK's TimeoutError (after all retries) into an error naming the service and the call, e.g.
 * "CloudFormation DescribeStacks did not answer in 4 attempts of 10 s".
 */
export function nameTimeouts<C>(client: C, service: string, limits: AwsClientLimits = AWS_CLIENT_LIMITS): C {
  (client as unknown as MiddlewareClient).middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const call = (context.commandName ?? 'a request').replace(/Command$/, '');
        const named = namedFailure(error, service, call);
        if (named !== undefined) throw named;
        if ((error as Error).name !== 'TimeoutError') throw error;
        throw new SconesError(
          `${service} ${call} did not answer in ${limits.maxAttempts} attempts of ${limits.requestTimeoutMs / 1000} s: check the network path to ${service} (proxy, VPC endpoint, AWS_ENDPOINT_URL)`,
          { cause: error },
        );
      }
    },
    { step: 'initialize', name: 'sconesNameTimeouts' },
  );
  return client;
}

/** A CloudFormation client with the backend's timeouts and retries (bootstrap and teardown use it too). */
export function createCloudFormationClient(
  region: string,
  credentials?: AwsCredentialIdentityProvider,
  limits: AwsClientLimits = AWS_CLIENT_LIMITS,
): CloudFormationClient {
  return nameTimeouts(
    new CloudFormationClient(awsClientConfig(region, credentials, limits)),
    'CloudFormation',
    limits,
  );
}

/**
 * The SDK's bare "Could not load credentials from any providers" and "getaddrinfo ENOTFOUND host" as
 * errors saying where the SDK looked, which host did not resolve, and what to set.
 */
function namedFailure(error: unknown, service: string, call: string): SconesError | undefined {
  const failure = error as { name?: string; code?: string; hostname?: string; message?: string };
  if (failure.name === 'CredentialsProviderError') {
    const home = process.env.HOME ?? '~';
    const credentialsFile = process.env.AWS_SHARED_CREDENTIALS_FILE ?? `${home}/.aws/credentials`;
    const configFile = process.env.AWS_CONFIG_FILE ?? `${home}/.aws/config`;
    return new SconesError(
      `${service} ${call}: no AWS credentials found. The SDK's default chain looked in the environment ` +
        '(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), in ' +
        `${credentialsFile} and ${configFile} (profile ${process.env.AWS_PROFILE ?? 'default'}, SSO included), ` +
        'for a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, as GitHub OIDC sets), and at ' +
        'the container and instance metadata endpoints. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or ' +
        'AWS_PROFILE (after `aws configure` or `aws sso login`); in GitHub Actions, configure-aws-credentials',
      { cause: error },
    );
  }
  if (failure.code === 'ENOTFOUND' || failure.code === 'EAI_AGAIN') {
    const host =
      failure.hostname ?? /(?:ENOTFOUND|EAI_AGAIN) (\S+)/.exec(failure.message ?? '')?.[1] ?? 'its host';
    return new SconesError(
      `${service} ${call}: the host name ${host} does not resolve (DNS ${failure.code}): check the network ` +
        'and DNS, the configured region, and AWS_ENDPOINT_URL if set',
      { cause: error },
    );
  }
  return undefined;
}
