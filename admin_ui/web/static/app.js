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
  // Makes the children of `old` those of `fresh`, keeping every element
  // whose own tag and attributes are unchanged (its children patched the
  // same way) and replacing the rest: a refresh that turns one row's state
  // leaves the table's header and the other rows' links where they were.
  // Text of white space alone is left out of the pairing: the page's own
  // rendering of a part and the part fetched alone differ in it.
  function significant(node) {
    return Array.prototype.filter.call(node.childNodes, function (child) {
      return child.nodeType !== Node.TEXT_NODE || child.nodeValue.trim() !== "";
    });
  }
  function patch(old, fresh) {
    var before = significant(old), after = significant(fresh);
    if (before.length !== after.length) {
      old.replaceChildren.apply(old, Array.prototype.map.call(fresh.childNodes, function (node) {
        return document.importNode(node, true);
      }));
      return;
    }
    for (var i = 0; i < after.length; i += 1) {
      var mine = before[i], theirs = after[i];
      if (mine.nodeType === Node.ELEMENT_NODE && theirs.nodeType === Node.ELEMENT_NODE &&
          mine.cloneNode(false).outerHTML === theirs.cloneNode(false).outerHTML) {
        if (mine.innerHTML !== theirs.innerHTML) { patch(mine, theirs); }
      } else if (mine.nodeType === theirs.nodeType && mine.nodeType !== Node.ELEMENT_NODE) {
        if (mine.nodeValue !== theirs.nodeValue) { mine.nodeValue = theirs.nodeValue; }
      } else {
        old.replaceChild(document.importNode(theirs, true), mine);
      }
    }
  }
  // Live parts: on each "change" event of the server's stream (fed from
  // the bus, whichever node holds the charger) fetch each part again.
  document.querySelectorAll("[data-events]").forEach(function (area) {
    var parts = Array.prototype.slice.call(area.querySelectorAll("[data-live]"));
    var refreshers = parts.map(function (part) {
      var busy = false, again = false;
      return function refresh() {
        if (busy) { again = true; return; }
        busy = true;
        fetch(part.dataset.live, { credentials: "same-origin" })
          .then(function (answer) { return answer.ok ? answer.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            // Change only what changed: a replaced element takes a click
            // that lands on it with it (compared as the browser parses both).
            var fresh = document.createElement("template");
            fresh.innerHTML = html;
            if (fresh.innerHTML !== part.innerHTML) { patch(part, fresh.content); }
          })
          .catch(function () {})
          .finally(function () {
            busy = false;
            if (again) { again = false; refresh(); }
          });
      };
    });
    // data-throttle: at most one refresh per that many ms (a list of many
    // stations changes often).
    var throttle = parseInt(area.dataset.throttle || "0", 10), last = 0, pending = null;
    function refreshNow() {
      last = Date.now();
      refreshers.forEach(function (refresh) { refresh(); });
    }
    function refreshAll() {
      var wait = last + throttle - Date.now();
      if (wait <= 0) { refreshNow(); return; }
      if (pending === null) {
        pending = setTimeout(function () { pending = null; refreshNow(); }, wait);
      }
    }
    var events = new EventSource(area.dataset.events);
    events.addEventListener("change", refreshAll);
    // Listening now: what changed since the page (or the last stream) was
    // made is not heard, so look once more.
    events.addEventListener("ready", function () {
      refreshAll();
      parts.forEach(function (part) { part.setAttribute("data-listening", ""); });
    });
  });
});
