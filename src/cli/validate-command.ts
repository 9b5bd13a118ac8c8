import { formatDuration } from '../common';
import { loadScenario, ScenarioError } from '../orchestrator';
import { defineCommand, parseCommand, UsageError } from './flags';

export const VALIDATE_COMMAND = defineCommand({
  name: 'validate',
  usage: 'picluster validate <scenario.yaml>...',
  summary: 'Check scenario files against the scenario format without running them.',
  flags: [],
  notes: [
    'Prints "ok  <file>  (<name>: N slaves, M events, <duration>)" for each valid file on stdout, and every',
    'problem of each invalid file on stderr, one per line as "file:line:column: key.path: what is wrong".',
    'Exits 0 when every file is valid, 2 otherwise. The format: scenarios/scenario.schema.json.',
  ].join('\n'),
});

export async function runValidate(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | 'help'> {
  const { positionals, help } = parseCommand(VALIDATE_COMMAND, argv, env, true);
  if (help) return 'help';
  if (positionals.length === 0) {
    throw new UsageError('argv', 'no scenario file given; usage: picluster validate <scenario.yaml>...');
  }
  let invalid = 0;
  for (const file of positionals) {
    try {
      const scenario = loadScenario(file);
      const events = `${scenario.events.length} event${scenario.events.length === 1 ? '' : 's'}`;
      const slaves = `${scenario.slaves} slave${scenario.slaves === 1 ? '' : 's'}`;
      process.stdout.write(
        `ok  ${file}  (${scenario.name}: ${slaves}, ${events}, ${formatDuration(scenario.durationMs)})\n`,
      );
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      invalid += 1;
      process.stderr.write(err.errors.map((line) => `${line}\n`).join(''));
    }
  }
  if (invalid > 0) {
    process.stderr.write(`picluster validate: ${invalid} of ${positionals.length} scenario files invalid\n`);
    return 2;
  }
  return 0;
}
