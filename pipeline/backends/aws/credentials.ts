import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

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
