/**
 * How the local backend weighs its processes against the machine's other
 * work: the master ahead of its slaves, both ahead of everything else. The
 * nodes would be machines of their own in a real cluster; here they share
 * the cores with the runner and whatever else runs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * The master's niceness, when the runner may lower it (root, or
 * CAP_SYS_NICE): the scheduler then weighs it about 9 times as much as a
 * process at the default 0, as the docker backend weighs the master's
 * container 8 times a slave's. The slaves it serves would be other machines
 * in a real cluster; here thousands of them share its cores, with whatever
 * else the machine runs, and a master that waits for a core stalls every
 * slave's acks at once. Each node runs in a session of its own (detached),
 * which Linux's autogroup scheduling weighs as a group: the group's niceness
 * is set too, else the process's would weigh only against itself.
 */
export const MASTER_NICE = -10;

/**
 * The slave processes' niceness, likewise: about 3 times a process at 0, a
 * third of the master. A pack of 1,000 slaves that waits for a core behind
 * the machine's other work sends none of their heartbeats meanwhile, and the
 * master rightly times them out: a false disconnect that the simulation, not
 * the cluster, caused.
 */
export const SLAVE_NICE = -5;

/**
 * Gives process `pid` niceness `nice`, and its session's autogroup too; throws
 * where that is not allowed (lowering a niceness takes root or CAP_SYS_NICE).
 */
export function setNiceness(pid: number, nice: number): void {
  setPriority(pid, nice);
  // Absent where the kernel schedules without autogroups (CONFIG_SCHED_AUTOGROUP off).
  const autogroup = `/proc/${pid}/autogroup`;
  if (existsSync(autogroup)) writeFileSync(autogroup, String(nice));
}
