// The operators' pages: a little script of our own (no framework).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Switch forms marked data-autosubmit submit when their drop-down
  // changes; their button stays for browsers without JavaScript.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.classList.add("js");
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  });
  // Live parts: on each "change" event of the server's stream (fed from
  // the bus, whichever node holds the charger) fetch the part again.
  document.querySelectorAll("[data-events][data-live]").forEach(function (part) {
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(part.dataset.live, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) { if (html !== null) { part.innerHTML = html; } })
        .catch(function () {})
        .finally(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }
    var events = new EventSource(part.dataset.events);
    events.addEventListener("change", refresh);
    // Listening now: what changed since the page (or the last stream) was
    // made is not heard, so look once more.
    events.addEventListener("ready", function () {
      refresh();
      part.setAttribute("data-listening", "");
    });
  });
});
