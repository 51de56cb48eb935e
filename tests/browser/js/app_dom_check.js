// Inside an app page (mailbox, message view, compose, outbox): nothing from a message may
// have become markup. Scripts only from /static/, one sandboxed body frame at most.
() => {
  const problems = [];
  const origin = location.origin;
  const describe = (el) => "<" + el.localName + (el.id ? "#" + el.id : "") + ">";
  for (const s of document.querySelectorAll("script")) {
    const src = s.getAttribute("src") || "";
    if (!src.startsWith("/static/") && !src.startsWith(origin + "/static/"))
      problems.push("script element not from /static/: " + s.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) problems.push("event handler " + name + " on " + describe(el));
      if (["srcdoc", "ping"].includes(name)) problems.push(name + " on " + describe(el));
      if (["action", "formaction"].includes(name) && !/^\/(?![\/\\])/.test(attr.value))
        problems.push(name + " to " + attr.value.slice(0, 80) + " on " + describe(el));
      const dataImage = el.localName === "img" && name === "src" &&
        /^data:image\/(png|gif|jpe?g|webp)[;,]/i.test(attr.value);
      if (["href", "src", "action", "formaction"].includes(name) && !dataImage &&
          /^[\s\u0000-\u001f]*(javascript|vbscript|data):/i.test(attr.value))
        problems.push("script-capable URL on " + describe(el));
    }
    if (["object", "embed", "applet", "base", "frame", "frameset", "portal"].includes(el.localName))
      problems.push("element " + describe(el));
    if (el.localName === "meta" && el.hasAttribute("http-equiv"))
      problems.push("meta http-equiv " + el.getAttribute("http-equiv"));
    if (el.localName === "img" && el.hasAttribute("src")) {
      // Our own images, data: images, or a draft's cid: reference (which loads nothing).
      const src = el.getAttribute("src");
      if (!/^\/(?![\/\\])/.test(src) && !src.startsWith(origin + "/") &&
          !/^(data:image\/|cid:)/i.test(src))
        problems.push("image from elsewhere: " + src.slice(0, 80));
    }
  }
  for (const f of document.querySelectorAll("iframe")) {
    const tokens = (f.getAttribute("sandbox") || "").toLowerCase().split(/\s+/);
    if (!f.hasAttribute("sandbox") || tokens.includes("allow-scripts") ||
        tokens.includes("allow-same-origin") || tokens.includes("allow-top-navigation") ||
        tokens.includes("allow-forms") || tokens.includes("allow-modals"))
      problems.push("iframe without a strict sandbox: " + f.outerHTML.slice(0, 160));
    if (!/\/mail\/.+\/[0-9]+\/body\/(\?remote=1)?$/.test(f.getAttribute("src") || ""))
      problems.push("iframe that is not a body document: " + (f.getAttribute("src") || "").slice(0, 80));
  }
  if (document.querySelectorAll("title").length !== 1) problems.push("not exactly one <title>");
  return problems;
}
