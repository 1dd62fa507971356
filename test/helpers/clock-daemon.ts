/**
 * A child-process daemon whose clock is shifted by VW_TEST_CLOCK_OFFSET_MS, for restart tests of
 * recipients' hours: `node --import tsx test/helpers/clock-daemon.ts start --config F --listen H:P`.
 * Everything else is `vaultwatch start`: same Daemon, same SIGTERM/SIGINT handling, same exit codes.
 * The offset is fixed per test, so a restarted child keeps the same "as if" time.
 */
import { Daemon } from '../../src/app/daemon.ts';

const offset = Number(process.env.VW_TEST_CLOCK_OFFSET_MS ?? '0');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const daemon = await Daemon.start({
  configPath: arg('--config')!,
  ...(arg('--listen') ? { listen: arg('--listen')! } : {}),
  clock: { now: () => Date.now() + offset },
});
const stop = (): void => {
  void daemon.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
