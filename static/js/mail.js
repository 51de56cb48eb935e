// Mail pages, progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // "Select all" for the rows of the mailbox page.
  var all = document.querySelector("input.select-all");
  if (all) {
    var boxes = function () {
      return Array.prototype.slice.call(document.querySelectorAll('.messages input[name="uid"]'));
    };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    document.addEventListener("change", function (event) {
      if (event.target && event.target.name === "uid") {
        var list = boxes();
        var ticked = list.filter(function (box) { return box.checked; }).length;
        all.checked = ticked === list.length && ticked > 0;
        all.indeterminate = ticked > 0 && ticked < list.length;
      }
    });
  }

  // On small screens the folder list starts folded.
  var box = document.querySelector("details.folders-box");
  if (box && window.matchMedia("(max-width: 760px)").matches) {
    box.open = false;
  }
})();
