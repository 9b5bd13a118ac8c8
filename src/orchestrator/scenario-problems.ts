/**
 * Where a scenario's problems are and how they are said: each one located by
 * its key path in the YAML document, printed as `file:line:column: path: what`.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type PathSegment = string | number;

/** One problem, located by its key path in the document. */
export interface Problem {
  path: PathSegment[];
  message: string;
  /** Point at the key itself rather than its value (an unknown key). */
  atKey?: boolean;
  /** A source offset, for problems that have no path (YAML syntax). */
  offset?: number;
}

export function formatPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((segment, i) =>
      typeof segment === 'number'
        ? `[${segment}]`
        : /^[A-Za-z_][\w-]*$/.test(segment)
          ? `${i === 0 ? '' : '.'}${segment}`
          : `[${JSON.stringify(segment)}]`,
    )
    .join('');
}

/** The source offset of the node at `path`, or of its nearest ancestor that exists. */
export function offsetOf(doc: Document, path: readonly PathSegment[], atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      const keyOffset = (pair.key as Node).range?.[0];
      const last = i === path.length - 1;
      // A key without a value (`at:`) has no value node: point at the key.
      if ((last && atKey) || pair.value === null) return keyOffset ?? offset;
      next = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
    }
    const range = (next as Node | undefined)?.range;
    if (range === undefined || range === null) break;
    node = next;
    offset = range[0];
  }
  return offset;
}

export function formatProblems(problems: Problem[], doc: Document, lineCounter: LineCounter, file: string): string[] {
  const located = problems.map((problem) => {
    const offset = problem.offset ?? offsetOf(doc, problem.path, problem.atKey === true);
    const { line, col } = lineCounter.linePos(offset);
    const where = problem.offset === undefined ? `${formatPath(problem.path)}: ` : '';
    return { offset, text: `${file}:${line}:${col}: ${where}${problem.message}` };
  });
  // Sorted by position, so the list reads like the file; sort is stable for problems at the same node.
  return located.sort((a, b) => a.offset - b.offset).map(({ text }) => text);
}
