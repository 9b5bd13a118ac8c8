#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PiclusterError, escapeControl } from '../common';
import { helpText, type CommandSpec } from './flags';

type Runner = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number | 'help'>;
interface Command {
  spec: CommandSpec;
  run: Runner;
}

/**
 * Loaded on use: the orchestrator's modules (dockerode, ajv, yaml) take a
 * tenth of a second to load, which a master or slave container should not
 * spend before it can handle SIGTERM.
 */
const COMMANDS: ReadonlyArray<{ name: string; load: () => Promise<Command> }> = [
  {
    name: 'master',
    load: async () => import('./master-command').then((m) => ({ spec: m.MASTER_COMMAND, run: m.runMaster })),
  },
  {
    name: 'slave',
    load: async () => import('./slave-command').then((m) => ({ spec: m.SLAVE_COMMAND, run: m.runSlave })),
  },
  { name: 'run', load: async () => import('./run-command').then((m) => ({ spec: m.RUN_COMMAND, run: m.runRun })) },
  {
    name: 'validate',
    load: async () => import('./validate-command').then((m) => ({ spec: m.VALIDATE_COMMAND, run: m.runValidate })),
  },
  {
    name: 'generate',
    load: async () => import('./generate-command').then((m) => ({ spec: m.GENERATE_COMMAND, run: m.runGenerate })),
  },
  {
    name: 'check',
    load: async () => import('./check-command').then((m) => ({ spec: m.CHECK_COMMAND, run: m.runCheck })),
  },
  {
    name: 'report',
    load: async () => import('./report-command').then((m) => ({ spec: m.REPORT_COMMAND, run: m.runReport })),
  },
  {
    name: 'shrink',
    load: async () => import('./shrink-command').then((m) => ({ spec: m.SHRINK_COMMAND, run: m.runShrink })),
  },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function topHelp(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map(({ load }) => load()));
  const width = Math.max(...commands.map(({ spec }) => spec.name.length)) + 4;
  return [
    'Usage: picluster <command> [options]',
    '',
    'A containerized multi-node cluster simulator: a master and slaves speaking JSON over TCP.',
    '',
    'Commands:',
    ...commands.map(({ spec }) => `  ${spec.name.padEnd(width)}${spec.summary}`),
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
    process.stdout.write(await topHelp());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (entry === undefined) {
    process.stderr.write(`picluster: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  const command = await entry.load();
  try {
    const result = await command.run(rest, process.env);
    if (result === 'help') {
      process.stdout.write(helpText(command.spec));
      return 0;
    }
    return result;
  } catch (err) {
    process.stderr.write(`picluster ${name}: ${describeError(err, process.env)}\n`);
    return 2;
  }
}

/**
 * One line for anything a command did not handle itself: a picluster error
 * (bad input, a run that cannot be carried out) is its message; anything else
 * (a system error, a bug) adds its class and how to see the stack, which
 * `PICLUSTER_DEBUG=1` appends on the following lines. Echoed input is escaped.
 */
function describeError(err: unknown, env: NodeJS.ProcessEnv): string {
  const debug = env.PICLUSTER_DEBUG === '1' && err instanceof Error && err.stack !== undefined;
  const message = err instanceof Error ? err.message : String(err);
  const line = escapeControl(
    err instanceof PiclusterError
      ? message
      : `unexpected ${err instanceof Error ? err.name : 'error'}: ${message}${
          debug ? '' : ' (PICLUSTER_DEBUG=1 shows where)'
        }`,
  );
  return debug ? `${line}\n${err.stack}` : line;
}

main(process.argv.slice(2)).then(
  (code) => {
    // No process.exit(): it would cut off log lines still on their way out.
    process.exitCode = code;
  },
  (err: unknown) => {
    // Only a failure before a command ran (loading it, --help) gets here.
    process.stderr.write(`picluster: ${describeError(err, process.env)}\n`);
    process.exitCode = 2;
  },
);
