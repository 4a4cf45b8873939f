(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gallery-data").textContent);
  // The same tests as html_report.item_filters, which counts what each filter shows.
  var filters = {
    all: function () { return true; },
    failed: function (it) { return it.status === "failed"; },
    noface: function (it) { return it.status === "ok" && it.faces === 0; },
    low: function (it) { return it.status === "ok" && it.low > 0; },
    text: function (it) { return it.status === "ok" && it.texts > 0; },
    residual: function (it) {
      return it.status === "ok" && (it.residualFaces > 0 || "residualTags" in it || "unreadable" in it);
    },
    nothumb: function (it) { return it.status === "ok" && "thumbError" in it; },
    review: function (it) {
      return filters.failed(it) || filters.low(it) || filters.text(it) || filters.residual(it) || filters.nothumb(it);
    }
  };
  var waiting = false;
  var state = { filter: data.counts.review > 0 ? "review" : "all", page: 0 };
  var gallery = document.getElementById("gallery");
  var SVG = "http://www.w3.org/2000/svg";
  function changed() { render(); }
  var again = "write the report again (deid verify OUT)";
  // The two lists the filters show, each with its first file's worth in the page and the
  // rest in page files: every item ("all", and "noface"), and the review queue ("review",
  // and every other filter). fileCounts: each filter's items in each file of its list.
  // data.items holds the first file of both, in discovery order, so the queue's first file
  // is the first of its queued items.
  var lists = {
    gallery: {
      whole: "all", total: data.total, perFile: data.perFile, files: data.files, fileCounts: data.fileCounts,
      head: data.items.slice(0, Math.min(data.total, data.perFile)),
      pageFiles: deidPageFiles({ dir: data.pagesDir, token: data.token, again: again, changed: changed })
    },
    queue: {
      whole: "review", total: data.counts.review, perFile: data.queue.perFile, files: data.queue.files,
      fileCounts: data.queue.fileCounts,
      head: data.items.filter(filters.review).slice(0, data.queue.perFile),
      pageFiles: deidPageFiles({
        dir: data.pagesDir, token: data.token, series: data.queue.series, again: again, changed: changed
      })
    }
  };

  function listOf(name) {
    return name === "all" || name === "noface" ? lists.gallery : lists.queue;
  }

  function fileItems(list, index) {
    return index === 0 ? list.head : list.pageFiles.items(index);
  }

  function countIn(list, name, index) {
    if (name === list.whole) { return Math.min(list.perFile, list.total - index * list.perFile); }
    return list.fileCounts[name][index];
  }

  // Items start..end-1 of a filter, or the page files still needed for them: files are
  // read only where the filter's counts put those items.
  function slice(name, start, end) {
    var list = listOf(name);
    var items = [], needed = [], missing = [], before = 0;
    for (var index = 0; index < list.files && before < end; index += 1) {
      var count = countIn(list, name, index);
      if (count > 0 && before + count > start) {
        needed.push(index);
        var held = fileItems(list, index);
        if (!held) {
          missing.push(index);
        } else {
          var matching = name === list.whole ? held : held.filter(filters[name]);
          items = items.concat(matching.slice(Math.max(0, start - before), end - before));
        }
      }
      before += count;
    }
    return { list: list, items: items, files: needed, missing: missing };
  }

  function rect(box, cls) {
    var r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]);
    r.setAttribute("width", Math.max(box[2] - box[0], 1)); r.setAttribute("height", Math.max(box[3] - box[1], 1));
    r.setAttribute("class", cls);
    return r;
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function card(it) {
    var el = document.createElement("article");
    el.className = "card " + it.status;
    el.tabIndex = 0;
    if (it.status === "ok" && it.src) {
      var thumb = document.createElement("div");
      thumb.className = "thumb";
      thumb.style.paddingTop = (100 * it.h / Math.max(it.w, 1)) + "%";
      var img = document.createElement("img");
      img.loading = "lazy"; img.alt = "output " + it.output; img.src = it.src;
      thumb.appendChild(img);
      var svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 " + it.w + " " + it.h);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("aria-hidden", "true");
      it.regions.forEach(function (b) { svg.appendChild(rect(b, "region")); });
      (it.residual || []).forEach(function (b) { svg.appendChild(rect(b, "residual")); });
      thumb.appendChild(svg);
      el.appendChild(thumb);
    } else if (it.status === "ok" && it.thumbError) {
      var missing = document.createElement("div");
      missing.className = "thumb missing";
      missing.textContent = "no thumbnail: " + it.thumbError;
      el.appendChild(missing);
    }
    var name = document.createElement("div");
    name.className = "name";
    name.textContent = it.status === "ok" ? it.output : it.source;
    el.appendChild(name);
    var info = document.createElement("div");
    if (it.status === "failed") {
      info.textContent = "failed: " + it.error;
    } else {
      info.textContent = plural(it.faces, "face") +
        (it.heads ? ", " + plural(it.heads, "head") : "") +
        (it.texts ? ", " + plural(it.texts, "text region") : "") +
        (it.low ? ", " + it.low + " unsure" : "") +
        (it.residualFaces ? ", " + it.residualFaces + " residual" : "") +
        (it.residualTags ? ", residual metadata: " + it.residualTags.join(", ") : "") +
        (it.unreadable ? ", unreadable by verify: " + it.unreadable : "");
    }
    el.appendChild(info);
    return el;
  }

  function pageCount() {
    return Math.max(1, Math.ceil((data.counts[state.filter] || 0) / data.pageSize));
  }

  function render() {
    var count = data.counts[state.filter] || 0;
    var pages = pageCount();
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    var start = state.page * data.pageSize;
    var shown = slice(state.filter, start, Math.min(start + data.pageSize, count));
    var pageFiles = shown.list.pageFiles;
    [lists.gallery, lists.queue].forEach(function (list) {
      list.pageFiles.show(list === shown.list ? shown.files : []);
    });
    document.getElementById("gallery-count").textContent = count;
    document.getElementById("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.filter === state.filter));
    });
    var status = document.getElementById("gallery-status");
    var problems = shown.missing.filter(pageFiles.problem).map(pageFiles.problem);
    waiting = shown.missing.length > 0 && problems.length === 0;
    gallery.setAttribute("aria-busy", String(waiting));
    if (problems.length) {
      status.textContent = problems.join("; ");
      gallery.replaceChildren();
    } else if (waiting) {
      status.textContent = "loading " + shown.missing.map(pageFiles.fileName).join(", ");
      gallery.replaceChildren();
      shown.missing.forEach(pageFiles.request);
    } else {
      status.textContent = "";
      gallery.replaceChildren.apply(gallery, shown.items.map(card));
      // The next page's files, read while this page is looked at.
      slice(state.filter, start + data.pageSize, Math.min(start + 2 * data.pageSize, count)).missing.forEach(pageFiles.request);
    }
  }

  function turn(page) {
    state.page = page;
    render();
  }

  document.querySelectorAll(".filters button").forEach(function (b) {
    b.textContent += " (" + (data.counts[b.dataset.filter] || 0) + ")";
    b.addEventListener("click", function () { state.filter = b.dataset.filter; state.page = 0; render(); });
  });
  document.getElementById("prev").addEventListener("click", function () { turn(state.page - 1); });
  document.getElementById("next").addEventListener("click", function () { turn(state.page + 1); });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "n") { if (!document.getElementById("next").disabled) { turn(state.page + 1); } }
    if (e.key === "ArrowLeft" || e.key === "p") { if (!document.getElementById("prev").disabled) { turn(state.page - 1); } }
    if (e.key === "Home") { e.preventDefault(); turn(0); }
    if (e.key === "End") { e.preventDefault(); turn(pageCount() - 1); }
  });
  render();
})();
