() => {
  const problems = [];
  if (document.contentType !== "text/plain") problems.push("raw view rendered as " + document.contentType);
  for (const el of document.querySelectorAll("*"))
    if (!["html", "head", "body", "pre", "meta", "style", "link"].includes(el.localName))
      problems.push("element <" + el.localName + "> in the raw view");
  return problems;
}
