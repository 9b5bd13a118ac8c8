import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..', '..');

/**
 * Adding an action is one row of the action table plus one handler per
 * backend: a copy of the sources with one more member of the `Action` union
 * must fail to compile in exactly those places, and nowhere else.
 */
describe('a new action', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-actions-'));
    cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a type error in the action table and in each backend handler table, and nowhere else', () => {
    const actions = join(dir, 'src', 'orchestrator', 'actions.ts');
    const text = readFileSync(actions, 'utf8');
    const added = text.replace(/export type Action =\n/, "export type Action =\n  | 'flood'\n");
    expect(added).not.toBe(text);
    writeFileSync(actions, added);

    const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.build.json'), undefined, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });
    if (config === undefined) throw new Error('tsconfig.build.json did not parse');
    const files = config.fileNames.map((file) => join(dir, relative(root, file)));
    const program = ts.createProgram(files, { ...config.options, rootDir: join(dir, 'src'), noEmit: true });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => ({
      file: d.file === undefined ? '(none)' : relative(join(dir, 'src'), d.file.fileName).split(sep).join('/'),
      line: d.file === undefined || d.start === undefined ? 0 : d.file.getLineAndCharacterOfPosition(d.start).line + 1,
      text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    }));

    expect(errors.map(({ file }) => file).sort()).toEqual([
      'orchestrator/actions.ts',
      'orchestrator/docker/container-cluster.ts',
      'orchestrator/local/local-backend.ts',
    ]);
    for (const error of errors) expect(error.text).toMatch(/Property 'flood' is missing/);
    const lineOf = (file: string, pattern: RegExp): number =>
      readFileSync(join(dir, 'src', file), 'utf8')
        .split('\n')
        .findIndex((line) => pattern.test(line)) + 1;
    expect(errors.map(({ file, line }) => `${file}:${line}`).sort()).toEqual(
      [
        `orchestrator/actions.ts:${lineOf('orchestrator/actions.ts', /^export const ACTION_SPECS\b/)}`,
        `orchestrator/docker/container-cluster.ts:${lineOf('orchestrator/docker/container-cluster.ts', /readonly handlers: Record<Action/)}`,
        `orchestrator/local/local-backend.ts:${lineOf('orchestrator/local/local-backend.ts', /readonly handlers: Record<Action/)}`,
      ].sort(),
    );
  }, 120_000);
});
