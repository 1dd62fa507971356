/** `npm run bench`: every benchmark, one after the other, printing figures (nothing is asserted). */
import { benchE2e } from './e2e.ts';
import { benchPollDelay } from './poll-delay.ts';
import { benchReplay } from './replay.ts';

console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} CPUs\n`);
await benchReplay();
console.log();
await benchE2e();
console.log();
await benchPollDelay();
process.exit(0);
