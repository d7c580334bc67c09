import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { Reporter } from '../../console-reporter.js';
import { StageFailedError } from '../../errors.js';
import type { Sleep } from '../../util/time.js';

const EARLY_REFRESH_MS = 5 * 60 * 1000;

/**
 * The default credential chain, shared by every client, fetched again when the credentials are within
 * five minutes of expiring or when `refresh()` is called (after AWS answers ExpiredToken mid-wait), so a
 * job that outlives one set of credentials does not fail the stage.
 */
export function refreshingCredentials(source: AwsCredentialIdentityProvider = fromNodeProviderChain()): {
  provider: AwsCredentialIdentityProvider;
  refresh: () => Promise<void>;
} {
  let current: Promise<AwsCredentialIdentity> | undefined;
  const provider: AwsCredentialIdentityProvider = async () => {
    const cached = current === undefined ? undefined : await current.catch(() => undefined);
    const expiresSoon =
      cached?.expiration !== undefined && cached.expiration.getTime() - Date.now() < EARLY_REFRESH_MS;
    if (cached === undefined || expiresSoon) current = source();
    return current as Promise<AwsCredentialIdentity>;
  };
  return {
    provider,
    refresh: async () => {
      current = source();
      await current;
    },
  };
}

const MAX_CREDENTIAL_REFRESHES = 5;

/** AWS's answers for credentials that ran out (STS session ended) or a provider that could not renew them. */
function isExpiredCredentials(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return name === 'ExpiredTokenException' || name === 'ExpiredToken' || name === 'CredentialsProviderError';
}

/**
 * One call of a long wait (Describe*Job): when AWS answers that the credentials expired, refreshes them and
 * calls again, at most 5 times in a row and backing off (1, 2, 4, 8, 16 s), so a source that keeps handing
 * out expired credentials fails clearly instead of spinning. Without `refresh`, errors pass through.
 */
export async function withFreshCredentials<T>(
  call: () => Promise<T>,
  options: {
    refresh?: (() => Promise<void>) | undefined;
    sleep: Sleep;
    reporter: Reporter;
    waitingFor: string;
  },
): Promise<T> {
  for (let refreshes = 0; ; ) {
    try {
      return await call();
    } catch (error) {
      if (!isExpiredCredentials(error) || options.refresh === undefined) throw error;
      if (++refreshes > MAX_CREDENTIAL_REFRESHES)
        throw new StageFailedError(
          `AWS credentials were still expired after ${MAX_CREDENTIAL_REFRESHES} refreshes while waiting for ${options.waitingFor}: check the role session duration`,
          { cause: error },
        );
      const backoffMs = 1000 * 2 ** (refreshes - 1);
      options.reporter.info(
        `AWS credentials expired while waiting: refreshing them (${refreshes}/${MAX_CREDENTIAL_REFRESHES}, after ${backoffMs / 1000}s)`,
      );
      await options.sleep(backoffMs);
      await options.refresh();
    }
  }
}
