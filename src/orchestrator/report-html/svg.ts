/**
 * The space-time diagram of `report.html`, as SVG text: a lane for the master
 * on top and one per slave below, on a shared time axis. In a slave's lane,
 * a message goes from its send (the lane's lower edge) to the master's log
 * of it (the upper edge). The marks sit in an inner `<svg id="plot">` whose
 * viewBox is in ms from the run's start, so the page's script zooms by
 * changing the viewBox alone; lane names and the axis are outside it, in
 * pixels. Every text is escaped. Pure.
 */
import type { CheckReport } from '../check-result';
import { escapeXml } from '../report';
import { tickLabel, tickStep } from './client';
import type { LaneMessages } from './messages';
import { MASTER_LANE, type DisconnectMark, type FailureMark, type FaultWindow, type HtmlModel } from './model';

/** The diagram's width in px, the lane names' column, and the axis' height. */
export const SVG_WIDTH = 1200;
const LABEL_WIDTH = 130;
const PLOT_WIDTH = SVG_WIDTH - LABEL_WIDTH - 10;
const AXIS_HEIGHT = 26;

/** Lanes' height in px: the diagram aims at ~760 px, between 14 and 48 px a lane. */
function laneHeight(lanes: number): number {
  return Math.min(48, Math.max(14, Math.floor(760 / lanes)));
}

/** A coordinate: 0.1 ms or px is enough. */
const n = (x: number): string => String(Math.round(x * 10) / 10);

/** `+1.234s`. */
const at = (ms: number): string => `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)}s`;

const title = (text: string): string => `<title>${escapeXml(text)}</title>`;

interface LaneBox {
  top: number;
  height: number;
}

function messageMarks(name: string, messages: LaneMessages, box: LaneBox): string {
  const low = n(box.top + box.height - 2);
  const high = n(box.top + 2);
  const marks =
    messages.kind === 'single'
      ? messages.messages.map(
          (m) =>
            `<line class="msg" data-seq="${m.seq}" x1="${n(m.sentMs)}" y1="${low}" x2="${n(m.loggedMs)}" y2="${high}">` +
            title(
              `${name} seq ${m.seq}${m.incarnation > 1 ? ` (incarnation ${m.incarnation})` : ''}: sent ${at(m.sentMs)}, logged ${at(m.loggedMs)}, latency ${Math.round(m.loggedMs - m.sentMs)} ms`,
            ) +
            '</line>',
        )
      : messages.bands.map(
          (b) =>
            `<path class="band" data-count="${b.count}" d="M${n(b.sentFromMs)} ${low}L${n(b.loggedFromMs)} ${high}H${n(b.loggedToMs)}L${n(b.sentToMs)} ${low}Z">` +
            title(
              `${name}: ${b.count} messages sent ${at(b.sentFromMs)} … ${at(b.sentToMs)}, logged ${at(b.loggedFromMs)} … ${at(b.loggedToMs)}; latency mean ${Math.round(b.meanLatencyMs)} ms, max ${Math.round(b.maxLatencyMs)} ms`,
            ) +
            '</path>',
        );
  return `<g class="messages" data-node="${escapeXml(name)}">${marks.join('')}</g>`;
}

function faultMark(f: FaultWindow, box: LaneBox, minWidthMs: number): string {
  const widthMs = f.endMs - f.requestedMs;
  const ended =
    f.endedBy !== undefined
      ? `ended by #${f.endedBy.index} ${f.endedBy.action} at ${at(f.endMs)}`
      : f.instant
        ? 'instantaneous'
        : "lasted to the run's end";
  const text = `#${f.index} ${f.action} ${f.target}: requested ${at(f.requestedMs)}, ${
    f.confirmedMs === undefined
      ? `never confirmed${f.error === undefined ? '' : ` (${f.error})`}`
      : `confirmed ${at(f.confirmedMs)}`
  }; ${ended}`;
  const pending =
    f.confirmedMs === undefined || f.confirmedMs <= f.requestedMs
      ? ''
      : `<rect class="fault-pending" x="${n(f.requestedMs)}" y="${n(box.top)}" width="${n(f.confirmedMs - f.requestedMs)}" height="${n(box.height)}"/>`;
  return (
    `<rect class="fault" data-fault-index="${f.index}" data-action="${f.action}" data-width-ms="${n(widthMs)}" x="${n(f.requestedMs)}" y="${n(box.top)}" width="${n(Math.max(widthMs, minWidthMs))}" height="${n(box.height)}">${title(text)}</rect>` +
    pending
  );
}

function disconnectMark(d: DisconnectMark, box: LaneBox): string {
  const mid = n(box.top + box.height / 2);
  const detect =
    d.faultConfirmedMs === undefined
      ? ''
      : `<line class="detect" x1="${n(d.faultConfirmedMs)}" y1="${mid}" x2="${n(d.atMs)}" y2="${mid}"/>`;
  const text = `disconnect of ${d.node} at ${at(d.atMs)}: ${d.reason}${d.conn === undefined ? '' : `, conn ${d.conn}`}${
    d.fault === undefined ? ', matched to no fault' : `; fault #${d.fault} detected in ${d.detectionMs ?? '?'} ms`
  }`;
  return (
    `<g class="disconnect" data-node="${escapeXml(d.lane === MASTER_LANE ? d.node : d.lane)}" data-reason="${escapeXml(d.reason)}">` +
    `${detect}<line class="disc" x1="${n(d.atMs)}" y1="${n(box.top)}" x2="${n(d.atMs)}" y2="${n(box.top + box.height)}"/>${title(text)}</g>`
  );
}

function failureMark(report: CheckReport, f: FailureMark, box: LaneBox): string {
  const failure = report.failures[f.index];
  const text = `failure ${f.index + 1}: ${failure?.kind ?? ''} — ${failure?.detail ?? ''}`;
  return (
    `<g class="failure-marker" data-failure="${f.index}" id="marker-${f.index}"><a href="#failure-${f.index}">` +
    `<line x1="${n(f.atMs)}" y1="${n(box.top)}" x2="${n(f.atMs)}" y2="${n(box.top + box.height)}"/>${title(text)}</a></g>`
  );
}

function byLane<T extends { lane: string }>(items: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const list = map.get(item.lane);
    if (list === undefined) map.set(item.lane, [item]);
    else list.push(item);
  }
  return map;
}

/** The initial axis, as the page's script draws it again on zoom. */
function axisMarks(spanMs: number, height: number): string {
  const step = tickStep(spanMs, Math.floor(PLOT_WIDTH / 90));
  const out: string[] = [];
  for (let t = 0; t <= spanMs + 1e-6; t += step) {
    const x = n(LABEL_WIDTH + (t / spanMs) * PLOT_WIDTH);
    out.push(
      `<line class="tick" x1="${x}" y1="18" x2="${x}" y2="${height}"/><text class="tick-label" x="${x}" y="13">${tickLabel(t, step)}</text>`,
    );
  }
  return `<g id="axis" data-left="${LABEL_WIDTH}" data-width="${PLOT_WIDTH}" data-height="${height}">${out.join('')}</g>`;
}

/** The diagram: `<svg id="timeline">` with a `g.lane` for the master and one per slave. */
export function renderTimeline(model: HtmlModel, report: CheckReport): string {
  const names = [MASTER_LANE, ...model.lanes.map((l) => l.name)];
  const laneH = laneHeight(names.length);
  const plotHeight = laneH * names.length;
  const height = AXIS_HEIGHT + plotHeight;
  const minWidthMs = (2 * model.spanMs) / PLOT_WIDTH;
  const faults = byLane(model.faults);
  const disconnects = byLane(model.disconnects);
  const failures = byLane(model.failures);
  const labels: string[] = [];
  const lanes = names.map((name, i) => {
    const box = { top: i * laneH, height: laneH };
    labels.push(
      `<text class="lane-label" x="${LABEL_WIDTH - 6}" y="${n(AXIS_HEIGHT + box.top + laneH / 2 + 4)}">${escapeXml(name)}</text>`,
    );
    const slave = model.lanes[i - 1];
    const masterMarks =
      i === 0
        ? model.masterMarks.map(
            (m) =>
              `<line class="master-mark" data-kind="${m.kind}" x1="${n(m.atMs)}" y1="0" x2="${n(m.atMs)}" y2="${laneH}">${title(`master ${m.kind} at ${at(m.atMs)}`)}</line>`,
          )
        : [];
    return [
      `<g class="lane" data-node="${escapeXml(name)}">`,
      `<rect class="lane-bg${i % 2 === 0 ? ' even' : ''}" x="0" y="${box.top}" width="${n(model.spanMs)}" height="${laneH}"/>`,
      ...(faults.get(name) ?? []).map((f) => faultMark(f, box, minWidthMs)),
      ...masterMarks,
      slave === undefined ? '' : messageMarks(name, slave.messages, box),
      ...(disconnects.get(name) ?? []).map((d) => disconnectMark(d, box)),
      ...(failures.get(name) ?? []).map((f) => failureMark(report, f, box)),
      '</g>',
    ].join('');
  });
  return [
    `<svg id="timeline" width="${SVG_WIDTH}" height="${height}" viewBox="0 0 ${SVG_WIDTH} ${height}" data-span-ms="${n(model.spanMs)}" role="img" aria-label="Space-time diagram: a lane per node, time from left to right">`,
    axisMarks(model.spanMs, height),
    labels.join(''),
    `<svg id="plot" x="${LABEL_WIDTH}" y="${AXIS_HEIGHT}" width="${PLOT_WIDTH}" height="${plotHeight}" viewBox="0 0 ${n(model.spanMs)} ${plotHeight}" preserveAspectRatio="none">`,
    lanes.join('\n'),
    '</svg>',
    '</svg>',
  ].join('\n');
}
