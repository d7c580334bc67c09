import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { handler as serialize } from '../../lambdas/serialize-image-data/index.js';
import { STATE_IMAGE_LIMIT, STATE_PAYLOAD_LIMIT } from '../../pipeline/contracts/limits.js';
import { rejection } from '../helpers/assertions.js';
import { pngBytes } from '../helpers/fixtures.js';

const context = { awsRequestId: 'test-request' };

/** A GetObject answer; ContentLength is absent when S3 streams without it (chunked), so the Lambda must measure. */
const object = (bytes: Uint8Array, withLength: boolean) => ({
  Body: sdkStreamMixin(Readable.from([Buffer.from(bytes)])),
  ...(withLength ? { ContentLength: bytes.length } : {}),
});

/** The smallest noisy RGBA PNG (square) over `bytes`. */
function pngOver(bytes: number): Buffer {
  let side = Math.ceil(Math.sqrt(bytes / 4));
  for (;;) {
    const png = pngBytes(side, side, 3);
    if (png.length > bytes) return png;
    side += 4;
  }
}

describe('serialize-image-data: the Step Functions 256 KiB state payload limit', () => {
  let s3: AwsClientStub<S3Client>;
  before(() => {
    s3 = mockClient(S3Client);
  });
  beforeEach(() => s3.reset());
  after(() => s3.restore());

  it('refuses an image whose encoded state would exceed 256 KiB with StatePayloadTooLarge, with or without ContentLength', async () => {
    const png = pngOver(STATE_IMAGE_LIMIT);
    for (const withLength of [true, false]) {
      s3.on(GetObjectCommand).resolves(object(png, withLength) as never);
      const error = await rejection(serialize({ s3_bucket: 'b', s3_key: 'big.png' }, context));
      expect(error.name).to.equal('StatePayloadTooLarge');
      expect(error.message).to.include('s3://b/big.png').and.include('256 KiB');
    }
  });

  it('passes the largest image that fits, and its state stays within 256 KiB', async () => {
    let side = 8;
    let png = pngBytes(side, side, 3);
    while (pngBytes(side + 4, side + 4, 3).length <= STATE_IMAGE_LIMIT - 200) {
      side += 4;
      png = pngBytes(side, side, 3);
    }
    s3.on(GetObjectCommand).resolves(object(png, true) as never);
    const result = await serialize({ s3_bucket: 'b', s3_key: 'ok.png' }, context);
    expect(Buffer.byteLength(JSON.stringify(result))).to.be.below(STATE_PAYLOAD_LIMIT);
    expect(png.length).to.be.above(STATE_IMAGE_LIMIT / 2);
  });
});
