// provisiond console: the only script. Progressive enhancement: every page works
// without it (a running job's page then refreshes itself through <noscript>).
(function () {
  "use strict";

  // A bulk replay's progress bar, kept current by polling its JSON until the job ends.
  function followJob(box) {
    var url = box.getAttribute("data-progress-url");
    var bar = document.getElementById("job-progress");
    function set(id, text) {
      var node = document.getElementById(id);
      if (node) { node.textContent = String(text); }
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          bar.max = Math.max(job.total, 1);
          bar.value = job.total > 0 ? job.done : 1;
          bar.textContent = job.percent + " %";
          set("job-percent", job.percent);
          set("job-done", job.done);
          set("job-status", job.status);
          set("job-replayed", job.replayed);
          set("job-skipped", job.skipped);
          box.setAttribute("data-status", job.status);
          if (job.running) {
            window.setTimeout(poll, 500);
          } else {
            // Show the finished page as the server renders it (finish time, error).
            window.location.reload();
          }
        })
        .catch(function () {
          set("job-status", "unknown (reload the page)");
        });
    }
    if (box.getAttribute("data-status") === "running") { poll(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("job");
    if (box && window.fetch) { followJob(box); }
  });
})();
