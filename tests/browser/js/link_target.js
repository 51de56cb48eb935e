(el) => {
  const a = el.closest("a") || (el.querySelector && el.querySelector("a"));
  if (!a) return "";
  const href = a.getAttribute("href") || a.getAttributeNS("http://www.w3.org/1999/xlink", "href");
  if (!href) return "";
  try { return new URL(href, document.baseURI).href; } catch (e) { return ""; }
}
