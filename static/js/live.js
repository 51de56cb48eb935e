/* Mail pages stay current by themselves: every 30 seconds (only while the tab is visible) the
 * page asks the folder's fingerprint (/mail/<folder>/?state=1, a few STATUS numbers) and
 * reloads the list in place only when it changed, keeping ticked boxes, the keyboard cursor,
 * focus and scroll position. Unread counts in the sidebar and the title follow. Optional
 * desktop notifications for new INBOX mail (opt-in, remembered in this browser).
 */
(function () {
  "use strict";

  var layout = document.querySelector(".mail-layout");
  if (!layout || !window.fetch) { return; }
  var webmail = window.webmail;
  if (!webmail) { return; }
  var INTERVAL_MS = 30000;
  var folderUrl = layout.getAttribute("data-folder-url");
  var pane = document.querySelector(".list-pane");
  var table = document.querySelector(".mail-main table.messages") ||
    (pane && pane.querySelector("table.messages"));
  var partial = pane && pane.contains(table) ? "rows" : "list";
  var baseTitle = document.title;
  // The fingerprint the server took when it rendered this page (the folder's STATUS).
  var lastState = layout.getAttribute("data-state") || null;
  var inboxNext = null;
  if (lastState && layout.getAttribute("data-folder") === "INBOX") {
    inboxNext = parseInt(lastState.split(":")[1], 10);
  }
  var lastPoll = 0;
  var busy = false;

  /* ---- desktop notifications --------------------------------------------------------------- */

  var notifyButton = document.getElementById("notify-toggle");
  var KEY = "webmail.notifications";
  var canNotify = "Notification" in window;
  function notifyOn() {
    return canNotify && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }
  function showNotify() {
    if (notifyButton) { notifyButton.setAttribute("aria-pressed", notifyOn() ? "true" : "false"); }
  }
  if (notifyButton && canNotify && Notification.permission !== "denied") {
    notifyButton.hidden = false;
    showNotify();
    notifyButton.addEventListener("click", function () {
      if (notifyOn()) {
        localStorage.setItem(KEY, "off");
        showNotify();
        webmail.say(webmail.t("notifyOff"));
        return;
      }
      var ask = Notification.permission === "granted" ? Promise.resolve("granted")
        : Notification.requestPermission();
      Promise.resolve(ask).then(function (answer) {
        if (answer === "granted") {
          localStorage.setItem(KEY, "on");
          webmail.say(webmail.t("notifyOn"));
        } else {
          webmail.say(webmail.t("notifyDenied"));
        }
        showNotify();
      });
    });
  }
  function announce(newest) {
    if (!notifyOn() || !newest || !newest.length) { return; }
    var first = newest[0];
    var body = newest.length === 1 ? (first.from ? first.from + ": " : "") + first.subject
      : webmail.t("newCount", {n: newest.length});
    var note = new Notification(webmail.t("newMail"), {body: body, tag: "webmail-inbox"});
    note.onclick = function () { window.focus(); window.location.href = first.url; note.close(); };
  }

  /* ---- counts -------------------------------------------------------------------------------- */

  function showCounts(unread) {
    Array.prototype.forEach.call(document.querySelectorAll(".folders a[data-folder]"), function (a) {
      var n = unread[a.getAttribute("data-folder")];
      var badge = a.querySelector(".count");
      if (n === undefined || !badge) { return; }
      badge.firstChild.nodeValue = String(n);
      badge.hidden = !n;
    });
    var inbox = unread.INBOX || 0;
    document.title = (inbox ? "(" + inbox + ") " : "") + baseTitle;
  }

  /* ---- the list ------------------------------------------------------------------------------ */

  function scroller() {
    if (pane && pane.contains(table)) { return pane; }
    var main = document.querySelector(".mail-main");
    return main && main.scrollHeight > main.clientHeight ? main : document.scrollingElement;
  }
  function listUrl() {
    var query = partial === "rows" ? (pane.getAttribute("data-query") || "")
      : window.location.search;
    return folderUrl + (query ? query + "&" : "?") + "partial=" + partial;
  }
  function reloadList() {
    if (!table) { return Promise.resolve(); }
    return fetch(listUrl(), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("table.messages tbody");
        var old = table.querySelector("tbody");
        if (!fresh || !old) { return; }
        var ticked = {};
        Array.prototype.forEach.call(old.querySelectorAll("input[name=uid]:checked"), function (b) {
          ticked[b.value] = true;
        });
        var active = document.activeElement;
        var activeRow = active && old.contains(active) ? active.closest("tr.message-row") : null;
        var focusUid = activeRow ? webmail.rowUid(activeRow) : null;
        var cursorRow = old.querySelector("tr.cursor");
        var cursorUid = cursorRow ? webmail.rowUid(cursorRow) : null;
        var box = scroller();
        var top = box ? box.scrollTop : 0;
        var known = {};
        Array.prototype.forEach.call(old.querySelectorAll("tr.message-row"), function (r) {
          known[webmail.rowUid(r)] = true;
        });
        var adopted = document.importNode(fresh, true);
        var arrived = 0;
        Array.prototype.forEach.call(adopted.querySelectorAll("tr.message-row.unread"), function (r) {
          if (!known[webmail.rowUid(r)]) { r.classList.add("arrived"); arrived += 1; }
        });
        Array.prototype.forEach.call(adopted.querySelectorAll("input[name=uid]"), function (b) {
          b.checked = !!ticked[b.value];
        });
        if (cursorUid) {
          var c = webmail.findRow(adopted, cursorUid);
          if (c) { c.classList.add("cursor"); }
        }
        table.replaceChild(adopted, old);
        if (partial === "rows") {
          var open = document.querySelector("article.message");
          var uid = open && open.getAttribute("data-uid");
          var row = uid && webmail.findRow(adopted, uid);
          if (row) {
            row.classList.add("current");
            row.querySelector(".col-subject a").setAttribute("aria-current", "page");
          }
        }
        if (focusUid) {
          var focusRow = webmail.findRow(adopted, focusUid);
          var link = focusRow && focusRow.querySelector(".col-subject a");
          if (link) { link.focus({preventScroll: true}); }
        }
        if (box) { box.scrollTop = top; }
        [["[data-live=count]", ".heading-count"], [".pager", ".pager"]].forEach(function (pair) {
          var mine = (partial === "rows" ? pane : document).querySelector(
            partial === "rows" ? pair[1] : pair[0]);
          var theirs = doc.querySelector(pair[1]);
          if (mine && theirs && mine.parentNode) {
            if (pair[1] === ".heading-count") { mine.textContent = theirs.textContent; }
            else { mine.parentNode.replaceChild(document.importNode(theirs, true), mine); }
          }
        });
        document.dispatchEvent(new CustomEvent("webmail:rows"));
        if (arrived) {
          webmail.say(arrived === 1 ? webmail.t("newMail") : webmail.t("newCount", {n: arrived}));
        }
      });
  }

  function poll(force) {
    if (busy || (document.hidden && !force)) { return; }
    busy = true;
    lastPoll = Date.now();
    var url = folderUrl + "?state=1" + (inboxNext !== null ? "&since=" + inboxNext : "");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        showCounts(data.unread || {});
        if (inboxNext !== null && data.inbox_uidnext > inboxNext) { announce(data.newest); }
        if (data.inbox_uidnext !== null && data.inbox_uidnext !== undefined) {
          inboxNext = data.inbox_uidnext;
        }
        var changed = lastState !== null && data.state !== lastState;
        lastState = data.state;
        return changed ? reloadList() : null;
      })
      .catch(function () { /* offline or signed out: try again next time */ })
      .then(function () { busy = false; });
  }

  // Without a starting point (or to learn the INBOX's next UID for notifications) ask now.
  if (lastState === null || (notifyOn() && inboxNext === null)) { poll(true); }
  window.setInterval(function () { poll(false); }, INTERVAL_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && Date.now() - lastPoll >= INTERVAL_MS) { poll(false); }
  });
})();
