/**
 * The page's own script: zoom and pan on the diagram's time axis, and the
 * axis ticks drawn again for what is shown. Hover details need no script:
 * every mark carries a `<title>`.
 *
 * Why functions and not a string: these are ordinary TypeScript functions,
 * type-checked and linted like the rest, that the page inlines with
 * `Function.prototype.toString()` ({@link clientScript}); each must therefore
 * use nothing from its module but its parameters, the other functions of
 * {@link CLIENT_FUNCTIONS} (called by name) and browser globals it is given,
 * and its comments are block comments: the page holds no `//` at all. The
 * DOM is reached through the narrow interfaces below rather than the `dom` lib, which would give every module of the project `document` and
 * `window` types. The renderer uses {@link tickStep} and {@link tickLabel}
 * too, so the axis printed without script matches the one the script draws.
 */

/** The few DOM element members the script uses. */
export interface PageElement {
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  addEventListener(type: string, listener: (event: PageEvent) => void, options?: { passive: boolean }): void;
  querySelectorAll(selectors: string): ArrayLike<PageElement>;
  appendChild(child: PageElement): void;
  removeChild(child: PageElement): void;
  readonly firstChild: PageElement | null;
  textContent: string | null;
  getBoundingClientRect(): { left: number; width: number };
  readonly dataset: Record<string, string | undefined>;
  readonly namespaceURI: string | null;
}

/** The members of mouse, wheel and input events the script reads. */
export interface PageEvent {
  readonly clientX: number;
  readonly deltaY: number;
  readonly buttons: number;
  preventDefault(): void;
}

/** The document, as the script sees it. */
export interface PageDocument {
  getElementById(id: string): PageElement | null;
  createElementNS(namespace: string, tag: string): PageElement;
  readonly body: PageElement;
}

/** A 1, 2 or 5 × 10^k ms step that cuts `spanMs` into at most `maxTicks` parts. */
export function tickStep(spanMs: number, maxTicks: number): number {
  const raw = Math.max(spanMs, 1e-3) / Math.max(1, maxTicks);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** `+1.5s`, with as many decimals as the step needs. */
export function tickLabel(ms: number, stepMs: number): string {
  const decimals = Math.min(3, Math.max(0, Math.ceil(-Math.log10(stepMs / 1000) - 1e-9)));
  const s = ms / 1000;
  return `${s < 0 ? '-' : '+'}${Math.abs(s).toFixed(decimals)}s`;
}

/** Draws the time axis again for the window `fromMs` + `widthMs`: a tick and a label per step. */
export function drawAxis(doc: PageDocument, axis: PageElement, fromMs: number, widthMs: number): void {
  /* The SVG namespace, read from the axis: the page holds no URL at all, not even this one. */
  const ns = axis.namespaceURI ?? '';
  const left = Number(axis.getAttribute('data-left'));
  const plotWidth = Number(axis.getAttribute('data-width'));
  const height = Number(axis.getAttribute('data-height'));
  while (axis.firstChild !== null) axis.removeChild(axis.firstChild);
  const step = tickStep(widthMs, Math.floor(plotWidth / 90));
  for (let t = Math.ceil(fromMs / step) * step; t <= fromMs + widthMs + 1e-6; t += step) {
    const x = String(Math.round((left + ((t - fromMs) / widthMs) * plotWidth) * 10) / 10);
    const tick = doc.createElementNS(ns, 'line');
    tick.setAttribute('x1', x);
    tick.setAttribute('x2', x);
    tick.setAttribute('y1', '18');
    tick.setAttribute('y2', String(height));
    tick.setAttribute('class', 'tick');
    const label = doc.createElementNS(ns, 'text');
    label.setAttribute('x', x);
    label.setAttribute('y', '13');
    label.setAttribute('class', 'tick-label');
    label.textContent = tickLabel(t, step);
    axis.appendChild(tick);
    axis.appendChild(label);
  }
}

/** Shows `fromMs` + `widthMs` of the run: the plot's viewBox, the axis, the faults' least width, the controls. */
export function showWindow(doc: PageDocument, fromMs: number, widthMs: number): void {
  const plot = doc.getElementById('plot');
  const axis = doc.getElementById('axis');
  if (plot === null || axis === null) return;
  const height = plot.getAttribute('height') ?? '0';
  plot.setAttribute('viewBox', `${fromMs} 0 ${widthMs} ${height}`);
  drawAxis(doc, axis, fromMs, widthMs);
  /* A fault that nothing ends (a kill, a reset) stays at least 2 px wide however far one zooms out. */
  const msPerPx = widthMs / Number(axis.getAttribute('data-width'));
  const faults = plot.querySelectorAll('rect.fault');
  for (let i = 0; i < faults.length; i += 1) {
    const rect = faults[i] as PageElement;
    rect.setAttribute('width', String(Math.max(Number(rect.getAttribute('data-width-ms')), 2 * msPerPx)));
  }
  const shown = doc.getElementById('zoom-window');
  if (shown !== null) {
    const step = tickStep(widthMs, 100);
    shown.textContent = `${tickLabel(fromMs, step)} … ${tickLabel(fromMs + widthMs, step)}`;
  }
}

/** Wires the zoom buttons, the pan slider, the wheel and dragging; marks the page rendered. */
export function startPage(doc: PageDocument): void {
  const svg = doc.getElementById('timeline');
  const plot = doc.getElementById('plot');
  const pan = doc.getElementById('pan');
  if (svg !== null && plot !== null) {
    const span = Number(svg.getAttribute('data-span-ms'));
    const view = { from: 0, width: span };
    const apply = (from: number, width: number): void => {
      view.width = Math.min(span, Math.max(span / 2000, width));
      view.from = Math.min(span - view.width, Math.max(0, from));
      showWindow(doc, view.from, view.width);
      if (pan !== null) {
        pan.setAttribute(
          'value',
          String(view.width >= span ? 0 : Math.round((view.from / (span - view.width)) * 1000)),
        );
        (pan as unknown as { value: string }).value = pan.getAttribute('value') ?? '0';
      }
    };
    const zoomAt = (factor: number, atMs: number): void =>
      apply(atMs - (atMs - view.from) * factor, view.width * factor);
    const msAt = (clientX: number): number => {
      const box = plot.getBoundingClientRect();
      return view.from + ((clientX - box.left) / Math.max(1, box.width)) * view.width;
    };
    const buttons: Array<[string, () => void]> = [
      ['zoom-in', () => zoomAt(0.5, view.from + view.width / 2)],
      ['zoom-out', () => zoomAt(2, view.from + view.width / 2)],
      ['zoom-reset', () => apply(0, span)],
    ];
    for (const [id, act] of buttons) doc.getElementById(id)?.addEventListener('click', act);
    pan?.addEventListener('input', () => {
      const value = Number((pan as unknown as { value: string }).value);
      apply(((span - view.width) * value) / 1000, view.width);
    });
    plot.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        zoomAt(e.deltaY < 0 ? 1 / 1.25 : 1.25, msAt(e.clientX));
      },
      { passive: false },
    );
    const drag = { x: 0, from: 0 };
    plot.addEventListener('mousedown', (e) => {
      drag.x = e.clientX;
      drag.from = view.from;
    });
    plot.addEventListener('mousemove', (e) => {
      if ((e.buttons & 1) === 0) return;
      const box = plot.getBoundingClientRect();
      apply(drag.from - ((e.clientX - drag.x) / Math.max(1, box.width)) * view.width, view.width);
    });
    apply(0, span);
  }
  doc.body.dataset.rendered = 'true';
}

/** The functions the page's script is made of; {@link startPage} runs it. */
export const CLIENT_FUNCTIONS: ReadonlyArray<(...args: never[]) => unknown> = [
  tickStep,
  tickLabel,
  drawAxis,
  showWindow,
  startPage,
];

/** The page's inline script: each of {@link CLIENT_FUNCTIONS}' source, then the call that starts it. */
export function clientScript(): string {
  return ['"use strict";', ...CLIENT_FUNCTIONS.map((fn) => fn.toString()), 'startPage(document);', ''].join('\n');
}
