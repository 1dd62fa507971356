/** `npm run bench`: every benchmark, one after the other, printing figures (nothing is asserted). */
import { benchE2e } from './e2e.ts';
import { benchPollDelay } from './poll-delay.ts';
import { benchReplay } from './replay.ts';

const os = await import('node:os');
// A fixed loop to compare machines: the figures below scale roughly inversely with its time.
let sum = 0;
const t0 = performance.now();
for (let i = 0; i < 1e8; i++) sum += i & 7;
const calib = performance.now() - t0;
console.log(`node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}; calibration loop (1e8 adds) ${calib.toFixed(0)} ms${sum < 0 ? '' : ''}, load average ${os.loadavg()[0]!.toFixed(2)}\n`);
await benchReplay();
console.log();
await benchE2e();
console.log();
await benchPollDelay();
process.exit(0);
