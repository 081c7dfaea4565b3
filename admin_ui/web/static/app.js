// The operators' pages: a little script of our own (no framework).
// Switch forms marked data-autosubmit submit when their drop-down changes;
// their button stays for browsers without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.classList.add("js");
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  });
});
