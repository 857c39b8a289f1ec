// harmony study dashboard: polls /admin/data.json with the admin token and fills the tables (textContent
// only, so rater ids and method names are never interpreted as HTML).
(function () {
  "use strict";
  var token = new URLSearchParams(location.search).get("token") || "";
  function $(id) { return document.getElementById(id); }
  function fmt(x, nd) {
    if (x === null || x === undefined) { return "-"; }
    if (typeof x === "number") { return Number.isInteger(x) ? String(x) : x.toFixed(nd === undefined ? 3 : nd); }
    return String(x);
  }
  function table(el, head, rows, rowClass) {
    el.textContent = "";
    var tr = document.createElement("tr");
    head.forEach(function (h) { var th = document.createElement("th"); th.textContent = h; tr.appendChild(th); });
    el.appendChild(tr);
    rows.forEach(function (r, i) {
      var row = document.createElement("tr");
      if (rowClass) { var c = rowClass(i); if (c) { row.className = c; } }
      r.forEach(function (v) { var td = document.createElement("td"); td.textContent = fmt(v); row.appendChild(td); });
      el.appendChild(row);
    });
  }
  function refresh() {
    fetch("/admin/data.json", { headers: { "Authorization": "Bearer " + token }, cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (d) {
        $("error").textContent = "";
        table($("summary"), ["item", "value"], [
          ["votes", d.votes], ["raters", d.raters], ["completed", d.completed], ["flagged (sentinels)", d.flagged],
          ["stopped (auto-exclude)", d.excluded], ["open assignments", d.open_assignments], ["design", d.design],
          ["quota per rater", d.votes_per_rater], ["tasks (+ sentinels)", d.tasks + " (+" + d.sentinel_tasks + ")"],
          ["sentinel accuracy", d.sentinel_accuracy], ["left chosen (rate)", d.left_rate],
          ["left bias binomial p", d.left_p], ["median response (ms)", d.response_ms_median]]);
        $("scores-note").textContent = (d.scores_ci || "") + (d.scores_note ? " -- " + d.scores_note : "");
        table($("scores"), ["method", "votes", "wins", "win rate", "score", "95% low", "95% high", "rank", "group"],
          d.scores.map(function (s) { return [s.method, s.votes, s.wins, s.win_rate, s.score, s.ci_low, s.ci_high, s.rank, s.group]; }));
        var c = d.coverage;
        $("coverage").textContent = "votes per (image, pair): min " + c.min + ", median " + c.median + ", max " + c.max +
          "; tasks without votes: " + c.tasks_without_votes;
        table($("pairs"), ["pair", "votes", "min per image", "max per image"],
          d.pairs.map(function (p) { return [p.pair, p.votes, p.min_per_image, p.max_per_image]; }));
        table($("raters"), ["rater", "votes", "sentinels", "sentinel acc.", "left rate", "left p", "median ms", "flagged", "stopped"],
          d.per_rater.map(function (r) { return [r.rater_id, r.votes, r.sentinels, r.sentinel_accuracy, r.left_rate, r.left_p,
                                                 r.median_response_ms, r.flagged ? "yes" : "", r.stopped ? "yes" : ""]; }),
          function (i) { return d.per_rater[i].flagged ? "flagged" : ""; });
        table($("rejects"), ["kind", "count"], Object.keys(d.rejects).map(function (k) { return [k, d.rejects[k]]; }));
        if (d.scores.length) { $("plot").src = "/admin/plot.png?token=" + encodeURIComponent(token) + "&t=" + Date.now(); }
      })
      .catch(function (e) { $("error").textContent = "dashboard: " + e.message; });
  }
  $("export").href = "/admin/export.csv?token=" + encodeURIComponent(token);
  refresh();
  setInterval(refresh, 10000);
})();
