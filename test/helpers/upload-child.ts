/**
 * A child process for the kill -9 resume test: uploads a file with a checkpoint, one part at a
 * time, so the parent can kill it between parts. Args: endpoint bucket key file checkpoint partSize.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY } from '../../lib/local/server.ts';
import { createTosClient } from '../../lib/tos/client.ts';
import { tosUploadStream } from '../../transforms/tos-upload-stream.ts';

const [endpoint, bucket, key, file, checkpoint, partSize] = process.argv.slice(2);
const client = createTosClient({ accessKeyId: LOCAL_ACCESS_KEY, secretAccessKey: LOCAL_SECRET_KEY, region: LOCAL_REGION, tosEndpoint: endpoint! });
const upload = tosUploadStream({ client, bucket: bucket!, key: key!, checkpoint, partSize: Number(partSize), minPartSize: 1024, concurrency: 1 });
await pipeline(createReadStream(file!), upload);
