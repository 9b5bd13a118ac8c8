/**
 * The render step of `report.html`: model + check report -> one
 * self-contained HTML document (inline style and script, no URL to fetch, a
 * CSP that forbids any). Above the diagram, the verdict and the tables as
 * the terminal shows them (the same cells, from report.ts); below it, the
 * legend and the whole terminal report. Every text from a log or a report is
 * escaped. Pure. The DOM the page keeps to is described in
 * docs/report-html.md.
 */
import type { CheckReport } from '../check-result';
import {
  FAULT_COLUMNS,
  NODE_COLUMNS,
  detectionLatencyLine,
  faultRows,
  formatTable,
  messageLatencyLine,
  nodeRows,
  runHeading,
  verdictLine,
} from '../report';
import { escapeXml } from '../junit';
import { clientScript } from './client';
import { MAX_PAGE_FAILURES, type HtmlModel } from './model';
import { PAGE_STYLE } from './style';
import { renderTimeline } from './svg';

/** The page's Content-Security-Policy: nothing may be fetched, only inline style and script run. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

const esc = escapeXml;

/** Numeric columns of the per-node table, right-aligned as in the terminal. */
const NODE_NUMERIC = new Set([2, 3, 4, 5, 6, 7, 8]);

function tableHtml(
  id: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rowAttribute: (i: number) => string,
  numeric: ReadonlySet<number> = new Set(),
): string {
  const head = header.map((h) => `<th scope="col">${esc(h)}</th>`).join('');
  const body = rows.map(
    (row, i) =>
      `<tr ${rowAttribute(i)}>${row.map((cell, c) => `<td${numeric.has(c) ? ' class="num"' : ''}>${esc(cell)}</td>`).join('')}</tr>`,
  );
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function failuresHtml(report: CheckReport, marked: ReadonlySet<number>): string {
  if (report.failures.length === 0) return '<p>No failure.</p><ol id="failures"></ol>';
  const listed = report.failures.slice(0, MAX_PAGE_FAILURES);
  const items = listed.map(
    (f, k) =>
      `<li id="failure-${k}" data-failure-kind="${esc(f.kind)}"><strong>${esc(f.node)}</strong> <code>${esc(f.kind)}</code>${
        f.seq === undefined ? '' : ` seq ${f.seq}`
      }: ${esc(f.detail)}${marked.has(k) ? ` <a href="#marker-${k}">(on the diagram)</a>` : ''}</li>`,
  );
  const more =
    report.failures.length > listed.length
      ? `<p>… and ${report.failures.length - listed.length} more (report.json lists them all)</p>`
      : '';
  return `<h2>Failures (${report.failures.length})</h2><ol id="failures" start="1">\n${items.join('\n')}\n</ol>${more}`;
}

function inconclusiveHtml(report: CheckReport): string {
  if (report.inconclusive.length === 0) return '';
  const items = report.inconclusive
    .slice(0, MAX_PAGE_FAILURES)
    .map(
      (x) =>
        `<li data-kind="${esc(x.kind)}"><strong>${esc(x.node)}</strong> <code>${esc(x.kind)}</code>: ${esc(x.detail)}</li>`,
    );
  return `<h2>Cannot be judged (${report.inconclusive.length})</h2><ol id="inconclusive">${items.join('\n')}</ol>`;
}

const LEGEND: ReadonlyArray<[string, string]> = [
  ['msg', 'A message: from its send (lower edge of its lane) to the master logging it (upper edge)'],
  ['band', 'Messages sent in one time bucket of a dense lane, drawn together (the count is in its hover text)'],
  ['fault', 'A fault, from its request to what ended it; shaded per kind, the darker start is request → confirmation'],
  ['disc', 'A disconnect the master logged; the line before it is the detection latency from the fault'],
  ['failure', 'A failure (red): links to its entry in the list above'],
  ['master-mark', 'The master began listening (solid) or shut down (dashed)'],
];

function legendHtml(): string {
  const items = LEGEND.map(
    ([kind, text]) =>
      `<li><svg width="28" height="14" aria-hidden="true"><rect class="swatch swatch-${kind}" x="1" y="1" width="26" height="12"/></svg> ${esc(text)}</li>`,
  );
  return `<section id="legend"><h2>Legend</h2><ul>${items.join('')}</ul><p>Hover a mark for its node, seq and latency. Zoom with the buttons, the mouse wheel over the diagram, or drag to pan.</p></section>`;
}

/** The whole page. */
export function renderHtml(model: HtmlModel, report: CheckReport): string {
  const verdict = verdictLine(report);
  const heading = runHeading(report);
  const faults =
    report.expectations.length === 0
      ? '<p>No fault.</p>'
      : tableHtml('faults', FAULT_COLUMNS, faultRows(report), (i) => {
          const e = report.expectations[i];
          return `data-fault-index="${e?.fault.index ?? -1}" class="status-${e?.status ?? ''}"`;
        });
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<link rel="icon" href="data:,">',
    `<title>${esc(`picluster: ${report.scenario} — ${report.verdict.toUpperCase()}`)}</title>`,
    `<style>${PAGE_STYLE}</style>`,
    '</head>',
    `<body data-verdict="${report.verdict}">`,
    `<h1>${esc(heading)}</h1>`,
    `<p id="verdict" class="verdict-${report.verdict}">${esc(verdict)}</p>`,
    '<h2>Nodes</h2>',
    tableHtml(
      'nodes',
      NODE_COLUMNS,
      nodeRows(report),
      (i) => `data-node="${esc(report.nodes[i]?.name ?? '')}"`,
      NODE_NUMERIC,
    ),
    '<h2>Faults</h2>',
    faults,
    `<p>${esc(detectionLatencyLine(report))}<br>${esc(messageLatencyLine(report))}</p>`,
    failuresHtml(report, new Set(model.failures.map((f) => f.index))),
    inconclusiveHtml(report),
    '<h2>Timeline</h2>',
    '<div id="controls"><button id="zoom-in" type="button">Zoom in</button> <button id="zoom-out" type="button">Zoom out</button> <button id="zoom-reset" type="button">Whole run</button> <label>Pan <input id="pan" type="range" min="0" max="1000" value="0"></label> <span id="zoom-window"></span></div>',
    `<div id="diagram">${renderTimeline(model, report)}</div>`,
    legendHtml(),
    `<details><summary>The terminal report</summary><pre>${esc(formatTable(report))}</pre></details>`,
    `<script>${clientScript()}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
