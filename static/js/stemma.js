// Stemma's page behaviour, as a static file so the Content-Security-Policy needs no inline script.
// Each behaviour is switched on by a data attribute in the templates.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // <form data-review-queue>: keyboard review. j/k move between items, x selects, c confirms the
  // selection (or the focused item), Enter opens the clip. Keys typed into a field are left alone.
  function reviewQueue(form) {
    var rows = Array.prototype.slice.call(form.querySelectorAll("tr.queue-item"));
    var at = -1;
    function focus(i) {
      if (!rows.length) return;
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (row, n) { row.classList.toggle("focused", n === at); });
      rows[at].focus();
    }
    function box(row) { return row.querySelector("input[type=checkbox]"); }
    document.addEventListener("keydown", function (event) {
      var tag = (event.target.tagName || "").toLowerCase();
      if (tag === "input" && event.target.type !== "checkbox" || tag === "textarea" || tag === "select") return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      var row = rows[at];
      if (event.key === "j") focus(at + 1);
      else if (event.key === "k") focus(at - 1);
      else if (event.key === "x" && row && box(row) && !box(row).disabled) box(row).checked = !box(row).checked;
      else if (event.key === "c" && row) {
        var chosen = form.querySelectorAll("input[name=clip]:checked").length;
        if (!chosen && box(row) && !box(row).disabled) box(row).checked = true;
        if (form.querySelectorAll("input[name=clip]:checked").length) form.submit();
      } else if (event.key === "Enter" && row && tag !== "button" && tag !== "a") window.location = row.dataset.href;
      else return;
      event.preventDefault();
    });
    rows.forEach(function (row, n) { row.addEventListener("click", function () { at = n; focus(n); }); });
  }

  ready(function () {
    var queue = document.querySelector("form[data-review-queue]");
    if (queue) reviewQueue(queue);

    // <button data-play-segment data-player=ID data-start=s data-end=s>: play that player from the
    // matched second and pause at the segment's end (the audio endpoints answer byte ranges, so it seeks).
    document.querySelectorAll("button[data-play-segment]").forEach(function (button) {
      button.addEventListener("click", function () {
        var player = document.getElementById(button.dataset.player);
        if (!player) return;
        var start = parseFloat(button.dataset.start) || 0, end = parseFloat(button.dataset.end) || 0;
        document.querySelectorAll("audio").forEach(function (other) { if (other !== player) other.pause(); });
        var stop = function () {
          if (end && player.currentTime >= end) { player.pause(); player.removeEventListener("timeupdate", stop); }
        };
        player.removeEventListener("timeupdate", player._segmentStop || stop);
        player._segmentStop = stop;
        player.addEventListener("timeupdate", stop);
        var seek = function () { player.currentTime = start; player.play().catch(function () {}); };
        if (player.readyState >= 1) seek(); else { player.addEventListener("loadedmetadata", seek, { once: true }); player.load(); }
      });
    });

    // <select data-submit-on-change>: the label switcher submits its form when a label is chosen.
    document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });

    // <form data-confirm="question">: ask before submitting (revoking an API key).
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });

    // The adjust form on a clip page: the live remainder is 1 minus the shares typed so far (the
    // server checks again).
    var adjust = document.getElementById("adjust-form");
    var out = document.getElementById("remainder-live");
    if (adjust && out) {
      adjust.addEventListener("input", function () {
        var total = 0;
        adjust.querySelectorAll("input[name^=share_], input[name=new_share]").forEach(function (el) {
          total += parseFloat(el.value) || 0;
        });
        var rest = 1 - total;
        out.textContent = rest.toFixed(6);
        out.className = rest < -1e-9 ? "error" : "";
      });
    }
  });
})();
