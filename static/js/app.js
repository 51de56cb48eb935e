/* Every page: the theme toggle, the keyboard shortcuts (and their dialog), small helpers for the
 * mail scripts (window.webmail). Progressive enhancement only: every page works without it.
 * Loaded with "defer" from our own origin (CSP script-src 'self'); user-visible words come from
 * the server-rendered #ui-strings element, so they are translated like the templates.
 */
(function () {
  "use strict";

  var root = document.documentElement;
  var stringsBox = document.getElementById("ui-strings");
  var statusBox = document.getElementById("live-status");

  function t(name, values) {
    var text = (stringsBox && stringsBox.dataset[name]) || "";
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("%(" + k + ")s").join(String(values[k]));
    });
    return text;
  }
  function say(text) {
    if (!statusBox || !text) { return; }
    statusBox.textContent = "";
    window.setTimeout(function () { statusBox.textContent = text; }, 50);
  }
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  /* Submit a POST form built like the page's own (CSRF token, hidden list parameters). */
  function post(url, fields, extraFrom) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = url;
    form.hidden = true;
    function add(name, value) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    add("csrfmiddlewaretoken", csrfToken());
    if (extraFrom) {
      Array.prototype.forEach.call(extraFrom.querySelectorAll("input[type=hidden]"), function (i) {
        if (i.name && i.name !== "csrfmiddlewaretoken" && i.name !== "next") { add(i.name, i.value); }
      });
    }
    Object.keys(fields).forEach(function (name) {
      [].concat(fields[name]).forEach(function (value) { add(name, String(value)); });
    });
    document.body.appendChild(form);
    form.submit();
  }
  /* A list row's UID, from its subject link (/mail/<folder>/<uid>/). */
  function rowUid(row) {
    var link = row && row.querySelector(".col-subject a");
    var match = link && /\/(\d+)\/$/.exec(new URL(link.href, window.location.href).pathname);
    return match ? match[1] : null;
  }
  function findRow(scope, uid) {
    return Array.prototype.filter.call((scope || document).querySelectorAll("tr.message-row"),
      function (r) { return rowUid(r) === uid; })[0] || null;
  }
  window.webmail = { t: t, say: say, post: post, rowUid: rowUid, findRow: findRow };

  /* ---- theme: follow the system, or the user's choice saved in their settings -------------- */

  var themeButton = document.getElementById("theme-toggle");
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function isDark() {
    var theme = root.getAttribute("data-theme");
    return theme === "dark" || (theme !== "light" && !!darkQuery && darkQuery.matches);
  }
  function showTheme() {
    if (themeButton) { themeButton.setAttribute("aria-pressed", isDark() ? "true" : "false"); }
  }
  function saveTheme(theme) {
    var body = new FormData();
    body.append("theme", theme);
    return fetch("/settings/theme/", {method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": csrfToken()}})
      .then(function (r) { if (!r.ok) { throw new Error("save " + r.status); } });
  }
  if (themeButton) {
    themeButton.hidden = false;
    showTheme();
    if (darkQuery && darkQuery.addEventListener) { darkQuery.addEventListener("change", showTheme); }
    themeButton.addEventListener("click", function () {
      var next = isDark() ? "light" : "dark";
      root.setAttribute("data-theme", next);
      showTheme();
      say(t(next === "dark" ? "darkOn" : "darkOff"));
      saveTheme(next).catch(function () { say(t("themeFailed")); });
    });
  }

  /* ---- the shortcuts dialog ----------------------------------------------------------------- */

  var dialog = document.getElementById("shortcuts");
  var openButton = document.getElementById("shortcuts-open");
  var closeButton = document.getElementById("shortcuts-close");
  var before = null;
  function openDialog() {
    if (!dialog || dialog.open || !dialog.showModal) { return; }
    before = document.activeElement;
    dialog.showModal();
    closeButton.focus();
  }
  if (dialog && dialog.showModal) {
    if (openButton) {
      openButton.hidden = false;
      openButton.addEventListener("click", openDialog);
    }
    closeButton.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      // Give the focus back, unless it has already moved on (the close event comes late).
      var now = document.activeElement;
      var free = !now || now === document.body || dialog.contains(now);
      if (free && before && before.focus && document.contains(before)) { before.focus(); }
    });
    dialog.addEventListener("click", function (ev) {  // a click on the backdrop closes it
      if (ev.target === dialog) {
        var box = dialog.getBoundingClientRect();
        if (ev.clientX < box.left || ev.clientX > box.right || ev.clientY < box.top ||
            ev.clientY > box.bottom) { dialog.close(); }
      }
    });
    // Keep Tab inside the dialog (the page behind it is inert, the browser's own UI is not).
    dialog.addEventListener("keydown", function (ev) {
      if (ev.key !== "Tab") { return; }
      var items = Array.prototype.filter.call(dialog.querySelectorAll(
        "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return !el.disabled && el.offsetParent !== null; });
      if (!items.length) { ev.preventDefault(); return; }
      var first = items[0], last = items[items.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    });
  }

  /* ---- keyboard shortcuts (Gmail's letters) -------------------------------------------------- */

  function typing(el) {
    if (!el || el === document.body) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable ||
      !!(el.closest && el.closest("[contenteditable]:not([contenteditable=false])"));
  }
  function click(el) { if (el) { el.click(); return true; } return false; }

  var listForm = document.getElementById("actions");
  var article = document.querySelector("article.message");
  var messageForm = document.getElementById("message-actions");
  var cursor = null;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(
      ".mail-main table.messages tr.message-row"));
  }
  function rowLink(row) { return row && row.querySelector(".col-subject a"); }
  function currentRow() {
    var active = document.activeElement;
    var row = active && active.closest ? active.closest("tr.message-row") : null;
    if (row && rows().indexOf(row) >= 0) { return row; }
    if (cursor && document.contains(cursor)) { return cursor; }
    var uid = cursor && rowUid(cursor);
    return uid ? findRow(document.querySelector(".mail-main"), uid) : null;
  }
  function setCursor(row) {
    rows().forEach(function (r) { r.classList.remove("cursor"); });
    cursor = row;
    if (!row) { return; }
    row.classList.add("cursor");
    var link = rowLink(row);
    if (link) { link.focus(); }
    row.scrollIntoView({block: "nearest"});
  }
  function moveCursor(step) {
    var list = rows();
    if (!list.length) { return; }
    var index = list.indexOf(currentRow());
    index = index < 0 ? 0 : Math.min(list.length - 1, Math.max(0, index + step));
    setCursor(list[index]);
  }
  // Which messages an action applies to: the ticked ones, else the one under the cursor.
  function targetUids() {
    var ticked = Array.prototype.map.call(
      document.querySelectorAll(".mail-main input[name=uid]:checked"), function (b) { return b.value; });
    if (ticked.length) { return ticked; }
    var row = currentRow();
    return row ? [rowUid(row)] : [];
  }
  function listAction(action, extra) {
    var uids = targetUids();
    if (!uids.length) { say(t("noneSelected")); return; }
    var fields = {action: action, uid: uids};
    Object.keys(extra || {}).forEach(function (k) { fields[k] = extra[k]; });
    post(listForm.getAttribute("action"), fields, listForm);
  }
  function composeFor(kind) {
    var row = currentRow();
    var folder = listForm && document.querySelector(".mail-layout").getAttribute("data-folder");
    if (!row || folder === null) { return; }
    window.location.href = "/compose/?" + kind + "=" +
      encodeURIComponent(folder + "/" + rowUid(row));
  }
  function archiveFolder(form) { return form ? form.getAttribute("data-archive") : ""; }

  var pendingG = 0;
  var handlers = {
    "?": openDialog,
    "c": function () { window.location.href = "/compose/"; },
    "/": function () {
      var box = document.getElementById("q");
      var layout = document.querySelector(".mail-layout");
      if (box) { box.focus(); box.select(); }
      else if (layout) { window.location.href = layout.getAttribute("data-folder-url") + "#q"; }
    },
    "j": function () { if (article) { click(article.querySelector(".message-nav a[rel=next]")); } else { moveCursor(1); } },
    "k": function () { if (article) { click(article.querySelector(".message-nav a[rel=prev]")); } else { moveCursor(-1); } },
    "o": function () { if (!article) { click(rowLink(currentRow())); } },
    "Enter": function () { if (!article) { click(rowLink(currentRow())); } },
    "u": function () { if (article) { click(article.querySelector(".message-nav a.back")); } },
    "x": function () {
      var row = currentRow();
      var box = row && row.querySelector("input[name=uid]");
      if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change", {bubbles: true})); }
    },
    "r": function () { if (article) { click(article.querySelector("[data-shortcut=r]")); } else { composeFor("reply"); } },
    "a": function () { if (article) { click(article.querySelector("[data-shortcut=a]")); } else { composeFor("reply_all"); } },
    "f": function () { if (article) { click(article.querySelector("[data-shortcut=f]")); } else { composeFor("forward"); } },
    "s": function () {
      if (article) { click(article.querySelector("[data-shortcut=s]")); return; }
      var row = currentRow();
      if (!row || !listForm) { say(t("noneSelected")); return; }
      post(listForm.getAttribute("action"), {
        action: row.classList.contains("flagged") ? "unflag" : "flag",
        uid: rowUid(row)}, listForm);
    },
    "e": function () {
      var form = article ? messageForm : listForm;
      var archive = archiveFolder(form);
      if (!form) { return; }
      if (!archive) { say(t("noArchive")); return; }
      if (article) {
        form.querySelector("select[name=target]").value = archive;
        click(form.querySelector("button[value=move]"));
      } else {
        listAction("move", {target: archive});
      }
    },
    "#": function () {
      if (article) { click(messageForm && messageForm.querySelector("button[value=delete]")); }
      else if (listForm) { listAction("delete"); }
    }
  };
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) { return; }
    if (typing(ev.target) || (dialog && dialog.open)) { return; }
    var key = ev.key;
    if (key === "Enter") {
      // Enter on a link or button does what it always does.
      var tag = ev.target && ev.target.tagName;
      if (tag === "A" || tag === "BUTTON" || tag === "SUMMARY") { return; }
    }
    if (pendingG && Date.now() - pendingG < 1500) {
      pendingG = 0;
      if (key === "i") { ev.preventDefault(); window.location.href = "/mail/INBOX/"; }
      return;
    }
    if (key === "g") { pendingG = Date.now(); return; }
    var handler = Object.prototype.hasOwnProperty.call(handlers, key) ? handlers[key] : null;
    if (!handler) { return; }
    ev.preventDefault();
    handler();
  });
  // Clicking or tabbing into a row moves the cursor there.
  document.addEventListener("focusin", function (ev) {
    var row = ev.target.closest && ev.target.closest(".mail-main tr.message-row");
    if (row) {
      rows().forEach(function (r) { if (r !== row) { r.classList.remove("cursor"); } });
      row.classList.add("cursor");
      cursor = row;
    }
  });
  // "/" from a message page lands here with #q: put the cursor in the search box.
  if (window.location.hash === "#q") {
    var search = document.getElementById("q");
    if (search) { search.focus(); }
  }
})();
