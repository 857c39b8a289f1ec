// harmony study pages: consent, rating, done. Plain JavaScript, no libraries, no build step.
// A vote is kept in localStorage until the server acknowledges it, and re-sent (same vote_id) after a
// reload or a network error; the server stores it once whatever the number of sends.
(function () {
  "use strict";
  var SESSION = "harmony.study.session", PENDING = "harmony.study.pending";
  var PARAMS = ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId", "turkSubmitTo"];

  function $(id) { return document.getElementById(id); }
  function randomId() {
    var a = new Uint8Array(16); window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function session() { return localStorage.getItem(SESSION) || ""; }
  function api(method, url, body) {
    return fetch(url, {
      method: method, cache: "no-store",
      headers: { "Content-Type": "application/json", "X-Session": session() },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { j._status = r.status; return j; },
                           function () { return { _status: r.status, error: "unexpected reply" }; });
    });
  }
  function sleep(ms) { return new Promise(function (res) { setTimeout(res, ms); }); }

  // ---------------------------------------------------------------- consent
  function initConsent() {
    var q = new URLSearchParams(location.search), params = {}, hasId = false;
    PARAMS.forEach(function (k) { if (q.get(k)) { params[k] = q.get(k); } });
    hasId = !!(params.PROLIFIC_PID || params.workerId);
    if (document.body.dataset.ties === "yes") { $("ties-hint").hidden = false; }
    var preview = params.assignmentId === "ASSIGNMENT_ID_NOT_AVAILABLE";
    if (preview) { $("preview").hidden = false; $("agree").disabled = true; }
    if (session() && !hasId) { $("start").textContent = "Continue"; }
    $("agree").addEventListener("change", function () { $("start").disabled = !this.checked || preview; });
    $("start").addEventListener("click", function () {
      $("start").disabled = true;
      if (session() && !hasId) { location.href = "/rate"; return; }
      api("POST", "/api/session", { consent: true, params: params }).then(function (r) {
        if (r._status !== 200) { $("error").textContent = r.error || "could not start"; return; }
        localStorage.setItem(SESSION, r.session);
        location.href = "/rate";
      }, function () { $("error").textContent = "network error: try again"; $("start").disabled = false; });
    });
  }

  // ---------------------------------------------------------------- rating
  var current = null, shownAt = 0, busy = true, loaded = 0;

  function setButtons(on) {
    ["choose-left", "choose-right", "choose-same"].forEach(function (id) { $(id).disabled = !on; });
  }
  function render(state) {
    if (state.state !== "rate") { location.href = "/done"; return; }
    current = state;
    var p = state.progress;
    $("progress").max = p.total; $("progress").value = p.done;
    $("count").textContent = p.done + " / " + p.total;
    loaded = 0; busy = true; setButtons(false);
    $("left").classList.remove("chosen"); $("right").classList.remove("chosen");
    $("left").src = state.left; $("right").src = state.right;
    (state.preload || []).forEach(function (u) { var im = new Image(); im.src = u; });
  }
  function imageReady() {
    loaded += 1;
    if (loaded >= 2 && current) { busy = false; setButtons(true); shownAt = performance.now(); $("status").textContent = ""; }
  }
  function send(vote) {
    // resend the same vote until the server answers; 5xx and network errors are retried
    var delay = 300;
    function attempt() {
      return api("POST", "/api/vote", vote).then(function (r) {
        if (r._status >= 500) { throw new Error("server " + r._status); }
        return r;
      }).catch(function () {
        $("status").textContent = "Connection problem: retrying...";
        return sleep(delay).then(function () { delay = Math.min(delay * 2, 5000); return attempt(); });
      });
    }
    return attempt();
  }
  function afterVote(r) {
    localStorage.removeItem(PENDING);
    if (r._status === 200) { render(r); return; }
    if (r._status === 401) { location.href = "/"; return; }
    loadState();   // 409/403: that task was already answered or withdrawn; show the current one
  }
  function vote(choice) {
    if (busy || !current) { return; }
    busy = true; setButtons(false);
    if (choice !== "same") { $(choice).classList.add("chosen"); }
    var v = { vote_id: randomId(), token: current.token, choice: choice,
              response_ms: Math.round(performance.now() - shownAt) };
    localStorage.setItem(PENDING, JSON.stringify(v));
    send(v).then(afterVote);
  }
  function loadState() {
    return api("GET", "/api/state").then(function (r) {
      if (r._status === 401) { localStorage.removeItem(SESSION); location.href = "/"; return; }
      render(r);
    }, function () { $("status").textContent = "Connection problem: reload the page."; });
  }
  function initRate() {
    if (!session()) { location.href = "/"; return; }
    var ties = document.body.dataset.ties === "yes";
    $("choose-same").hidden = !ties;
    $("left").addEventListener("load", imageReady);
    $("right").addEventListener("load", imageReady);
    function imageFailed() {   // a network hiccup: fetch the state (same pair) again rather than stall
      $("status").textContent = "An image did not load: retrying...";
      setTimeout(loadState, 2000);
    }
    $("left").addEventListener("error", imageFailed);
    $("right").addEventListener("error", imageFailed);
    $("left").addEventListener("click", function () { vote("left"); });
    $("right").addEventListener("click", function () { vote("right"); });
    $("choose-left").addEventListener("click", function () { vote("left"); });
    $("choose-right").addEventListener("click", function () { vote("right"); });
    $("choose-same").addEventListener("click", function () { vote("same"); });
    document.addEventListener("keydown", function (e) {
      if (e.repeat || e.altKey || e.ctrlKey || e.metaKey) { return; }
      if (e.key === "ArrowLeft") { e.preventDefault(); vote("left"); }
      else if (e.key === "ArrowRight") { e.preventDefault(); vote("right"); }
      else if (ties && (e.key === "ArrowDown" || e.key === "s")) { e.preventDefault(); vote("same"); }
    });
    var pending = localStorage.getItem(PENDING);
    if (pending) {          // a vote sent before a reload or a crash: deliver it first (idempotent)
      var v = null;
      try { v = JSON.parse(pending); } catch (err) { v = null; }
      if (v) { send(v).then(afterVote); return; }
      localStorage.removeItem(PENDING);
    }
    loadState();
  }

  // ---------------------------------------------------------------- done
  function initDone() {
    if (!session()) { $("message").textContent = "No study session in this browser."; return; }
    api("GET", "/api/state").then(function (r) {
      if (r.state === "rate") { location.href = "/rate"; return; }
      if (r.state === "excluded") {
        $("heading").textContent = "Session ended";
        $("message").textContent = "Thank you. Your session has ended because several check questions were answered incorrectly.";
        return;
      }
      if (r.state !== "done") { $("message").textContent = r.error || "Unknown session."; return; }
      $("message").textContent = "All " + r.progress.done + " answers are saved.";
      $("code").textContent = r.code; $("code-line").hidden = false;
      if (r.redirect) {
        $("redirect").href = r.redirect; $("redirect-line").hidden = false;
        setTimeout(function () { location.href = r.redirect; }, 4000);
      } else if (r.mturk) {
        $("mturk").action = r.mturk.action;
        $("mturk-assignment").value = r.mturk.assignmentId;
        $("mturk-code").value = r.mturk.completion_code;
        $("mturk").hidden = false;
      }
    });
  }

  var pageName = document.body.dataset.page;
  if (pageName === "consent") { initConsent(); }
  else if (pageName === "rate") { initRate(); }
  else if (pageName === "done") { initDone(); }
})();
