import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where the browser tests save their screenshots: the CI artifact (gitignored). */
export const SCREENSHOT_DIR = join(__dirname, '..', '..', 'artifacts', 'screenshots');

/** How long a page may take to set `body[data-rendered]`, in ms: generous, the machine is shared. */
const RENDER_WAIT_MS = 30_000;

/** Jest timeout of a test that launches Chromium and opens pages, in ms. */
export const BROWSER_TEST_TIMEOUT_MS = 120_000;

/**
 * Launches headless Chromium: the one jest.config.js found (PICLUSTER_CHROMIUM,
 * else `chromium` on PATH; scripts/find-chromium.js). playwright-core drives
 * it and downloads nothing. `--no-sandbox`: CI runs as root.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.PICLUSTER_CHROMIUM;
  if (executablePath === undefined || executablePath === '') {
    throw new Error(
      'PICLUSTER_CHROMIUM is unset: run the browser tests through jest (jest.config.js finds the browser)',
    );
  }
  return chromium.launch({ executablePath, args: ['--no-sandbox'] });
}

/** What a page did besides drawing itself: each list must stay empty for a self-contained page. */
export interface PageRecord {
  /** Every request but the page's own file:// URL (`METHOD url`), whether it succeeded or not. */
  readonly requests: string[];
  /** Every request that failed (`url: error`), the page's own included. */
  readonly failedRequests: string[];
  /** Every console message of type `error`. */
  readonly consoleErrors: string[];
  /** Every uncaught exception in the page. */
  readonly pageErrors: string[];
}

/** A page opened from disk that has finished drawing. */
export interface OpenedPage {
  readonly page: Page;
  readonly record: PageRecord;
  /** From navigation start to the moment the page set `body[data-rendered="true"]`, in ms (the page's own clock). */
  readonly renderMs: number;
}

/** Records, from before the page's first script runs, when it has drawn: window.__renderedAtMs. */
const RENDER_PROBE = join(__dirname, '..', '..', 'scripts', 'render-probe.js');

/**
 * Opens `file` in a new page of `browser`, recording every request, failed
 * request, console error and page error from the start, and waits until the
 * page says it has drawn (`document.body.dataset.rendered === 'true'`). A page
 * that does not get there within `renderWaitMs` is closed and fails with what
 * it recorded.
 */
export async function openPage(browser: Browser, file: string, renderWaitMs = RENDER_WAIT_MS): Promise<OpenedPage> {
  const page = await browser.newPage();
  const url = pathToFileURL(file).href;
  const record: PageRecord = { requests: [], failedRequests: [], consoleErrors: [], pageErrors: [] };
  page.on('request', (request) => {
    if (request.url() !== url) record.requests.push(`${request.method()} ${request.url()}`);
  });
  page.on('requestfailed', (request) =>
    record.failedRequests.push(`${request.url()}: ${request.failure()?.errorText ?? 'failed'}`),
  );
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => record.pageErrors.push(String(error)));
  await page.addInitScript({ path: RENDER_PROBE });
  await page.goto(url);
  try {
    await page.waitForFunction("document.body?.dataset.rendered === 'true'", undefined, {
      timeout: renderWaitMs,
    });
  } catch (error) {
    await page.close();
    throw new Error(`${file} did not set body[data-rendered]: ${JSON.stringify(record)}`, { cause: error });
  }
  const renderMs = (await page.evaluate('window.__renderedAtMs')) as number;
  return { page, record, renderMs };
}

/** Saves a full-page screenshot of `page` to artifacts/screenshots/`name`.png; resolves with its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * The attributes `names` of every element matching `selector` in `page`, in
 * document order (absent ones are null). Read in the page in one call.
 */
export async function attributesOf<Name extends string>(
  page: Page,
  selector: string,
  names: readonly Name[],
): Promise<Record<Name, string | null>[]> {
  // A text expression: these tests compile without the DOM's types.
  const expression = `[...document.querySelectorAll(${JSON.stringify(selector)})].map((element) =>
    Object.fromEntries(${JSON.stringify(names)}.map((name) => [name, element.getAttribute(name)])))`;
  return (await page.evaluate(expression)) as Record<Name, string | null>[];
}
