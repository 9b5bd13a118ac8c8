// The browser helper's own record: what the report tests assert to be empty
// must be seen when a page does make a request, log an error or throw.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { BROWSER_TEST_TIMEOUT_MS, launchBrowser, openPage } from '../helpers/browser';

jest.setTimeout(BROWSER_TEST_TIMEOUT_MS);

let browser: Browser;
let dir: string;

beforeAll(async () => {
  browser = await launchBrowser();
  dir = mkdtempSync(join(tmpdir(), 'picluster-browser-'));
});

afterAll(async () => {
  await browser?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function page(name: string, body: string): string {
  const file = join(dir, `${name}.html`);
  writeFileSync(file, `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>${body}</body></html>`);
  return file;
}

const RENDERED = `<script>document.body.dataset.rendered = 'true';</script>`;

describe('openPage', () => {
  it('records nothing for a page that only draws itself, and says when it was drawn', async () => {
    const opened = await openPage(browser, page('quiet', `<p>hello</p>${RENDERED}`));
    expect(opened.record).toEqual({ requests: [], failedRequests: [], consoleErrors: [], pageErrors: [] });
    expect(opened.renderMs).toBeGreaterThan(0);
    await opened.page.close();
  });

  it('records requests to the network and to other files, failed requests, console errors and page errors', async () => {
    const file = page(
      'noisy',
      `<img src="http://127.0.0.1:9/pixel.png"><img src="missing.png">
       <script>console.error('drawn badly'); console.log('not an error');</script>
       <script>setTimeout(() => { throw new Error('late failure'); });
         setTimeout(() => { document.body.dataset.rendered = 'true'; }, 50);</script>`,
    );
    const { page: opened, record } = await openPage(browser, file);
    expect(record.requests).toEqual(
      expect.arrayContaining([
        'GET http://127.0.0.1:9/pixel.png',
        `GET ${pathToFileURL(join(dir, 'missing.png')).href}`,
      ]),
    );
    expect(record.failedRequests.map((line) => line.split(': ')[0])).toEqual(
      expect.arrayContaining(['http://127.0.0.1:9/pixel.png']),
    );
    expect(record.consoleErrors).toEqual(expect.arrayContaining(['drawn badly']));
    expect(record.consoleErrors).not.toContain('not an error');
    expect(record.pageErrors).toEqual([expect.stringContaining('late failure')]);
    await opened.close();
  });

  it('fails with what the page did when it never says it has drawn', async () => {
    const file = page('never', `<script>console.error('stuck');</script>`);
    await expect(openPage(browser, file, 1_000)).rejects.toThrow(/did not set body\[data-rendered\].*stuck/);
  });
});
