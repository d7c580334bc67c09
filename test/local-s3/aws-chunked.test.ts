import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodeAwsChunked } from '../../pipeline/local-s3/http.js';

/** Frames `data` as aws-chunked, in chunks of `size`, signed or not, with trailers. */
function frame(data: Buffer, size: number, signed: boolean, trailers: string[]): Buffer {
  const parts: Buffer[] = [];
  const extension = signed ? `;chunk-signature=${'a'.repeat(64)}` : '';
  for (let at = 0; at < data.length; at += size) {
    const chunk = data.subarray(at, at + size);
    parts.push(Buffer.from(`${chunk.length.toString(16)}${extension}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${extension}\r\n${trailers.map((t) => `${t}\r\n`).join('')}\r\n`));
  return Buffer.concat(parts);
}

async function decode(pieces: Buffer[]): Promise<{ data: Buffer; trailers: Map<string, string> }> {
  const trailers = new Map<string, string>();
  const out: Buffer[] = [];
  for await (const chunk of decodeAwsChunked(
    (async function* () {
      yield* pieces;
    })(),
    trailers,
  ))
    out.push(chunk);
  return { data: Buffer.concat(out), trailers };
}

describe('aws-chunked decoding: whatever way the network splits the body', () => {
  it('recovers the bytes and trailers with the body cut at every position', async () => {
    const data = randomBytes(300);
    for (const signed of [false, true]) {
      const body = frame(data, 64, signed, ['x-amz-checksum-crc32:AAAAAA==', 'x-amz-trailer-signature:abc']);
      for (let cut = 0; cut <= body.length; cut++) {
        const decoded = await decode([body.subarray(0, cut), body.subarray(cut)]);
        expect(decoded.data.equals(data), `cut at ${cut}`).to.equal(true);
        expect(decoded.trailers.get('x-amz-checksum-crc32')).to.equal('AAAAAA==');
      }
      // One byte at a time.
      const bytewise = await decode([...body].map((byte) => Buffer.from([byte])));
      expect(bytewise.data.equals(data)).to.equal(true);
    }
  });

  it('refuses framing that lies about its sizes or stops early', async () => {
    const good = frame(Buffer.from('hello world'), 4, false, []);
    for (const broken of [
      good.subarray(0, good.length - 10), // stops inside the data
      Buffer.from('5\r\nhello world\r\n0\r\n\r\n'), // more data than the size said
      Buffer.from('zz\r\nhello\r\n0\r\n\r\n'), // not a hex size
      Buffer.concat([good, Buffer.from('extra')]), // bytes after the end
      Buffer.from('5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhC'), // stops inside the trailer
    ]) {
      let failed = false;
      try {
        await decode([broken]);
      } catch (error) {
        failed = true;
        expect((error as { code?: string }).code).to.equal('IncompleteBody');
      }
      expect(failed, JSON.stringify(broken.toString())).to.equal(true);
    }
  });
});
