/* Progressive enhancement for evalhub pages; every page also works without it. */
(function () {
  "use strict";

  var PREVIEW_SAMPLE_BYTES = 256 * 1024;

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast";
    el.textContent = text; // never innerHTML: messages may echo user input
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }

  // htmx does not swap 4xx/5xx answers (except 422, see base.html): say what happened.
  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr.status;
    toast(status === 403 ? "Your role does not allow this."
      : status === 404 ? "Not found, or not shared with you."
      : "Something went wrong (HTTP " + status + "). Please retry.");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check your connection.");
  });

  // Upload progress: htmx fires htmx:xhr:progress on the element that sent the request.
  document.addEventListener("htmx:xhr:progress", function (e) {
    // Only the upload itself: a preview (sent by a button or a select) has no bar.
    var form = e.target.matches && e.target.matches("[data-upload]") ? e.target : null;
    if (!form || !e.detail.lengthComputable || !e.detail.total) return;
    var bar = form.querySelector("progress[data-upload-progress]");
    var label = form.querySelector("[data-upload-percent]");
    var pct = Math.round((100 * e.detail.loaded) / e.detail.total);
    if (bar) { bar.hidden = false; bar.value = pct; }
    if (label) { label.hidden = false; label.textContent = pct + "%"; }
  });

  // A preview needs only the first rows: send the head of a big file, not all of it.
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt.matches || !elt.matches("[data-preview-sample]") || !e.detail.formData) return;
    var form = elt.closest("form");
    var input = form && form.querySelector("input[type=file]");
    var file = input && input.files && input.files[0];
    if (file && file.size > PREVIEW_SAMPLE_BYTES) {
      e.detail.formData.set("file", file.slice(0, PREVIEW_SAMPLE_BYTES), file.name);
      e.detail.formData.set("sample", "1");
    }
  });

  // Controls that only work with JavaScript start hidden and are revealed here.
  function reveal(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-remove-row][hidden]")
      .forEach(function (el) { el.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:load", function (e) { reveal(e.detail.elt.parentNode || document); });

  // Remove a metric row in the picker (without JavaScript, choose "none" instead).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-remove-row]");
    if (!button) return;
    e.preventDefault();
    var row = button.closest(".metric-row");
    if (row) row.remove();
  });
})();
