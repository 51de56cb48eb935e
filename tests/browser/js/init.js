// Runs before any script of every document (frames included, sandboxed ones too with
// --disable-features=IsolateSandboxedIframes). Non-writable, so markup cannot clobber it.
(() => {
  const report = (id) => {
    const text = String(id);
    try { console.log("__XSS__:" + text); } catch (e) {}
    try { window.__xssReport(text); } catch (e) {}
  };
  try {
    Object.defineProperty(window, "__xss", {value: report, writable: false,
                                            configurable: false});
  } catch (e) { window.__xss = report; }
})();
