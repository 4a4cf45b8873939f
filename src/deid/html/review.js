(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  // A drag shorter than this on screen (px) is a click, not a rectangle.
  var MIN_DRAG = 4;
  var NEXT = { undefined: "drop", drop: "keep", keep: undefined };
  var UNDECIDED = { regions: {}, add: [], approved: false };
  // Item index (n) -> {item, regions: {region index: "drop"|"keep"}, add: [box], approved};
  // each holds its item, which may come from a page file no longer in memory when saved.
  var decisions = new Map();
  var page = 0;
  var pages = Math.max(1, Math.ceil(data.total / data.pageSize));
  // The page's own items: the queue and the failed files, then the first file's worth of
  // the rest; the rest's later items are in the page files.
  var held = data.queued + data.failed;
  var list = document.getElementById("items");
  var status = document.getElementById("page-status");
  var savedUrl = null;
  var pageFiles = deidPageFiles({
    dir: data.pagesDir, token: data.token, again: "write the page again (deid review OUT --source SRC)",
    changed: function () { render(); }
  });

  function peek(it) {
    return decisions.get(it.n) || UNDECIDED;
  }

  function decisionOf(it) {
    if (!decisions.has(it.n)) { decisions.set(it.n, { item: it, regions: {}, add: [], approved: false }); }
    return decisions.get(it.n);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function svgRect(box, cls) {
    var r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]);
    r.setAttribute("width", Math.max(box[2] - box[0], 1)); r.setAttribute("height", Math.max(box[3] - box[1], 1));
    r.setAttribute("class", cls);
    return r;
  }

  function svgText(box, font, content, cls) {
    var text = document.createElementNS(SVG, "text");
    text.setAttribute("x", box[0] + font / 4);
    text.setAttribute("y", box[1] + font * 1.1);
    text.setAttribute("font-size", font);
    if (cls) { text.setAttribute("class", cls); }
    text.textContent = content;
    return text;
  }

  function size(box) {
    return Math.round(box[2] - box[0]) + "\u00d7" + Math.round(box[3] - box[1]) + " px";
  }

  function label(region) {
    return region.kind + ", " + region.detector + " " + region.score.toFixed(2) + ", " + size(region.box);
  }

  // The picture's pixel under the pointer: the output's own size, whatever the size on screen
  // (or of a thumbnail shown in its place).
  function toImage(svg, it, e) {
    var r = svg.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width * it.w, (e.clientY - r.top) / r.height * it.h];
  }

  function clippedBox(a, b, it) {
    function clip(v, top) { return Math.min(Math.max(Math.round(v), 0), top); }
    return [clip(Math.min(a[0], b[0]), it.w), clip(Math.min(a[1], b[1]), it.h),
      clip(Math.max(a[0], b[0]), it.w), clip(Math.max(a[1], b[1]), it.h)];
  }

  function toggle(it, index) {
    var regions = decisionOf(it).regions;
    var next = NEXT[regions[index]];
    if (next) { regions[index] = next; } else { delete regions[index]; }
    changed(it);
  }

  function changed(it) {
    var node = document.getElementById("item-" + it.n);
    if (node) { node.replaceWith(itemNode(it)); }
    summarize();
  }

  function overlay(it, withVerify) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + it.w + " " + it.h);
    svg.setAttribute("preserveAspectRatio", "none");
    var font = Math.max(it.w, it.h) / 40;
    var choice = peek(it);
    it.regions.forEach(function (region, index) {
      var state = choice.regions[index];
      var r = svgRect(region.region, "region" + (state ? " " + state : ""));
      r.dataset.region = index;
      var title = document.createElementNS(SVG, "title");
      title.textContent = label(region) + (state ? " \u2014 " + state : "");
      r.appendChild(title);
      r.addEventListener("mousedown", function (e) { e.stopPropagation(); });
      r.addEventListener("click", function (e) { e.stopPropagation(); toggle(it, index); });
      svg.appendChild(r);
      svg.appendChild(svgText(region.region, font, (index + 1) + " " + label(region) + (state ? " [" + state + "]" : "")));
    });
    if (withVerify) {
      // Faces deid verify still found in the output: shown, not decided on; a box drawn
      // over one covers it.
      (it.residual || []).forEach(function (box) {
        svg.appendChild(svgRect(box, "residual"));
        svg.appendChild(svgText(box, font, "verify " + box[4].toFixed(2), "residual"));
      });
    }
    // Faces left visible because the recogniser matched them to a participant who agreed
    // to be shown (--keep-faces): a wrong match is a person exposed; a box drawn over one
    // covers it.
    (it.kept || []).forEach(function (kept) {
      svg.appendChild(svgRect(kept.box, "kept"));
      svg.appendChild(svgText(kept.box, font, "kept by consent: " + kept.participant + " " + kept.distance.toFixed(2), "kept"));
    });
    choice.add.forEach(function (box, index) {
      var r = svgRect(box, "added");
      r.dataset.added = index;
      r.addEventListener("mousedown", function (e) { e.stopPropagation(); });
      r.addEventListener("click", function (e) {
        e.stopPropagation();
        decisionOf(it).add.splice(index, 1);
        changed(it);
      });
      svg.appendChild(r);
    });
    svg.addEventListener("mousedown", function (e) {
      if (e.button !== 0) { return; }
      e.preventDefault();
      var start = toImage(svg, it, e);
      var startScreen = [e.clientX, e.clientY];
      var drawing = svgRect([start[0], start[1], start[0], start[1]], "drawing");
      svg.appendChild(drawing);
      function move(m) {
        var box = clippedBox(start, toImage(svg, it, m), it);
        drawing.setAttribute("x", box[0]); drawing.setAttribute("y", box[1]);
        drawing.setAttribute("width", Math.max(box[2] - box[0], 1)); drawing.setAttribute("height", Math.max(box[3] - box[1], 1));
      }
      function up(u) {
        document.removeEventListener("mousemove", move);
        document.removeEventListener("mouseup", up);
        drawing.remove();
        var box = clippedBox(start, toImage(svg, it, u), it);
        var dragged = Math.abs(u.clientX - startScreen[0]) >= MIN_DRAG && Math.abs(u.clientY - startScreen[1]) >= MIN_DRAG;
        if (dragged && box[2] > box[0] && box[3] > box[1]) {
          decisionOf(it).add.push(box);
          changed(it);
        }
      }
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
    });
    return svg;
  }

  function picture(it, src, error, what) {
    var figure = el("figure");
    if (src) {
      var pic = el("div", "pic");
      pic.style.paddingTop = (100 * it.h / Math.max(it.w, 1)) + "%";
      var img = el("img");
      img.loading = "lazy"; img.alt = what + " " + (what === "original" ? it.source : it.output); img.src = src;
      img.draggable = false;
      pic.appendChild(img);
      pic.appendChild(overlay(it, what === "output"));
      figure.appendChild(pic);
    } else {
      figure.appendChild(el("div", "pic missing", "no picture: " + (error || "unknown")));
    }
    figure.appendChild(el("figcaption", "", what + ": " + (what === "original" ? it.source : it.output)));
    return figure;
  }

  function itemNode(it) {
    var node = el("article", "item " + it.status);
    node.id = "item-" + it.n;
    node.dataset.source = it.source;
    var head = el("h2", "", it.source);
    if (it.reasons.length) { head.appendChild(el("span", "reasons", it.reasons.join(", "))); }
    node.appendChild(head);
    if (it.status === "failed") {
      node.appendChild(el("p", "error", "not written: " + it.error));
    }
    if (!it.w) { return node; }
    var choice = peek(it);
    var pair = el("div", "pair");
    if (data.originals) {
      pair.appendChild(picture(it, it.originalSrc, it.originalError, "original"));
    } else if (it.status === "failed") {
      pair.appendChild(el("div", "pic missing", "no output was written; give the folder the run read (--source) to see the original"));
    }
    if (it.status === "ok") { pair.appendChild(picture(it, it.outputSrc, it.outputError, "output")); }
    node.appendChild(pair);
    var regions = el("ol", "regions");
    it.regions.forEach(function (region, index) {
      var state = choice.regions[index];
      var li = el("li", state || "");
      var button = el("button", "", state ? state : "undecided");
      button.type = "button";
      button.setAttribute("aria-label", "region " + (index + 1) + ": " + (state || "undecided") + "; change");
      button.addEventListener("click", function () { toggle(it, index); });
      li.appendChild(document.createTextNode(label(region) + " "));
      li.appendChild(button);
      regions.appendChild(li);
    });
    choice.add.forEach(function (box) {
      regions.appendChild(el("li", "add", "added: [" + box.join(", ") + "], " + size(box)));
    });
    if (!it.regions.length && !choice.add.length) { regions.appendChild(el("li", "", "no region covered")); }
    node.appendChild(regions);
    var approve = el("button", "approve", choice.approved ? "\u2713 Looks right" : "Looks right");
    approve.type = "button";
    approve.setAttribute("aria-pressed", String(choice.approved));
    approve.title = "checked, nothing to change" + (it.status === "failed" ? ": the run writes it with the boxes shown" : "");
    approve.addEventListener("click", function () {
      var decision = decisionOf(it);
      decision.approved = !decision.approved;
      changed(it);
    });
    node.appendChild(approve);
    return node;
  }

  function corrections() {
    var files = [];
    Array.from(decisions.keys()).sort(function (a, b) { return a - b; }).forEach(function (n) {
      var choice = decisions.get(n);
      var it = choice.item;
      var entry = { source: it.source, frame: 0, drop: [], keep: [], add: choice.add.slice() };
      Object.keys(choice.regions).map(Number).sort(function (a, b) { return a - b; }).forEach(function (index) {
        entry[choice.regions[index]].push(it.regions[index].box);
      });
      // An entry without boxes says a person looked and found nothing to change.
      if (choice.approved || entry.drop.length || entry.keep.length || entry.add.length) { files.push(entry); }
    });
    return files;
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function summarize() {
    var files = corrections();
    var count = files.reduce(function (sum, f) { return sum + f.drop.length + f.keep.length + f.add.length; }, 0);
    var approved = Array.from(decisions.values()).filter(function (d) { return d.approved; }).length;
    var parts = [];
    if (count) { parts.push(plural(count, "decision")); }
    if (approved) { parts.push(plural(approved, "image") + " marked right"); }
    document.getElementById("decisions").textContent = files.length ?
      parts.join(", ") + " in " + plural(files.length, "file") + ", not saved" : "no decisions yet";
  }

  function save() {
    var files = corrections();
    var text = '{"deid_corrections": ' + data.format + ',\n "files": [' +
      files.map(function (f) { return JSON.stringify(f); }).join(",\n  ") + "]}\n";
    if (savedUrl) { URL.revokeObjectURL(savedUrl); }
    savedUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    var link = el("a");
    link.href = savedUrl;
    link.download = "corrections.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    document.getElementById("decisions").textContent = plural(files.length, "file") + " with decisions saved as corrections.json";
  }

  // Items start..end-1 in the page's order, and the page files they need (those not read
  // yet: missing).
  function slice(start, end) {
    var items = [], needed = [], missing = [];
    for (var i = start; i < end; i += 1) {
      var rest = i - held;
      var file = rest < 0 ? 0 : Math.floor(rest / data.perFile);
      if (file === 0) { items.push(data.items[i]); continue; }
      if (needed.indexOf(file) < 0) { needed.push(file); }
      var inFile = pageFiles.items(file);
      if (inFile) {
        items.push(inFile[rest % data.perFile]);
      } else if (missing.indexOf(file) < 0) {
        missing.push(file);
      }
    }
    return { items: items, files: needed, missing: missing };
  }

  function render() {
    page = Math.max(0, Math.min(page, pages - 1));
    var start = page * data.pageSize;
    var shown = slice(start, Math.min(start + data.pageSize, data.total));
    pageFiles.show(shown.files);
    document.getElementById("page-info").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
    var problems = shown.missing.filter(pageFiles.problem).map(pageFiles.problem);
    var waiting = shown.missing.length > 0 && problems.length === 0;
    list.setAttribute("aria-busy", String(waiting));
    if (problems.length) {
      status.textContent = problems.join("; ");
      list.replaceChildren();
    } else if (waiting) {
      status.textContent = "loading " + shown.missing.map(pageFiles.fileName).join(", ");
      list.replaceChildren();
      shown.missing.forEach(pageFiles.request);
    } else {
      status.textContent = "";
      list.replaceChildren.apply(list, shown.items.filter(Boolean).map(itemNode));
      // The next page's files, read while this page is looked at.
      slice(start + data.pageSize, Math.min(start + 2 * data.pageSize, data.total)).missing.forEach(pageFiles.request);
    }
  }

  function turn(to) {
    page = to;
    render();
    window.scrollTo(0, 0);
  }

  document.getElementById("save").addEventListener("click", save);
  document.getElementById("prev").addEventListener("click", function () { turn(page - 1); });
  document.getElementById("next").addEventListener("click", function () { turn(page + 1); });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" && page < pages - 1) { turn(page + 1); }
    if (e.key === "ArrowLeft" && page > 0) { turn(page - 1); }
    if (e.key === "Home") { e.preventDefault(); turn(0); }
    if (e.key === "End") { e.preventDefault(); turn(pages - 1); }
  });
  render();
})();
