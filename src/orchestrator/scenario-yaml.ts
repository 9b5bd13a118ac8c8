/**
 * A validated scenario written back as scenario YAML, every event listed
 * with its single target: what `picluster generate` prints, which
 * `picluster validate` accepts and `picluster run` runs as it is.
 *
 * Pure: no I/O.
 */
import { formatDuration } from '../common/duration';
import { ACTION_SPECS } from './actions';
import { isLinkAction, linkFaultKeys } from './link-params';
import { detectorYaml } from './scenario-detector';
import type { Scenario } from './types';

/**
 * `scenario` as YAML, without `generate:`; `comments` come first, one `# `
 * line each (e.g. the seed its events were drawn with).
 */
export function scenarioToYaml(scenario: Scenario, comments: readonly string[] = []): string {
  const lines = [
    ...comments.map((comment) => `# ${comment}`),
    `name: ${scenario.name}`,
    `slaves: ${scenario.slaves}`,
    `heartbeat_interval: ${formatDuration(scenario.heartbeatIntervalMs)}`,
    ...(scenario.heartbeatTimeoutMs === undefined
      ? []
      : [`heartbeat_timeout: ${formatDuration(scenario.heartbeatTimeoutMs)}`]),
    ...detectorYaml(scenario.detector),
    `duration: ${formatDuration(scenario.durationMs)}`,
  ];
  if (scenario.events.length === 0) {
    lines.push('events: []');
  } else {
    lines.push('events:');
    for (const { atMs, action, target, link } of scenario.events) {
      const on = ACTION_SPECS[action].target === 'master' ? '' : `, target: ${target}`;
      const keys = link === undefined || !isLinkAction(action) ? [] : linkFaultKeys(action, link);
      lines.push(
        `  - { at: ${formatDuration(atMs)}, action: ${action}${on}${keys.map((key) => `, ${key}`).join('')} }`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
