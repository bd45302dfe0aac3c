// Purser's dashboard: keeps the open page current without reloading it. The server renders
// every figure; this script only listens to /v1/events (with `changes=true`, a `change` event
// after commits, at most four a second), fetches the page again, and copies the parts marked
// `data-live` into place. Rows (`data-key`) keep their place: a row that changed is updated
// where it is, a new one is added at the end (at the top for newest-first tables), one that
// left is dimmed, so nothing moves under the reader's eyes.
(function () {
  "use strict";
  var stream = document.body.getAttribute("data-stream");
  if (!stream || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.getElementById("live-status");
  var timer = null;
  var busy = false;
  var again = false;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function schedule() {
    if (timer === null) {
      timer = window.setTimeout(function () {
        timer = null;
        refresh();
      }, 80);
    }
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (text) {
        patch(new DOMParser().parseFromString(text, "text/html"));
        say("Live: updated " + new Date().toLocaleTimeString());
      })
      .catch(function (err) {
        say("Live updates paused: " + err.message);
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function patch(fresh) {
    var parts = fresh.querySelectorAll("[data-live]");
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i];
      var old = part.id ? document.getElementById(part.id) : null;
      if (!old) {
        continue;
      }
      if (part.hasAttribute("data-rows")) {
        patchRows(old, part);
      } else if (old.innerHTML !== part.innerHTML) {
        old.innerHTML = part.innerHTML;
      }
    }
  }

  function keyed(parent) {
    var rows = {};
    for (var i = 0; i < parent.children.length; i++) {
      var row = parent.children[i];
      var key = row.getAttribute("data-key");
      if (key !== null) {
        rows[key] = row;
      }
    }
    return rows;
  }

  function patchRows(old, fresh) {
    var before = keyed(old);
    var newestFirst = fresh.getAttribute("data-rows") === "newest-first";
    var added = [];
    for (var i = 0; i < fresh.children.length; i++) {
      var row = fresh.children[i];
      var key = row.getAttribute("data-key");
      var current = key === null ? null : before[key];
      if (current) {
        if (current.innerHTML !== row.innerHTML) {
          current.innerHTML = row.innerHTML;
        }
        current.classList.remove("gone");
        delete before[key];
      } else if (key !== null) {
        added.push(document.importNode(row, true));
      }
    }
    if (newestFirst) {
      for (var j = added.length - 1; j >= 0; j--) {
        old.insertBefore(added[j], old.firstChild);
      }
    } else {
      for (var k = 0; k < added.length; k++) {
        old.appendChild(added[k]);
      }
    }
    for (var gone in before) {
      if (Object.prototype.hasOwnProperty.call(before, gone)) {
        before[gone].classList.add("gone");
      }
    }
  }

  var source = new EventSource(stream);
  var kinds = ["change", "enforcement", "alert", "reallocation", "reservation_expired",
               "period", "task", "dag", "limit_change", "allocation", "account_closed"];
  for (var n = 0; n < kinds.length; n++) {
    source.addEventListener(kinds[n], schedule);
  }
  source.onopen = function () {
    say("Live");
  };
  source.onerror = function () {
    say("Live updates reconnecting…");
  };
})();
