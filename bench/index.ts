import { isInterrupted } from './conditions';
import { reportDecoder } from './decoder';
import { reportDockerLatency } from './docker-latency';
import { reportFlood } from './flood';
import { reportIngest } from './ingest';
import { reportLateness } from './lateness';
import { reportLedger } from './ledger';

/** `npm run bench` runs decoder and ingest; `flood`, `lateness`, `docker-latency` and `ledger` run only when named. */
async function main(): Promise<void> {
  const only = process.argv[2];
  const names = ['decoder', 'ingest', 'flood', 'lateness', 'docker-latency', 'ledger'];
  if (only !== undefined && !names.includes(only)) {
    throw new Error(`unknown benchmark ${only}: ${names.join(', ')}`);
  }
  if (only === undefined || only === 'decoder') for (const line of reportDecoder()) console.log(line);
  if (only === undefined || only === 'ingest') for (const line of await reportIngest()) console.log(line);
  if (only === 'flood') for (const line of await reportFlood()) console.log(line);
  if (only === 'lateness') for (const line of await reportLateness()) console.log(line);
  if (only === 'docker-latency') for (const line of await reportDockerLatency()) console.log(line);
  if (only === 'ledger') await reportLedger();
}

main().catch((err: unknown) => {
  if (isInterrupted(err)) {
    process.exitCode = 130;
    return;
  }
  console.error(err);
  process.exitCode ||= 1;
});
