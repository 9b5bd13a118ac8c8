import { reportDecoder } from './decoder';
import { reportIngest } from './ingest';

async function main(): Promise<void> {
  const only = process.argv[2];
  if (only === undefined || only === 'decoder') for (const line of reportDecoder()) console.log(line);
  if (only === undefined || only === 'ingest') for (const line of await reportIngest()) console.log(line);
}

void main();
