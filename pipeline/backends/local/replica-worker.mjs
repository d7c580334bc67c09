// Worker threads do not share the parent's TypeScript loader: register tsx here, then load the replica.
import { register } from 'tsx/esm/api';

register();
await import('./replica-worker.ts');
