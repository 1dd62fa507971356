/** argv -> one command. Nothing else lives here. */
import { Command, Option } from 'commander';
import { CONFIG_OPTION, EXIT_USAGE, UsageError } from './cli/common.ts';

// `vaultwatch replay ... | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('vaultwatch')
  .description('Alerts vault managers when someone touches a sensitive item in a shared password vault.')
  .showHelpAfterError()
  .exitOverride((err) => {
    // commander exits 1 on bad usage; cli.md says bad usage is 2. --help and --version stay 0.
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  });

program.command('start')
  .description('run the daemon: sources, policy evaluation, workers, HTTP (health, metrics, ingest)')
  .option(...CONFIG_OPTION)
  .option('--listen <host:port>', 'override http.listen')
  .addOption(new Option('--role <role>', 'all (default); evaluate = ingest, sources and evaluation only; deliver = notification workers only').choices(['all', 'evaluate', 'deliver']).env('VAULTWATCH_ROLE'))
  .action(async (o) => exit(await (await import('./cli/start.ts')).startCommand(o)));

program.command('alerts')
  .description('list recorded alerts and the state of each delivery (reads Redis)')
  .option(...CONFIG_OPTION)
  .option('--since <when>', 'a duration back (24h, 7d) or an ISO time', '24h')
  .option('--vault <id or name>', 'only this vault')
  .option('--limit <n>', 'at most this many alerts', '1000')
  .option('--json', 'one JSON object per alert')
  .action(async (o) => exit(await (await import('./cli/alerts.ts')).alertsCommand(o)));

program.command('declare')
  .description('declare planned (break-glass) access: the vault\'s managers are told now, matching alerts are recorded but not sent, and a summary follows at the end (writes Redis; no daemon needed)')
  .option(...CONFIG_OPTION)
  .option('--user <email or id>', 'who will use the vault')
  .option('--vault <id or name>', 'which vault')
  .option('--item <id or title>', 'only this item (a title may be a glob)')
  .option('--for <duration>', 'how long: 30m, 2h (at most accountability.max_declaration, default 24h)')
  .option('--from <time>', 'start later (ISO time); default now')
  .option('--reason <text>', 'why (required)')
  .option('--ticket <id>', 'the change or incident ticket')
  .option('--author <name>', 'who declares; default $USER@hostname')
  .option('--cancel <id>', 'end this declaration now (its summary follows)')
  .option('--json', 'print the declaration as JSON')
  .action(async (o) => exit(await (await import('./cli/declare.ts')).declareCommand(o)));

program.command('declarations')
  .description('list active and upcoming break-glass declarations (reads Redis)')
  .option(...CONFIG_OPTION)
  .option('--all', 'also those that ended (kept for alerts.retention)')
  .option('--json', 'one JSON object per declaration')
  .action(async (o) => exit(await (await import('./cli/declare.ts')).declarationsCommand(o)));

program.command('silence')
  .description('silence matching alerts of a vault for a while: recorded but not sent; the managers are told now and get a summary at the end (writes Redis; no daemon needed)')
  .option(...CONFIG_OPTION)
  .option('--vault <id or name>', 'which vault (required)')
  .option('--rule <name>', 'only this rule (glob allowed)')
  .option('--user <email or id>', 'only this person')
  .option('--item <id or title>', 'only this item (a title may be a glob)')
  .option('--for <duration>', 'how long: 1h, 2d (at most accountability.max_silence, default 7d)')
  .option('--from <time>', 'start later (ISO time); default now')
  .option('--reason <text>', 'why (required)')
  .option('--author <name>', 'who silences (required)')
  .option('--expire <id>', 'end this silence now (its summary follows)')
  .option('--json', 'print the silence as JSON')
  .action(async (o) => exit(await (await import('./cli/silence.ts')).silenceCommand(o)));

program.command('silences')
  .description('list active and upcoming silences (reads Redis)')
  .option(...CONFIG_OPTION)
  .option('--all', 'also those that ended (kept for alerts.retention)')
  .option('--json', 'one JSON object per silence')
  .action(async (o) => exit(await (await import('./cli/silence.ts')).silencesCommand(o)));

program.command('validate')
  .description('load every file, print every error as path:line:column: message (exit 2 if any)')
  .option(...CONFIG_OPTION)
  .action(async (o) => exit((await import('./cli/validate.ts')).validateCommand(o)));

program.command('test')
  .description('run policy test cases (*.tests.yaml beside the policies, or the files given)')
  .argument('[cases...]', 'test files')
  .option(...CONFIG_OPTION)
  .action(async (files: string[], o) => exit(await (await import('./cli/test.ts')).testCommand(files, o)));

program.command('replay')
  .description('evaluate a file of recorded events (or - for stdin) without Redis and without sending; print the alerts that would fire')
  .argument('<events>', 'JSON Lines or JSON array file, or - for stdin')
  .option(...CONFIG_OPTION)
  .addOption(new Option('--format <format>', 'output format (default: jsonl when stdout is not a terminal)').choices(['jsonl', 'table']))
  .addOption(new Option('--source <source>', 'read every record as this kind instead of recognising its shape').choices(['onepassword', 'bitwarden', 'canonical']))
  .option('--strict', 'exit 1 when any line cannot be read or normalised')
  .action(async (file: string, o) => exit(await (await import('./cli/replay.ts')).replayCommand(file, o)));

program.command('render')
  .description('print the email (text and HTML) and Slack payload an event would produce')
  .requiredOption('--event <file>', 'a JSON file with one record')
  .option('--rule <name>', 'only this rule (previewed even when it does not fire)')
  .addOption(new Option('--part <part>', 'only one part').choices(['email', 'text', 'html', 'slack']))
  .option(...CONFIG_OPTION)
  .action(async (o) => exit(await (await import('./cli/render.ts')).renderCommand(o)));

function exit(code: number): void {
  process.exitCode = code;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`vaultwatch: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    throw err;
  }
}
