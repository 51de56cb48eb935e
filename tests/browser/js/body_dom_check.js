// Inside a rendered mail body document (ours, or the iframe's): what must never be there
// after Chromium parsed the sanitized markup. Returns a list of problem strings.
(given) => {
  // ``given``: a parsed, unrendered document to check instead of the page's own.
  const document = given || window.document;
  const rendered = !given;
  const problems = [];
  const HTML_NS = "http://www.w3.org/1999/xhtml";
  const DENY = new Set(["script", "iframe", "frame", "frameset", "object", "embed", "applet",
    "form", "input", "button", "textarea", "select", "option", "keygen", "isindex", "base",
    "link", "meta", "template", "portal", "fencedframe", "video", "audio", "source", "track",
    "canvas", "map", "area", "noscript", "noembed", "noframes", "xmp", "plaintext", "listing",
    "title", "dialog", "marquee", "svg", "math", "image", "param", "slot", "search"]);
  const URL_ATTRS = new Set(["href", "src", "action", "formaction", "background", "poster",
    "data", "codebase", "cite", "longdesc", "dynsrc", "lowsrc", "xlink:href", "ping",
    "srcset", "usemap", "manifest", "icon", "profile"]);
  const NEVER = new Set(["formaction", "action", "srcdoc", "ping", "srcset", "http-equiv",
    "xlink:href", "codebase", "data", "poster", "dynsrc", "lowsrc", "is", "popovertarget",
    "popover", "contenteditable"]);
  const scheme = (v) => v.replace(/[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]/g, "").toLowerCase();
  const describe = (el) => "<" + el.localName + (el.id ? "#" + el.id : "") + ">";
  const head = document.head ? Array.from(document.head.children) : [];
  for (const el of head) {
    const ok = (el.localName === "style") || (el.localName === "meta" &&
      (el.hasAttribute("charset") || ["referrer", "color-scheme"].includes(el.getAttribute("name"))));
    if (!ok) problems.push("unexpected element in <head>: " + el.outerHTML.slice(0, 120));
  }
  if (document.head && document.head.querySelectorAll("style").length > 1)
    problems.push("more than one style sheet in <head>");
  const all = document.documentElement.querySelectorAll("*");
  for (const el of all) {
    if (el.namespaceURI !== HTML_NS) problems.push("foreign-namespace element " + describe(el));
    const inHead = document.head && document.head.contains(el);
    if (!inHead && DENY.has(el.localName)) problems.push("active element " + describe(el));
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) problems.push("event handler " + name + " on " + describe(el));
      if (NEVER.has(name)) problems.push("attribute " + name + " on " + describe(el));
      if (URL_ATTRS.has(name)) {
        const v = scheme(attr.value);
        const dataImage = /^data:image\/(png|gif|jpe?g|webp)[;,]/.test(v) &&
          (name === "src" || name === "background");
        if (/^(javascript|vbscript|livescript|mocha|data|blob|filesystem|jar):/.test(v) && !dataImage)
          problems.push("script-capable URL in " + name + " of " + describe(el) + ": " + attr.value.slice(0, 80));
      }
    }
    if (el.localName === "a" && el.hasAttribute("href") && !el.getAttribute("href").startsWith("#")) {
      const rel = (el.getAttribute("rel") || "").toLowerCase().split(/\s+/);
      if (el.getAttribute("target") !== "_blank" || !rel.includes("noopener") || !rel.includes("noreferrer"))
        problems.push("link without target=_blank rel=noopener noreferrer: " + el.outerHTML.slice(0, 120));
    }
    const position = rendered ? getComputedStyle(el).position : "";
    if (position === "fixed" || position === "sticky")
      problems.push("position:" + position + " on " + describe(el));
  }
  return problems;
}
