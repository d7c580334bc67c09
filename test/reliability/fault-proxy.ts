import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'http500' | 'http503' | 'slowDown' | 'drop';

/**
 * An HTTP proxy on 127.0.0.1 in front of the local object store that fails every `every`-th request with
 * the next fault of a fixed rotation, before the request reaches the store. It counts successful PUTs
 * per key upstream, so a test can check that nothing was stored twice.
 */
export async function startFaultProxy(
  upstream: string,
  every: number,
): Promise<{
  endpoint: string;
  injected: Record<Fault, number>;
  putsByKey: Map<string, number>;
  bodies: Map<string, string>;
  stop(): Promise<void>;
}> {
  const target = new URL(upstream);
  const faults: Fault[] = ['http500', 'http503', 'slowDown', 'drop'];
  const injected: Record<Fault, number> = { http500: 0, http503: 0, slowDown: 0, drop: 0 };
  const putsByKey = new Map<string, number>();
  const bodies = new Map<string, string>();
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (count % every === 0) {
        const fault = faults[Math.floor(count / every) % faults.length] as Fault;
        injected[fault]++;
        if (fault === 'drop') {
          req.socket.destroy();
          return;
        }
        const [status, code] =
          fault === 'http500'
            ? [500, 'InternalError']
            : fault === 'http503'
              ? [503, 'ServiceUnavailable']
              : [503, 'SlowDown'];
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${fault}</Message></Error>`,
        );
        return;
      }
      const body = Buffer.concat(chunks);
      const forward = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (upstreamResponse) => {
          if (
            req.method === 'PUT' &&
            upstreamResponse.statusCode === 200 &&
            !(req.url ?? '').includes('uploadId')
          ) {
            const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
            putsByKey.set(key, (putsByKey.get(key) ?? 0) + 1);
            bodies.set(key, createHash('md5').update(body).digest('hex'));
          }
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    putsByKey,
    bodies,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
