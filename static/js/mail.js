// Mail pages, progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  var webmail = window.webmail;
  if (!webmail) { return; }
  var layout = document.querySelector(".mail-layout");
  var currentFolder = layout ? layout.getAttribute("data-folder") : null;

  // "Select all" for the rows of the mailbox page.
  var all = document.querySelector("input.select-all");
  var boxes = function () {
    return Array.prototype.slice.call(document.querySelectorAll('.messages input[name="uid"]'));
  };
  function syncAll() {
    if (!all) { return; }
    var list = boxes();
    var ticked = list.filter(function (box) { return box.checked; }).length;
    all.checked = ticked === list.length && ticked > 0;
    all.indeterminate = ticked > 0 && ticked < list.length;
  }
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    document.addEventListener("change", function (event) {
      if (event.target && event.target.name === "uid") { syncAll(); }
    });
    document.addEventListener("webmail:rows", syncAll);
  }

  // On small screens the folder list starts folded.
  var box = document.querySelector("details.folders-box");
  if (box && window.matchMedia("(max-width: 760px)").matches) {
    box.open = false;
  }

  // Beside an open message, the list shows where that message is.
  var pane = document.querySelector(".list-pane");
  var current = pane && pane.querySelector("tr.current");
  if (current && pane.scrollHeight > pane.clientHeight) {
    var top = current.offsetTop - pane.clientHeight / 3;
    pane.scrollTop = Math.max(0, top);
  }

  // A click anywhere on a row opens the message, as in other mail programs (the subject link
  // stays the thing to tab to; the tick box and links keep their own clicks).
  document.addEventListener("click", function (ev) {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) { return; }
    var row = ev.target.closest && ev.target.closest("tr.message-row");
    if (!row || ev.target.closest("a, input, label, button, select")) { return; }
    var link = row.querySelector(".col-subject a");
    if (link) { link.click(); }
  });

  /* ---- drag messages onto a folder in the sidebar (a move, posted like the Move button) ---- */

  var TYPE = "application/x-webmail-messages";
  var dragging = null;

  function prepareRows() {
    Array.prototype.forEach.call(document.querySelectorAll("tr.message-row"), function (row) {
      row.setAttribute("draggable", "true");
    });
  }
  prepareRows();
  document.addEventListener("webmail:rows", prepareRows);

  document.addEventListener("dragstart", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr.message-row");
    if (!row || !ev.dataTransfer || currentFolder === null) { return; }
    var tick = row.querySelector("input[name=uid]");
    var uids = tick && tick.checked ? boxes().filter(function (b) { return b.checked; })
      .map(function (b) { return b.value; }) : [webmail.rowUid(row)];
    var inPane = !!row.closest(".list-pane");
    dragging = {uids: uids, rows: [], fromPane: inPane};
    uids.forEach(function (uid) {
      var r = webmail.findRow(row.closest("table"), uid);
      if (r) { r.classList.add("dragging"); dragging.rows.push(r); }
    });
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData(TYPE, JSON.stringify({folder: currentFolder, uids: uids}));
    ev.dataTransfer.setData("text/plain", uids.length === 1 ? webmail.t("dragOne") :
      webmail.t("dragMany", {n: uids.length}));
  });
  document.addEventListener("dragend", function () {
    if (dragging) { dragging.rows.forEach(function (r) { r.classList.remove("dragging"); }); }
    dragging = null;
    Array.prototype.forEach.call(document.querySelectorAll(".drop-target"), function (el) {
      el.classList.remove("drop-target");
    });
  });

  function folderLink(ev) {
    var link = ev.target.closest && ev.target.closest(".folders a[data-folder]");
    if (!link || !ev.dataTransfer) { return null; }
    var types = Array.prototype.slice.call(ev.dataTransfer.types || []);
    return types.indexOf(TYPE) >= 0 ? link : null;
  }
  document.addEventListener("dragover", function (ev) {
    var link = folderLink(ev);
    if (!link) { return; }
    ev.preventDefault();
    var same = link.getAttribute("data-folder") === currentFolder;
    ev.dataTransfer.dropEffect = same ? "none" : "move";
    if (!same) { link.classList.add("drop-target"); }
  });
  document.addEventListener("dragleave", function (ev) {
    var link = folderLink(ev);
    if (link && !link.contains(ev.relatedTarget)) { link.classList.remove("drop-target"); }
  });
  document.addEventListener("drop", function (ev) {
    var link = folderLink(ev);
    if (!link) { return; }
    ev.preventDefault();
    link.classList.remove("drop-target");
    var data;
    try { data = JSON.parse(ev.dataTransfer.getData(TYPE)); } catch (e) { return; }
    var target = link.getAttribute("data-folder");
    if (!data || !data.uids || !data.uids.length || data.folder !== currentFolder ||
        target === currentFolder) { return; }
    webmail.say(webmail.t("moving", {folder: link.querySelector(".folder-name").textContent}));
    var article = document.querySelector("article.message");
    var listForm = document.getElementById("actions");
    var here = article ? article.getAttribute("data-uid") : null;
    if (article && data.uids.length === 1 && data.uids[0] === here) {
      // The open message: its own form, which then shows the next one.
      var form = document.getElementById("message-actions");
      form.querySelector("select[name=target]").value = target;
      form.querySelector("button[value=move]").click();
      return;
    }
    var fields = {action: "move", target: target, uid: data.uids};
    if (article) { fields.next = window.location.pathname + window.location.search; }
    webmail.post(layout.getAttribute("data-folder-url"), fields, listForm);
  });
})();
