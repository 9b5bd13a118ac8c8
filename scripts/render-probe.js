// Runs in the page, before its first script (page.addInitScript): records in
// window.__renderedAtMs when the page sets body[data-rendered="true"], on the
// page's clock (navigation start = 0). The render time that
// scripts/check-reports.mjs and test/helpers/browser.ts print. Init scripts
// are not subject to the page's Content-Security-Policy.
/* global window, document, performance, MutationObserver */
(() => {
  const observer = new MutationObserver(() => {
    if (document.body && document.body.dataset.rendered === 'true' && window.__renderedAtMs === undefined) {
      window.__renderedAtMs = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-rendered'] });
})();
