#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionError } from '../common';
import { helpText, type CommandSpec } from './flags';
import { CHECK_COMMAND, runCheck } from './check-command';
import { MASTER_COMMAND, runMaster } from './master-command';
import { RUN_COMMAND, runRun } from './run-command';
import { SLAVE_COMMAND, runSlave } from './slave-command';
import { VALIDATE_COMMAND, runValidate } from './validate-command';

type Runner = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number | 'help'>;

const COMMANDS: ReadonlyArray<{ spec: CommandSpec; run: Runner }> = [
  { spec: MASTER_COMMAND, run: runMaster },
  { spec: SLAVE_COMMAND, run: runSlave },
  { spec: RUN_COMMAND, run: runRun },
  { spec: VALIDATE_COMMAND, run: runValidate },
  { spec: CHECK_COMMAND, run: runCheck },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map(({ spec }) => spec.name.length)) + 4;
  return [
    'Usage: picluster <command> [options]',
    '',
    'A containerized multi-node cluster simulator: a master and slaves speaking JSON over TCP.',
    '',
    'Commands:',
    ...COMMANDS.map(({ spec }) => `  ${spec.name.padEnd(width)}${spec.summary}`),
    '',
    'Options:',
    '  --version  Print the version',
    '  --help     Show this help ("picluster <command> --help" for a command\'s options)',
    '',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find(({ spec }) => spec.name === name);
  if (command === undefined) {
    process.stderr.write(
      `picluster: unknown command "${name}"; commands: ${COMMANDS.map(({ spec }) => spec.name).join(', ')}\n`,
    );
    return 2;
  }
  try {
    const result = await command.run(rest, process.env);
    if (result === 'help') {
      process.stdout.write(helpText(command.spec));
      return 0;
    }
    return result;
  } catch (err) {
    if (err instanceof OptionError) {
      process.stderr.write(`picluster ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // No process.exit(): it would cut off log lines still on their way out.
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`picluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
