/**
 * The process of the local backend's fault proxies: `picluster run
 * --backend local` starts it and talks to it over its IPC channel
 * (src/orchestrator/local/proxy-host.ts). Not a command to run by hand.
 */
import { serveFaultProxies } from '../orchestrator/local/proxy-host';

if (process.send === undefined) {
  process.stderr.write('picluster: proxy-host.js is started by `picluster run --backend local`, over IPC\n');
  process.exitCode = 2;
} else {
  serveFaultProxies(process);
}
