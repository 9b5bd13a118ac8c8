/**
 * What a `report.html` holds, read with regular expressions from the page as
 * written (no DOM): the elements docs/report-html.md names, in page order.
 * The page writes each element's attributes in one order, so the patterns
 * below are exact.
 */
export interface PageFacts {
  verdict: string | undefined;
  verdictText: string | undefined;
  /** `data-node` of each row of `table#nodes`. */
  nodeRows: string[];
  /** `data-fault-index` of each row of `table#faults`. */
  faultRows: number[];
  /** [K, kind] of each `li#failure-K`. */
  failures: Array<[number, string]>;
  /** `data-node` of each `g.lane`. */
  lanes: string[];
  faults: Array<{ index: number; action: string }>;
  disconnects: Array<{ node: string; reason: string }>;
  failureMarkers: number[];
  /** Per `g.messages`' node: single lines plus the bands' `data-count`s. */
  messagesPerNode: Map<string, number>;
  scripts: number;
}

const all = (html: string, re: RegExp): RegExpExecArray[] => [...html.matchAll(re)];

function tableRows(html: string, id: string, attribute: string): string[] {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
  return all(table, new RegExp(`<tr ${attribute}="([^"]*)"`, 'g')).map((m) => m[1] as string);
}

function messagesPerNode(html: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of all(html, /<g class="messages" data-node="([^"]*)">([\s\S]*?)<\/g>/g)) {
    const body = m[2] as string;
    const singles = all(body, /<line class="msg" /g).length;
    const banded = all(body, /<path class="band" data-count="(\d+)"/g).reduce((sum, b) => sum + Number(b[1]), 0);
    counts.set(m[1] as string, singles + banded);
  }
  return counts;
}

export function pageFacts(html: string): PageFacts {
  return {
    verdict: /<body data-verdict="([^"]*)">/.exec(html)?.[1],
    verdictText: /<p id="verdict"[^>]*>([^<]*)<\/p>/.exec(html)?.[1],
    nodeRows: tableRows(html, 'nodes', 'data-node'),
    faultRows: tableRows(html, 'faults', 'data-fault-index').map(Number),
    failures: all(html, /<li id="failure-(\d+)" data-failure-kind="([^"]*)"/g).map((m) => [
      Number(m[1]),
      m[2] as string,
    ]),
    lanes: all(html, /<g class="lane" data-node="([^"]*)">/g).map((m) => m[1] as string),
    faults: all(html, /<rect class="fault" data-fault-index="(\d+)" data-action="([^"]*)"/g).map((m) => ({
      index: Number(m[1]),
      action: m[2] as string,
    })),
    disconnects: all(html, /<g class="disconnect" data-node="([^"]*)" data-reason="([^"]*)">/g).map((m) => ({
      node: m[1] as string,
      reason: m[2] as string,
    })),
    failureMarkers: all(html, /<g class="failure-marker" data-failure="(\d+)"/g).map((m) => Number(m[1])),
    messagesPerNode: messagesPerNode(html),
    scripts: all(html, /<script[\s>]/g).length,
  };
}
