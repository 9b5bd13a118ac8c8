/**
 * The page's inline style. Fault kinds are told apart by hue and by their
 * hover text and table row, never by colour alone; print keeps the tables and
 * the diagram, without the controls.
 */
const FAULT_COLOURS: Readonly<Record<string, string>> = {
  kill: '#e8a0a0',
  stop: '#e8b890',
  restart: '#e0c080',
  pause: '#a8c8e8',
  disconnect: '#c0a8e0',
  reset: '#d890c8',
  'master-restart': '#f0d070',
  delay: '#a8dcc0',
  loss: '#b8d890',
  bandwidth: '#90d0d0',
  slice: '#c8d0a0',
  partition: '#d0a0a0',
  degrade: '#c0c0c0',
};

const faultRules = Object.entries(FAULT_COLOURS)
  .map(([action, colour]) => `rect.fault[data-action="${action}"]{fill:${colour}}`)
  .join('\n');

export const PAGE_STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fff}
h1{font-size:1.1em;font-weight:600}
h2{font-size:1em;margin:1.2em 0 .4em}
#verdict{font:600 1.1em ui-monospace,monospace;padding:.4em .6em;border-left:6px solid #888}
#verdict.verdict-pass{border-color:#2a8a2a}
#verdict.verdict-fail{border-color:#c00;color:#900}
#verdict.verdict-inconclusive{border-color:#c80}
table{border-collapse:collapse;font:12px ui-monospace,monospace}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;white-space:nowrap}
td.num{text-align:right}
thead th{background:#f0f0f0}
tr.status-fail td{background:#fde0e0}
tr.status-inconclusive td{background:#fff0d0}
#failures li{font:12px ui-monospace,monospace;margin:.2em 0}
#failures li:target{background:#fde0e0}
#diagram{overflow-x:auto}
#controls{margin:.4em 0}
#controls span{font:12px ui-monospace,monospace;margin-left:1em}
#timeline text{font:11px ui-monospace,monospace;fill:#333}
#timeline .lane-label{text-anchor:end}
#timeline .tick-label{text-anchor:middle}
#timeline .tick{stroke:#ddd;stroke-width:1}
#plot *{vector-effect:non-scaling-stroke}
#plot{cursor:grab}
.lane-bg{fill:#fafafa}
.lane-bg.even{fill:#f1f1f1}
rect.fault{fill:#ccc;opacity:.75}
${faultRules}
rect.fault-pending{fill:#555;opacity:.35}
line.msg{stroke:#2a6fb0;stroke-width:1}
path.band{fill:#2a6fb0;fill-opacity:.35;stroke:#2a6fb0;stroke-width:1}
.disconnect line.disc{stroke:#222;stroke-width:2;stroke-dasharray:3 2}
.disconnect[data-reason="timeout"] line.disc{stroke:#7040a0}
.disconnect line.detect{stroke:#7040a0;stroke-width:2;opacity:.6}
.failure-marker line{stroke:#d00;stroke-width:3}
.master-mark{stroke:#2a8a2a;stroke-width:2}
.master-mark[data-kind="shutdown"]{stroke-dasharray:4 2}
#legend ul{list-style:none;padding:0}
.swatch{stroke:#555;stroke-width:1}
.swatch-msg{fill:#2a6fb0}
.swatch-band{fill:#2a6fb0;fill-opacity:.35}
.swatch-fault{fill:#c0a8e0}
.swatch-disc{fill:#222}
.swatch-failure{fill:#d00}
.swatch-master-mark{fill:#2a8a2a}
pre{font:12px ui-monospace,monospace;overflow-x:auto}
@media print{#controls{display:none}#diagram{overflow:visible}details{display:none}}
`;
