// Stemma's page behaviour, as a static file so the Content-Security-Policy needs no inline script.
// Each behaviour is switched on by a data attribute in the templates.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
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
