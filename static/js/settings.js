// Settings pages: small conveniences only; every form works without this file.
(function () {
  "use strict";

  // "Use this device's zone": pick the browser's IANA zone in the time-zone list.
  var zoneButton = document.getElementById("use-browser-zone");
  var zoneSelect = document.getElementById("id_time_zone");
  if (zoneButton && zoneSelect && window.Intl && Intl.DateTimeFormat) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var option = zone && Array.prototype.find.call(zoneSelect.options, function (o) {
      return o.value === zone;
    });
    if (option) {
      zoneButton.hidden = false;
      zoneButton.addEventListener("click", function () {
        zoneSelect.value = zone;
        zoneSelect.dispatchEvent(new Event("change", { bubbles: true }));
      });
    }
  }

  // Recovery codes: copy to the clipboard, or print.
  var list = document.getElementById("recovery-codes");
  var copyButton = document.getElementById("copy-codes");
  var printButton = document.getElementById("print-codes");
  if (list && copyButton && navigator.clipboard) {
    copyButton.hidden = false;
    copyButton.addEventListener("click", function () {
      var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) {
        return c.textContent;
      });
      navigator.clipboard.writeText(codes.join("\n")).then(function () {
        copyButton.textContent = copyButton.dataset.done || "\u2713";
      });
    });
  }
  if (list && printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () { window.print(); });
  }
})();
