#!/usr/bin/env node
// Writes the `action` property of scenarios/scenario.schema.json from the
// action table (src/orchestrator/actions.ts): its enum and the words an
// editor shows for each action; and the enums of `generate.faults` and
// `generate.weights` (src/orchestrator/generate.ts); the network actions' keys
// (src/orchestrator/link-params.ts). The rest of the schema is written by hand.
// Run after adding an action (`npm run -s schema` builds first);
// test/unit/actions.test.ts fails while the file and the table differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = createRequire(import.meta.url);
const { actionSchema } = load(join(root, 'dist', 'orchestrator', 'actions.js'));
const { GENERATABLE_ACTIONS } = load(join(root, 'dist', 'orchestrator', 'generate.js'));
const { linkParamSchemas } = load(join(root, 'dist', 'orchestrator', 'link-params.js'));
const file = join(root, 'scenarios', 'scenario.schema.json');
const schema = JSON.parse(readFileSync(file, 'utf8'));
schema.definitions.event.properties.action = actionSchema();
Object.assign(schema.definitions.event.properties, linkParamSchemas());
schema.properties.generate.properties.faults.items.enum = [...GENERATABLE_ACTIONS];
schema.properties.generate.properties.weights.propertyNames.enum = [...GENERATABLE_ACTIONS];
const options = { ...(await prettier.resolveConfig(file)), filepath: file };
const text = await prettier.format(JSON.stringify(schema), options);
if (text === readFileSync(file, 'utf8')) {
  console.log(`${file}: up to date`);
} else {
  writeFileSync(file, text);
  console.log(`${file}: written`);
}
