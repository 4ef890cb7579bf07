// mlops-ui: sortable tables, self-refreshing panels and token-authorised admin forms.
// Vendored with the binary; nothing is loaded from the network.
(function () {
  "use strict";
  function cellValue(row, i) {
    var c = row.children[i];
    if (!c) return "";
    var v = c.getAttribute("data-v");
    return v !== null ? v : c.textContent.trim();
  }
  function sortBy(table, th, i) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) { var v = cellValue(r, i); return v === "" || !isNaN(Number(v)); });
    rows.sort(function (a, b) {
      var x = cellValue(a, i), y = cellValue(b, i), r;
      if (numeric) {
        x = x === "" ? -Infinity : Number(x); y = y === "" ? -Infinity : Number(y);
        r = x < y ? -1 : x > y ? 1 : 0;
      } else { r = x.localeCompare(y); }
      return dir === "ascending" ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function initSort(root) {
    root.querySelectorAll("table.sortable").forEach(function (table) {
      if (table.dataset.sortReady) return;
      table.dataset.sortReady = "1";
      table.querySelectorAll("thead th").forEach(function (th, i) {
        var b = th.querySelector("button.sort");
        if (b) b.addEventListener("click", function () { sortBy(table, th, i); });
      });
    });
  }
  function initRefresh() {
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      var every = Number(el.getAttribute("data-interval") || "2000");
      function tick() {
        fetch(el.getAttribute("data-refresh"), { headers: { "accept": "text/html" } })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(function (html) { el.innerHTML = html; el.setAttribute("data-refreshed", String(Date.now())); initSort(el); initSplit(); })
          .catch(function () { el.setAttribute("data-refresh-error", "1"); });
      }
      setInterval(tick, every);
    });
  }
  function initAdmin() {
    var tokenInput = document.getElementById("admin-token");
    if (tokenInput) {
      tokenInput.value = sessionStorage.getItem("mlops-admin-token") || "";
      tokenInput.addEventListener("change", function () { sessionStorage.setItem("mlops-admin-token", tokenInput.value); });
    }
    document.querySelectorAll("form[data-admin]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var out = form.querySelector("output");
        var token = tokenInput ? tokenInput.value.trim() : "";
        if (!token) { if (out) out.textContent = "enter the admin token first"; return; }
        var body = {};
        var kind = form.getAttribute("data-admin");
        if (kind === "strategy") {
          var w = Number(form.querySelector("[name=weight]").value) / 100;
          var mode = form.querySelector("[name=mode]").value;
          body = { mode: mode };
          if (mode === "shadow") body.mirror = w; else if (mode !== "blue_green") body.weight = w;
        } else {
          var reason = form.querySelector("[name=reason]");
          body = { reason: reason ? reason.value : "" };
        }
        fetch(form.getAttribute("action"), {
          method: form.getAttribute("data-method") || "POST",
          headers: { "authorization": "Bearer " + token, "content-type": "application/json", "x-mlops-actor": "ui" },
          body: JSON.stringify(body)
        }).then(function (r) {
          return r.text().then(function (t) {
            if (out) { out.textContent = (r.ok ? "done: " : "refused (" + r.status + "): ") + t; out.className = r.ok ? "ok" : "bad"; }
          });
        }).catch(function (e) { if (out) out.textContent = "request failed: " + e; });
      });
    });
  }
  // Traffic-split bars: widths from data-share (the console's CSP ignores style attributes).
  function initSplit() {
    document.querySelectorAll(".split [data-share]").forEach(function (el) {
      el.style.width = (100 * Number(el.getAttribute("data-share"))) + "%";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { initSort(document); initRefresh(); initAdmin(); initSplit(); });
})();
