import {
  startPage,
  tickLabel,
  tickStep,
  type PageDocument,
  type PageElement,
  type PageEvent,
} from '../../src/orchestrator/report-html/client';

/** Just enough of a DOM element for the page's script: attributes, children, listeners. */
class FakeElement implements PageElement {
  readonly attributes = new Map<string, string>();
  readonly children: FakeElement[] = [];
  readonly listeners = new Map<string, (event: PageEvent) => void>();
  readonly dataset: Record<string, string | undefined> = {};
  readonly namespaceURI = 'svg-namespace';
  textContent: string | null = null;
  value = '0';

  constructor(
    readonly tag: string,
    attributes: Record<string, string> = {},
    private readonly selected: Record<string, FakeElement[]> = {},
  ) {
    for (const [k, v] of Object.entries(attributes)) this.attributes.set(k, v);
  }

  get firstChild(): FakeElement | null {
    return this.children[0] ?? null;
  }

  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }

  setAttribute(name: string, value: string): void {
    this.attributes.set(name, value);
  }

  addEventListener(type: string, listener: (event: PageEvent) => void): void {
    this.listeners.set(type, listener);
  }

  querySelectorAll(selectors: string): FakeElement[] {
    return this.selected[selectors] ?? [];
  }

  appendChild(child: FakeElement): void {
    this.children.push(child);
  }

  removeChild(child: FakeElement): void {
    this.children.splice(this.children.indexOf(child), 1);
  }

  getBoundingClientRect(): { left: number; width: number } {
    return { left: 100, width: 1000 };
  }

  fire(type: string, event: Partial<PageEvent> = {}): void {
    const listener = this.listeners.get(type);
    if (listener === undefined) throw new Error(`no ${type} listener on ${this.tag}`);
    listener({ clientX: 0, deltaY: 0, buttons: 0, preventDefault: () => undefined, ...event });
  }
}

function fakePage(): { doc: PageDocument; el: Record<string, FakeElement> } {
  const kill = new FakeElement('rect', { 'data-width-ms': '0' });
  const cut = new FakeElement('rect', { 'data-width-ms': '4000' });
  const el: Record<string, FakeElement> = {
    timeline: new FakeElement('svg', { 'data-span-ms': '10000' }),
    plot: new FakeElement('svg', { height: '200' }, { 'rect.fault': [kill, cut] }),
    axis: new FakeElement('g', { 'data-left': '130', 'data-width': '1000', 'data-height': '226' }),
    'zoom-in': new FakeElement('button'),
    'zoom-out': new FakeElement('button'),
    'zoom-reset': new FakeElement('button'),
    pan: new FakeElement('input'),
    'zoom-window': new FakeElement('span'),
    kill,
    cut,
  };
  const body = new FakeElement('body');
  const doc: PageDocument = {
    getElementById: (id) => el[id] ?? null,
    createElementNS: (_ns, tag) => new FakeElement(tag),
    body,
  };
  return { doc, el };
}

const labels = (axis: FakeElement): Array<string | null> =>
  axis.children.filter((c) => c.tag === 'text').map((c) => c.textContent);

describe("report.html's script", () => {
  it('shows the whole run, draws the axis and marks the page rendered', () => {
    const { doc, el } = fakePage();
    expect(doc.body.dataset.rendered).toBeUndefined();
    startPage(doc);
    expect(doc.body.dataset.rendered).toBe('true');
    expect(el.plot?.getAttribute('viewBox')).toBe('0 0 10000 200');
    expect(labels(el.axis as FakeElement)).toEqual([
      '+0s',
      '+1s',
      '+2s',
      '+3s',
      '+4s',
      '+5s',
      '+6s',
      '+7s',
      '+8s',
      '+9s',
      '+10s',
    ]);
    expect(el['zoom-window']?.textContent).toBe('+0.0s … +10.0s');
    // 2 px of 1000 px for 10 s: 20 ms, the least width of a fault nothing ends.
    expect(el.kill?.getAttribute('width')).toBe('20');
    expect(el.cut?.getAttribute('width')).toBe('4000');
  });

  it('zooms in and out around the middle, with the wheel around the pointer, pans, and stays within the run', () => {
    const { doc, el } = fakePage();
    startPage(doc);
    el['zoom-in']?.fire('click');
    expect(el.plot?.getAttribute('viewBox')).toBe('2500 0 5000 200');
    expect(el.kill?.getAttribute('width')).toBe('10');
    expect(labels(el.axis as FakeElement)[0]).toBe('+2.5s');
    el.pan!.value = '1000';
    el.pan?.fire('input');
    expect(el.plot?.getAttribute('viewBox')).toBe('5000 0 5000 200');
    // The pointer at 1/4 of the plot (x 350 of left 100 + width 1000): 6250 ms stays where it is.
    el.plot?.fire('wheel', { deltaY: -1, clientX: 350 });
    expect(el.plot?.getAttribute('viewBox')).toBe('5250 0 4000 200');
    el.plot?.fire('mousedown', { clientX: 600 });
    el.plot?.fire('mousemove', { clientX: 500, buttons: 1 });
    expect(el.plot?.getAttribute('viewBox')).toBe('5650 0 4000 200');
    el.plot?.fire('mousemove', { clientX: 0, buttons: 1 });
    expect(el.plot?.getAttribute('viewBox')).toBe('6000 0 4000 200');
    el['zoom-out']?.fire('click');
    el['zoom-out']?.fire('click');
    expect(el.plot?.getAttribute('viewBox')).toBe('0 0 10000 200');
    el['zoom-in']?.fire('click');
    el['zoom-reset']?.fire('click');
    expect(el.plot?.getAttribute('viewBox')).toBe('0 0 10000 200');
  });

  it('steps its ticks by 1, 2 or 5 × 10^k and labels them with the decimals the step needs', () => {
    expect([tickStep(10_000, 11), tickStep(16_500, 11), tickStep(3000, 11), tickStep(45, 11)]).toEqual([
      1000, 2000, 500, 5,
    ]);
    expect([tickLabel(2000, 1000), tickLabel(2500, 500), tickLabel(1234, 1), tickLabel(-500, 100)]).toEqual([
      '+2s',
      '+2.5s',
      '+1.234s',
      '-0.5s',
    ]);
  });
});
