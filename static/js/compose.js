/* Compose page: rich-text editor, recipient suggestions, attachment uploads, draft autosave.
 *
 * The page works without this file (plain text, plain file input, buttons that post). Loaded
 * with "defer" from our own origin: no inline script or style (CSP script-src/style-src 'self').
 */
(function () {
  "use strict";

  var form = document.getElementById("compose-form");
  if (!form) { return; }

  var AUTOSAVE_MS = parseInt(form.getAttribute("data-autosave-ms"), 10) || 20000;
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var tokenInput = form.querySelector("input[name=token]");
  var statusBox = document.getElementById("draft-status");
  var dirty = false;
  var submitting = false;
  var uploadsInFlight = 0;

  function say(text) { if (statusBox) { statusBox.textContent = text; } }
  // Words come translated from the page (#compose-strings); English if one is missing.
  var words = (document.getElementById("compose-strings") || {dataset: {}}).dataset;
  function tr(key, fallback, values) {
    var text = words[key] || fallback;
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("%(" + k + ")s").join(String(values[k]));
    });
    return text;
  }
  function markDirty() { dirty = true; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "className") { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function humanSize(n) {
    if (n < 1024) { return n + " B"; }
    if (n < 1024 * 1024) { return (n / 1024).toFixed(1) + " KB"; }
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  /* ---- rich-text editor --------------------------------------------------------------- */

  var textarea = document.getElementById("id_body");
  var htmlField = document.getElementById("id_body_html");
  var formatField = form.querySelector("input[name=format]");
  var area = document.getElementById("editor-area");
  var editor = el("div", {className: "rich-editor", contenteditable: "true", role: "textbox",
    "aria-multiline": "true", "aria-label": textarea.labels && textarea.labels[0] ?
      textarea.labels[0].textContent : tr("message", "Message"), hidden: ""});
  var toolbar = el("div", {className: "editor-toolbar", role: "toolbar",
    "aria-label": tr("formatting", "Formatting"), "aria-controls": "id_body"});
  var commands = [
    ["bold", tr("boldKey", "B"), tr("bold", "Bold (Ctrl+B)")],
    ["italic", tr("italicKey", "I"), tr("italic", "Italic (Ctrl+I)")],
    ["underline", tr("underlineKey", "U"), tr("underline", "Underline (Ctrl+U)")], null,
    ["insertUnorderedList", tr("bulletsShort", "• List"), tr("bullets", "Bulleted list")],
    ["insertOrderedList", tr("numbersShort", "1. List"), tr("numbers", "Numbered list")],
    ["formatBlock:blockquote", tr("quoteShort", "❝ Quote"), tr("quote", "Quote")],
    ["createLink", tr("linkShort", "Link"), tr("link", "Insert link")],
    ["removeFormat", tr("clearShort", "Clear"), tr("clear", "Clear formatting")]
  ];
  var formatButtons = [];
  commands.forEach(function (c) {
    if (!c) {
      var sep = el("span", {className: "sep", "aria-hidden": "true"});
      sep.hidden = true;
      formatButtons.push(sep);
      toolbar.appendChild(sep);
      return;
    }
    var b = el("button", {type: "button", title: c[2], "aria-label": c[2], "data-cmd": c[0]}, c[1]);
    if (["bold", "italic", "underline"].indexOf(c[0]) >= 0) { b.setAttribute("aria-pressed", "false"); }
    b.hidden = true;
    formatButtons.push(b);
    toolbar.appendChild(b);
  });
  var modeButton = el("button", {type: "button", className: "mode", "aria-pressed": "false",
    title: tr("modeTitle", "Switch between rich text and plain text")}, tr("mode", "Rich text"));
  toolbar.appendChild(modeButton);
  area.insertBefore(toolbar, textarea);
  area.insertBefore(editor, textarea);
  area.classList.add("has-toolbar");

  function escapeHtml(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }
  function textToHtml(text) {
    // "> " quoted lines become a blockquote; other lines keep their breaks.
    var out = [], quote = [];
    function flush() {
      if (quote.length) { out.push("<blockquote>" + quote.join("<br>") + "</blockquote>"); quote = []; }
    }
    text.split(/\r?\n/).forEach(function (line) {
      if (/^>/.test(line)) { quote.push(escapeHtml(line.replace(/^> ?/, ""))); return; }
      flush();
      out.push(line ? "<div>" + escapeHtml(line) + "</div>" : "<div><br></div>");
    });
    flush();
    return out.join("");
  }
  function isRich() { return formatField.value === "html"; }
  function setMode(rich) {
    if (rich === isRich()) { return; }
    if (rich) {
      editor.innerHTML = textToHtml(textarea.value);
      formatField.value = "html";
    } else {
      if (!window.confirm(tr("toPlain", "Switch to plain text? Formatting will be lost."))) { return; }
      textarea.value = editor.innerText.replace(/\n{3,}/g, "\n\n");
      formatField.value = "plain";
    }
    showMode();
    markDirty();
    (rich ? editor : textarea).focus();
  }
  function showMode() {
    var rich = isRich();
    editor.hidden = !rich;
    textarea.hidden = rich;
    formatButtons.forEach(function (b) { b.hidden = !rich; });
    modeButton.setAttribute("aria-pressed", rich ? "true" : "false");
  }
  function syncEditor() {
    if (isRich()) {
      htmlField.value = editor.innerHTML;
      textarea.value = editor.innerText;
    }
  }
  // Sanitized HTML from the server into the editor. It is parsed in an inert <template>
  // first (nothing loads or runs there) and loses every class but our own "mail-*" ones, so
  // a quoted message cannot dress itself in the page's styles; its style sheets were never
  // kept. Images come from our own origin (/compose/inline/...), never from elsewhere.
  function loadEditor(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    Array.prototype.forEach.call(holder.content.querySelectorAll("[class]"), function (node) {
      var own = node.getAttribute("class").split(/\s+/).filter(function (name) {
        return /^mail-[a-z-]+$/.test(name);
      });
      if (own.length) { node.setAttribute("class", own.join(" ")); } else { node.removeAttribute("class"); }
    });
    editor.textContent = "";
    editor.appendChild(holder.content);
  }
  // The server renders format=plain (right without JavaScript) and says in data-format
  // whether the text was rich; its HTML, sanitized on the server, goes back into the editor.
  if (form.getAttribute("data-format") === "html" && htmlField.value.trim()) {
    loadEditor(htmlField.value);
    formatField.value = "html";
  }
  showMode();
  modeButton.addEventListener("click", function () { setMode(!isRich()); });
  // Start where the person will type: the recipients, or the top of a reply's body.
  var firstTo = document.getElementById("id_to");
  if (firstTo && !firstTo.value) {
    firstTo.focus();
  } else if (!isRich()) {
    textarea.focus();
    textarea.setSelectionRange(0, 0);
    textarea.scrollTop = 0;
  } else {
    editor.focus();
    var caret = document.createRange();
    caret.setStart(editor.firstChild || editor, 0);
    caret.collapse(true);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(caret);
  }
  toolbar.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-cmd]");
    if (!b) { return; }
    editor.focus();
    var cmd = b.getAttribute("data-cmd");
    if (cmd === "createLink") {
      var url = window.prompt(tr("linkPrompt", "Link address (https://…)"), "https://");
      if (!url || !/^(https?:|mailto:)/i.test(url.trim())) { return; }
      document.execCommand("createLink", false, url.trim());
    } else if (cmd.indexOf("formatBlock:") === 0) {
      document.execCommand("formatBlock", false, cmd.split(":")[1]);
    } else {
      document.execCommand(cmd, false, null);
    }
    updatePressed();
    markDirty();
  });
  function updatePressed() {
    formatButtons.forEach(function (b) {
      if (b.tagName === "BUTTON" && b.hasAttribute("aria-pressed")) {
        var state = false;
        try { state = document.queryCommandState(b.getAttribute("data-cmd")); } catch (e) { /* */ }
        b.setAttribute("aria-pressed", state ? "true" : "false");
      }
    });
  }
  editor.addEventListener("keyup", updatePressed);
  editor.addEventListener("mouseup", updatePressed);
  editor.addEventListener("input", markDirty);
  // Pasting keeps text only: the server sanitizes anyway, this keeps the draft tidy.
  editor.addEventListener("paste", function (ev) {
    if (!ev.clipboardData) { return; }
    ev.preventDefault();
    document.execCommand("insertText", false, ev.clipboardData.getData("text/plain"));
  });

  /* ---- signature follows the chosen identity ---------------------------------------------- */

  var fromSelect = document.getElementById("id_from_email");
  var lastSignature = fromSelect && fromSelect.selectedOptions[0] ?
    fromSelect.selectedOptions[0].getAttribute("data-signature") || "" : "";
  if (fromSelect) {
    fromSelect.addEventListener("change", function () {
      var next = fromSelect.selectedOptions[0].getAttribute("data-signature") || "";
      if (isRich()) { lastSignature = next; return; }
      var oldBlock = "-- \n" + lastSignature;
      var body = textarea.value.replace(/\r\n/g, "\n");
      var at = lastSignature ? body.lastIndexOf(oldBlock) : -1;
      if (at >= 0) {
        body = body.slice(0, at) + (next ? "-- \n" + next : "") + body.slice(at + oldBlock.length);
      } else if (next) {
        body = body.replace(/\s*$/, "") + "\n\n-- \n" + next;
      }
      textarea.value = body;
      lastSignature = next;
      markDirty();
    });
  }

  /* ---- recipient suggestions (combobox + listbox) ----------------------------------------- */

  var suggestUrl = form.getAttribute("data-autocomplete-url");
  var listCounter = 0;

  function quoteName(name) {
    if (!/[()<>\[\]:;@\\,."]/.test(name)) { return name; }
    return "\"" + name.replace(/\\/g, "\\\\").replace(/"/g, "\\\"") + "\"";
  }
  function currentTerm(value) {
    var parts = value.split(/[,;]/);
    return parts[parts.length - 1].trim();
  }

  function setupCombobox(input) {
    listCounter += 1;
    var listId = input.id + "-suggestions";
    var list = el("ul", {id: listId, role: "listbox", className: "suggestions",
      "aria-label": tr("suggestions", "Suggestions"), hidden: ""});
    input.parentNode.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    var items = [], active = -1, timer = null, seq = 0;

    function close() {
      list.hidden = true;
      list.textContent = "";
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function highlight(index) {
      var nodes = list.children;
      for (var i = 0; i < nodes.length; i++) {
        nodes[i].setAttribute("aria-selected", i === index ? "true" : "false");
      }
      active = index;
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", nodes[index].id);
        nodes[index].scrollIntoView({block: "nearest"});
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function choose(index) {
      var s = items[index];
      if (!s) { return; }
      var text = s.name ? quoteName(s.name) + " <" + s.email + ">" : s.email;
      var value = input.value;
      var cut = Math.max(value.lastIndexOf(","), value.lastIndexOf(";"));
      var head = cut >= 0 ? value.slice(0, cut + 1) + " " : "";
      input.value = head + text + ", ";
      close();
      markDirty();
      input.focus();
    }
    function render(data) {
      list.textContent = "";
      items = data;
      data.forEach(function (s, i) {
        var li = el("li", {id: listId + "-" + i, role: "option", "aria-selected": "false"});
        if (s.name) { li.appendChild(el("span", {className: "name"}, s.name)); }
        li.appendChild(el("span", {className: "addr"}, s.email));
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      if (data.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
        highlight(-1);
      } else {
        close();
      }
    }
    function lookup() {
      var term = currentTerm(input.value);
      if (term.length < 2) { close(); return; }
      var mine = ++seq;
      fetch(suggestUrl + "?q=" + encodeURIComponent(term), {
        credentials: "same-origin", headers: {"Accept": "application/json"}
      }).then(function (r) { return r.ok ? r.json() : {results: []}; })
        .then(function (data) { if (mine === seq) { render(data.results || []); } })
        .catch(function () { close(); });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 150);
    });
    input.addEventListener("keydown", function (ev) {
      if (list.hidden) {
        if (ev.key === "ArrowDown" && currentTerm(input.value).length >= 2) { lookup(); }
        return;
      }
      if (ev.key === "ArrowDown") { ev.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (ev.key === "Enter" || (ev.key === "Tab" && active >= 0)) {
        if (active >= 0) { ev.preventDefault(); choose(active); }
      } else if (ev.key === "Escape") { ev.preventDefault(); close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  }
  Array.prototype.forEach.call(form.querySelectorAll("input.recipients"), setupCombobox);

  /* ---- attachments: XHR upload with progress, cancel, remove, drag and drop ---------------- */

  var uploadUrl = form.getAttribute("data-upload-url");
  var budget = parseInt(form.getAttribute("data-budget"), 10) || 0;
  var fileInput = document.getElementById("id_files");
  var list = document.getElementById("attachment-list");
  var dropZone = document.getElementById("attachments");
  var usedBytes = 0;
  // Sizes of what the server already holds come from the page.
  Array.prototype.forEach.call(list.querySelectorAll("li[data-size]"), function (li) {
    usedBytes += parseInt(li.getAttribute("data-size"), 10) || 0;
  });

  function removeButton(li, id, size) {
    var b = li.querySelector(".remove-upload") || el("button", {type: "button",
      className: "link danger remove-upload"}, tr("remove", "Remove"));
    b.hidden = false;
    var box = li.querySelector("input[type=checkbox]");
    if (box) { box.hidden = true; }
    b.setAttribute("aria-label", tr("removeName", "Remove %(name)s",
      {name: (li.querySelector(".name") || {}).textContent}));
    b.addEventListener("click", function () {
      var body = new FormData();
      body.append("token", tokenInput.value);
      fetch(uploadUrl + encodeURIComponent(id) + "/delete/", {method: "POST", body: body,
        credentials: "same-origin", headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
        .then(function () { usedBytes -= size; li.remove(); markDirty(); say(tr("removed", "Attachment removed")); })
        .catch(function () { say(tr("notRemoved", "Could not remove the attachment")); });
    });
    if (!b.parentNode) { li.appendChild(b); }
  }
  Array.prototype.forEach.call(list.querySelectorAll("li[data-upload-id]"), function (li) {
    removeButton(li, li.getAttribute("data-upload-id"),
      parseInt(li.getAttribute("data-size"), 10) || 0);
  });

  function upload(file) {
    var li = el("li", {});
    var name = el("span", {className: "name"}, file.name);
    var size = el("span", {className: "size"}, humanSize(file.size));
    li.appendChild(name);
    li.appendChild(size);
    list.appendChild(li);
    if (budget && usedBytes + file.size > budget) {
      li.appendChild(el("span", {className: "error", role: "alert"},
        tr("tooLarge", "Too large: attachments may add up to %(size)s.", {size: humanSize(budget)})));
      setTimeout(function () { li.remove(); }, 8000);
      return;
    }
    var bar = el("progress", {max: "100", value: "0",
      "aria-label": tr("uploading", "Uploading %(name)s", {name: file.name})});
    var cancel = el("button", {type: "button", className: "link danger"}, tr("cancel", "Cancel"));
    li.appendChild(bar);
    li.appendChild(cancel);
    var xhr = new XMLHttpRequest();
    var body = new FormData();
    body.append("token", tokenInput.value);
    body.append("file", file, file.name);
    usedBytes += file.size;
    uploadsInFlight += 1;
    function done() { uploadsInFlight -= 1; bar.remove(); cancel.remove(); }
    function fail(text) {
      usedBytes -= file.size;
      done();
      li.appendChild(el("span", {className: "error", role: "alert"}, text));
      setTimeout(function () { li.remove(); }, 8000);
    }
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { bar.value = Math.round(ev.loaded / ev.total * 100); }
    });
    xhr.addEventListener("load", function () {
      var data = {};
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = {}; }
      if (xhr.status !== 200 || !data.id) { fail(data.error || tr("uploadFailed", "Upload failed.")); return; }
      done();
      li.setAttribute("data-upload-id", data.id);
      li.setAttribute("data-size", String(data.size));
      var box = el("input", {type: "checkbox", name: "attachment", value: data.id,
        id: "att-" + data.id, checked: ""});
      box.hidden = true;
      li.insertBefore(box, name);
      name.textContent = data.filename;
      usedBytes += data.size - file.size;
      removeButton(li, data.id, data.size);
      markDirty();
      say(tr("attached", "Attached %(name)s", {name: data.filename}));
    });
    xhr.addEventListener("error", function () { fail(tr("uploadNetwork", "Upload failed (network).")); });
    xhr.addEventListener("abort", function () { usedBytes -= file.size; done(); li.remove(); });
    cancel.addEventListener("click", function () { xhr.abort(); });
    xhr.open("POST", uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(body);
  }
  function uploadAll(files) { Array.prototype.forEach.call(files, upload); }

  fileInput.addEventListener("change", function () {
    uploadAll(fileInput.files);
    fileInput.value = "";  // sent by XHR; the form post must not carry them again
  });
  ["dragenter", "dragover"].forEach(function (type) {
    form.addEventListener(type, function (ev) {
      if (ev.dataTransfer && Array.prototype.indexOf.call(ev.dataTransfer.types, "Files") >= 0) {
        ev.preventDefault();
        dropZone.classList.add("dragging");
      }
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    form.addEventListener(type, function () { dropZone.classList.remove("dragging"); });
  });
  form.addEventListener("drop", function (ev) {
    if (ev.dataTransfer && ev.dataTransfer.files.length) {
      ev.preventDefault();
      uploadAll(ev.dataTransfer.files);
    }
  });

  /* ---- drafts: save button, autosave, discard --------------------------------------------- */

  var draftUrl = form.getAttribute("data-draft-url");
  var saving = false;

  function draftBody() {
    syncEditor();
    var body = new FormData(form);
    body.delete("files");
    return body;
  }
  function saveDraft() {
    if (saving || submitting) { return Promise.resolve(); }
    saving = true;
    dirty = false;
    say(tr("saving", "Saving draft…"));
    return fetch(draftUrl, {method: "POST", body: draftBody(), credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (data) { return [r.ok, data]; }); })
      .then(function (res) {
        if (res[0] && res[1].saved) {
          say(tr("savedAt", "Draft saved at %(time)s", {time: res[1].saved}));
        } else {
          dirty = true;
          say(res[1].error || tr("notSaved", "The draft was not saved."));
        }
      })
      .catch(function () { dirty = true; say(tr("offline", "The draft was not saved (no connection).")); })
      .then(function () { saving = false; });
  }
  form.addEventListener("input", markDirty);
  form.addEventListener("change", markDirty);
  setInterval(function () { if (dirty && uploadsInFlight === 0) { saveDraft(); } }, AUTOSAVE_MS);

  document.getElementById("save-button").addEventListener("click", function (ev) {
    ev.preventDefault();
    saveDraft();
  });
  document.getElementById("discard-button").addEventListener("click", function (ev) {
    if (!window.confirm(tr("discard", "Discard this message and its draft?"))) { ev.preventDefault(); return; }
    submitting = true;
  });
  form.addEventListener("submit", function (ev) {
    if (uploadsInFlight > 0) {
      ev.preventDefault();
      say(tr("wait", "Wait until the attachments are uploaded."));
      return;
    }
    syncEditor();
    submitting = true;
  });
  window.addEventListener("beforeunload", function (ev) {
    if (dirty && !submitting) { ev.preventDefault(); ev.returnValue = ""; }
  });
})();
