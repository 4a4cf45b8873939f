// The page files of a page (index.html, review.html): items past those the page holds, in
// scripts beside it that call deidPage(token, index, items). A page opened from file:// may
// load scripts but not fetch() files. A file whose token is not the page's belongs to
// another version of the report (a rewrite interrupted before its end) and is refused.
// options: dir (the folder, relative to the page), token, again (what to do about a file of
// another version), changed (called when a file the page shows arrives or fails), series
// (optional: for a page with more than one list in page files, the name of this one's; its
// files are SERIES-NNNN.js and call deidPage(token, index, items, series)).
function deidPageFiles(options) {
  "use strict";
  var series = options.series || "";
  // Page files kept in memory besides those shown: paging back and forth over a file
  // boundary reads nothing twice, and a long session does not hold the whole run.
  var KEEP_FILES = 4;
  var files = new Map();  // page file index -> its items, least recently used first
  var loading = {};
  var broken = {};  // page file index -> why it cannot be shown
  var shown = [];  // the page files the page's current view needs

  function fileName(index) {
    var digits = String(index);
    while (digits.length < 4) { digits = "0" + digits; }
    return options.dir + "/" + (series ? series + "-" : "") + digits + ".js";
  }

  function fail(index, message) {
    broken[index] = message;
    if (shown.indexOf(index) >= 0) { options.changed(); }
  }

  function request(index) {
    if (loading[index] || files.has(index) || broken[index]) { return; }
    loading[index] = true;
    var script = document.createElement("script");
    script.src = fileName(index);
    script.onload = function () {
      delete loading[index];
      script.remove();
      if (!files.has(index) && !broken[index]) { fail(index, fileName(index) + " holds no items of this page"); }
    };
    script.onerror = function () {
      delete loading[index];
      script.remove();
      fail(index, "cannot read " + fileName(index) + ": keep the " + options.dir + " folder beside this page");
    };
    document.head.appendChild(script);
  }

  function receive(token, index, items) {
    if (token !== options.token) {
      fail(index, fileName(index) + " belongs to another version of this report: " + options.again);
      return;
    }
    files.set(index, items);
    var spare = Array.from(files.keys()).filter(function (k) { return shown.indexOf(k) < 0; });
    while (files.size > KEEP_FILES + shown.length && spare.length) { files.delete(spare.shift()); }
    if (shown.indexOf(index) >= 0) { options.changed(); }
  }

  // Page files call one global function; each list's loader takes the files of its series.
  var receivers = deidPageFiles.receivers = deidPageFiles.receivers || {};
  receivers[series] = receive;
  window.deidPage = function (token, index, items, fileSeries) {
    var to = receivers[fileSeries || ""];
    if (to) { to(token, index, items); }
  };

  return {
    fileName: fileName,
    request: request,
    // The items of a page file read in, or undefined (then request it).
    items: function (index) {
      var items = files.get(index);
      if (items) { files.delete(index); files.set(index, items); }
      return items;
    },
    problem: function (index) { return broken[index]; },
    // The files the view now needs: kept in memory while it shows them.
    show: function (indexes) { shown = indexes; }
  };
}
