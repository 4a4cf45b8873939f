(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  // A drag shorter than this on screen (px) is a click, not a rectangle.
  var MIN_DRAG = 4;
  var NEXT = { undefined: "drop", drop: "keep", keep: undefined };
  var UNDECIDED = { regions: {}, add: [], approved: false };
  // Item index (n) -> {item, regions: {region index: "drop"|"keep"}, add: [{frame, box}],
  // approved}; each holds its item, which may come from a page file no longer in memory
  // when saved.
  var decisions = new Map();
  // Item index (n) -> the frame shown of an image of several frames (animation, pages).
  var shownFrames = new Map();
  var page = 0;
  var pages = Math.max(1, Math.ceil(data.total / data.pageSize));
  var list = document.getElementById("items");
  var status = document.getElementById("page-status");
  var savedUrl = null;
  // The page's order: the queue, the failed files, the rest, one list after the other. The
  // page holds the first items of that order (data.items); every list's others are in its
  // own series of page files, perFile to a file from its first item, so an item's file is
  // found from its place in its list without reading any other.
  var lists = [];
  data.lists.reduce(function (at, part) {
    lists.push({
      start: at.start, total: part.total, held: part.held, inline: at.inline,
      pageFiles: deidPageFiles({
        dir: data.pagesDir, token: data.token, series: part.series,
        again: "write the page again (deid review OUT --source SRC)", changed: function () { render(); }
      })
    });
    return { start: at.start + part.total, inline: at.inline + part.held };
  }, { start: 0, inline: 0 });

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

  // The picture's pixel under the pointer: the output frame's own size, whatever the size on
  // screen (or of a thumbnail shown in its place).
  function toImage(svg, view, e) {
    var r = svg.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width * view.w, (e.clientY - r.top) / r.height * view.h];
  }

  function clippedBox(a, b, view) {
    function clip(v, top) { return Math.min(Math.max(Math.round(v), 0), top); }
    return [clip(Math.min(a[0], b[0]), view.w), clip(Math.min(a[1], b[1]), view.h),
      clip(Math.max(a[0], b[0]), view.w), clip(Math.max(a[1], b[1]), view.h)];
  }

  function multiFrame(it) {
    return it.frames > 1;
  }

  // The frame a region, a consent match or an added box is on; a still image's have none.
  function frameOf(found) {
    return found.frame || 0;
  }

  // The frames of an image a reviewer steps through: those with a picture, and those with
  // anything to decide on; a still image's one frame.
  function frameList(it) {
    if (!multiFrame(it)) { return [0]; }
    var frames = {};
    (it.views || []).forEach(function (view) { frames[view.frame] = true; });
    it.regions.concat(it.kept || []).forEach(function (found) { frames[frameOf(found)] = true; });
    (it.residual || []).forEach(function (box) { frames[box[5]] = true; });
    return Object.keys(frames).map(Number).sort(function (a, b) { return a - b; });
  }

  // The frame shown: the reviewer's choice, else the first the queue found something on,
  // else the first with a region, else the first.
  function shownFrame(it) {
    if (!multiFrame(it)) { return 0; }
    if (shownFrames.has(it.n)) { return shownFrames.get(it.n); }
    var queued = Object.keys(it.frameReasons || {}).map(Number);
    var found = queued.length ? queued : it.regions.map(frameOf);
    return found.length ? Math.min.apply(null, found) : 0;
  }

  // What is shown of a frame: its size, in which its boxes are, and its pictures.
  function frameView(it, frame) {
    if (!multiFrame(it)) {
      return { frame: 0, w: it.w, h: it.h, originalSrc: it.originalSrc, outputSrc: it.outputSrc };
    }
    var view = (it.views || []).filter(function (v) { return v.frame === frame; })[0];
    return view || { frame: frame, w: it.w, h: it.h, unrendered: true };
  }

  function showFrame(it, frame, focus) {
    shownFrames.set(it.n, frame);
    changed(it, focus);
  }

  function toggle(it, index) {
    var regions = decisionOf(it).regions;
    var next = NEXT[regions[index]];
    if (next) { regions[index] = next; } else { delete regions[index]; }
    changed(it);
  }

  // The item drawn again; ``focus``: a selector of the control to give the focus back to.
  function changed(it, focus) {
    var node = document.getElementById("item-" + it.n);
    if (node) {
      var fresh = itemNode(it);
      node.replaceWith(fresh);
      var control = focus && fresh.querySelector(focus);
      if (control) { control.focus(); }
    }
    summarize();
  }

  function overlay(it, view, withVerify) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + view.w + " " + view.h);
    svg.setAttribute("preserveAspectRatio", "none");
    var font = Math.max(view.w, view.h) / 40;
    var choice = peek(it);
    var number = 0;
    it.regions.forEach(function (region, index) {
      if (frameOf(region) !== view.frame) { return; }
      number += 1;
      var state = choice.regions[index];
      var r = svgRect(region.region, "region" + (state ? " " + state : ""));
      r.dataset.region = index;
      var title = document.createElementNS(SVG, "title");
      title.textContent = label(region) + (state ? " \u2014 " + state : "");
      r.appendChild(title);
      r.addEventListener("mousedown", function (e) { e.stopPropagation(); });
      r.addEventListener("click", function (e) { e.stopPropagation(); toggle(it, index); });
      svg.appendChild(r);
      svg.appendChild(svgText(region.region, font, number + " " + label(region) + (state ? " [" + state + "]" : "")));
    });
    if (withVerify) {
      // Faces deid verify still found in the output: shown, not decided on; a box drawn
      // over one covers it. An image of several frames gives each box's frame after its
      // score.
      (it.residual || []).forEach(function (box) {
        if ((box[5] || 0) !== view.frame) { return; }
        svg.appendChild(svgRect(box, "residual"));
        svg.appendChild(svgText(box, font, "verify " + box[4].toFixed(2), "residual"));
      });
    }
    // Faces left visible because the recogniser matched them to a participant who agreed
    // to be shown (--keep-faces): a wrong match is a person exposed; a box drawn over one
    // covers it.
    (it.kept || []).forEach(function (kept) {
      if (frameOf(kept) !== view.frame) { return; }
      svg.appendChild(svgRect(kept.box, "kept"));
      svg.appendChild(svgText(kept.box, font, "kept by consent: " + kept.participant + " " + kept.distance.toFixed(2), "kept"));
    });
    choice.add.forEach(function (added, index) {
      if (added.frame !== view.frame) { return; }
      var r = svgRect(added.box, "added");
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
      var start = toImage(svg, view, e);
      var startScreen = [e.clientX, e.clientY];
      var drawing = svgRect([start[0], start[1], start[0], start[1]], "drawing");
      svg.appendChild(drawing);
      function move(m) {
        var box = clippedBox(start, toImage(svg, view, m), view);
        drawing.setAttribute("x", box[0]); drawing.setAttribute("y", box[1]);
        drawing.setAttribute("width", Math.max(box[2] - box[0], 1)); drawing.setAttribute("height", Math.max(box[3] - box[1], 1));
      }
      function up(u) {
        document.removeEventListener("mousemove", move);
        document.removeEventListener("mouseup", up);
        drawing.remove();
        var box = clippedBox(start, toImage(svg, view, u), view);
        var dragged = Math.abs(u.clientX - startScreen[0]) >= MIN_DRAG && Math.abs(u.clientY - startScreen[1]) >= MIN_DRAG;
        if (dragged && box[2] > box[0] && box[3] > box[1]) {
          decisionOf(it).add.push({ frame: view.frame, box: box });
          changed(it);
        }
      }
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
    });
    return svg;
  }

  function picture(it, view, error, what) {
    var figure = el("figure");
    var src = what === "original" ? view.originalSrc : view.outputSrc;
    if (src) {
      var pic = el("div", "pic");
      pic.style.paddingTop = (100 * view.h / Math.max(view.w, 1)) + "%";
      var img = el("img");
      img.loading = "lazy"; img.alt = what + " " + (what === "original" ? it.source : it.output); img.src = src;
      img.draggable = false;
      pic.appendChild(img);
      pic.appendChild(overlay(it, view, what === "output"));
      figure.appendChild(pic);
    } else if (view.unrendered && !error) {
      figure.appendChild(el("div", "pic missing", "no picture of this frame: at most " + data.framesRendered +
        " frames of an image get one, those with regions first; its regions can still be decided below"));
    } else {
      figure.appendChild(el("div", "pic missing", "no picture: " + (error || "unknown")));
    }
    figure.appendChild(el("figcaption", "", what + ": " + (what === "original" ? it.source : it.output)));
    return figure;
  }

  function frameLabel(it, frame) {
    var choice = peek(it);
    var regions = 0, decided = 0;
    it.regions.forEach(function (region, index) {
      if (frameOf(region) !== frame) { return; }
      regions += 1;
      if (choice.regions[index]) { decided += 1; }
    });
    decided += choice.add.filter(function (added) { return added.frame === frame; }).length;
    var why = (it.frameReasons || {})[frame];
    return "frame " + (frame + 1) + " of " + it.frames + ": " + plural(regions, "region") +
      (decided ? ", " + decided + " decided" : "") + (why ? " \u2014 " + why.join(", ") : "") +
      (frameView(it, frame).unrendered ? " (no picture)" : "");
  }

  // Previous and next frame, and the list of frames with what is on each.
  function frameBar(it, frame) {
    var frames = frameList(it);
    var at = frames.indexOf(frame);
    var bar = el("div", "frames");
    var prev = el("button", "prev-frame", "\u2190 frame");
    prev.type = "button";
    prev.disabled = at <= 0;
    prev.addEventListener("click", function () { showFrame(it, frames[at - 1], ".prev-frame"); });
    var select = el("select", "frame");
    select.setAttribute("aria-label", "frame shown of " + it.source);
    frames.forEach(function (k) {
      var option = el("option", "", frameLabel(it, k));
      option.value = k;
      option.selected = k === frame;
      select.appendChild(option);
    });
    select.addEventListener("change", function () { showFrame(it, Number(select.value), "select.frame"); });
    var next = el("button", "next-frame", "frame \u2192");
    next.type = "button";
    next.disabled = at >= frames.length - 1;
    next.addEventListener("click", function () { showFrame(it, frames[at + 1], ".next-frame"); });
    bar.appendChild(prev);
    bar.appendChild(select);
    bar.appendChild(next);
    if (frames.length < it.frames) {
      bar.appendChild(el("span", "note", plural(it.frames - frames.length, "frame") +
        " without a region not shown (at most " + data.framesRendered + " frames of an image get pictures)"));
    }
    return bar;
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
    var frame = shownFrame(it);
    var view = frameView(it, frame);
    if (multiFrame(it)) {
      node.dataset.frame = frame;
      node.appendChild(frameBar(it, frame));
    }
    var pair = el("div", "pair");
    if (data.originals) {
      pair.appendChild(picture(it, view, it.originalError, "original"));
    } else if (it.status === "failed") {
      pair.appendChild(el("div", "pic missing", "no output was written; give the folder the run read (--source) to see the original"));
    }
    if (it.status === "ok") { pair.appendChild(picture(it, view, it.outputError, "output")); }
    node.appendChild(pair);
    var regions = el("ol", "regions");
    var listed = 0;
    it.regions.forEach(function (region, index) {
      if (frameOf(region) !== frame) { return; }
      listed += 1;
      var state = choice.regions[index];
      var li = el("li", state || "");
      var button = el("button", "", state ? state : "undecided");
      button.type = "button";
      button.setAttribute("aria-label", "region " + listed + ": " + (state || "undecided") + "; change");
      button.addEventListener("click", function () { toggle(it, index); });
      li.appendChild(document.createTextNode(label(region) + " "));
      li.appendChild(button);
      regions.appendChild(li);
    });
    choice.add.forEach(function (added) {
      if (added.frame !== frame) { return; }
      listed += 1;
      regions.appendChild(el("li", "add", "added: [" + added.box.join(", ") + "], " + size(added.box)));
    });
    if (!listed) {
      regions.appendChild(el("li", "", multiFrame(it) ? "no region covered on this frame" : "no region covered"));
    }
    node.appendChild(regions);
    var approve = el("button", "approve", choice.approved ? "\u2713 Looks right" : "Looks right");
    approve.type = "button";
    approve.setAttribute("aria-pressed", String(choice.approved));
    approve.title = "checked, nothing to change" + (multiFrame(it) ? " on any frame" : "") +
      (it.status === "failed" ? ": the run writes it with the boxes shown" : "");
    approve.addEventListener("click", function () {
      var decision = decisionOf(it);
      decision.approved = !decision.approved;
      changed(it);
    });
    node.appendChild(approve);
    return node;
  }

  // One entry per file and frame with a decision, in the page's order, then by frame.
  function corrections() {
    var files = [];
    Array.from(decisions.keys()).sort(function (a, b) { return a - b; }).forEach(function (n) {
      var choice = decisions.get(n);
      var it = choice.item;
      var byFrame = {};
      function entry(frame) {
        if (!byFrame[frame]) { byFrame[frame] = { source: it.source, frame: frame, drop: [], keep: [], add: [] }; }
        return byFrame[frame];
      }
      Object.keys(choice.regions).map(Number).sort(function (a, b) { return a - b; }).forEach(function (index) {
        var region = it.regions[index];
        entry(frameOf(region))[choice.regions[index]].push(region.box);
      });
      choice.add.forEach(function (added) { entry(added.frame).add.push(added.box); });
      // An entry without boxes says a person looked and found nothing to change.
      if (choice.approved && !Object.keys(byFrame).length) { entry(0); }
      Object.keys(byFrame).map(Number).sort(function (a, b) { return a - b; }).forEach(function (frame) {
        files.push(byFrame[frame]);
      });
    });
    return files;
  }

  function sourcesIn(files) {
    return new Set(files.map(function (f) { return f.source; })).size;
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
      parts.join(", ") + " in " + plural(sourcesIn(files), "file") + ", not saved" : "no decisions yet";
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
    document.getElementById("decisions").textContent =
      plural(sourcesIn(files), "file") + " with decisions saved as corrections.json";
  }

  // Items start..end-1 in the page's order, and the page files they need: by list
  // (files[k]: list k's), and those not read yet (missing: {list, file}).
  function slice(start, end) {
    var items = [], files = lists.map(function () { return []; }), missing = [];
    lists.forEach(function (part, k) {
      for (var i = Math.max(start, part.start); i < Math.min(end, part.start + part.total); i += 1) {
        var at = i - part.start;
        if (at < part.held) { items.push(data.items[part.inline + at]); continue; }
        var file = Math.floor(at / data.perFile);
        if (files[k].indexOf(file) < 0) { files[k].push(file); }
        var inFile = part.pageFiles.items(file);
        if (inFile) {
          items.push(inFile[at % data.perFile]);
        } else if (!missing.some(function (m) { return m.list === part && m.file === file; })) {
          missing.push({ list: part, file: file });
        }
      }
    });
    return { items: items, files: files, missing: missing };
  }

  function request(wanted) {
    wanted.list.pageFiles.request(wanted.file);
  }

  function render() {
    page = Math.max(0, Math.min(page, pages - 1));
    var start = page * data.pageSize;
    var shown = slice(start, Math.min(start + data.pageSize, data.total));
    lists.forEach(function (part, k) { part.pageFiles.show(shown.files[k]); });
    document.getElementById("page-info").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
    var problems = shown.missing.map(function (m) { return m.list.pageFiles.problem(m.file); }).filter(Boolean);
    var waiting = shown.missing.length > 0 && problems.length === 0;
    list.setAttribute("aria-busy", String(waiting));
    if (problems.length) {
      status.textContent = problems.join("; ");
      list.replaceChildren();
    } else if (waiting) {
      status.textContent = "loading " + shown.missing.map(function (m) { return m.list.pageFiles.fileName(m.file); })
        .join(", ");
      list.replaceChildren();
      shown.missing.forEach(request);
    } else {
      status.textContent = "";
      list.replaceChildren.apply(list, shown.items.filter(Boolean).map(itemNode));
      // The next page's files, read while this page is looked at.
      slice(start + data.pageSize, Math.min(start + 2 * data.pageSize, data.total)).missing.forEach(request);
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
    // The arrow keys of a frame list choose a frame, not a page.
    if (e.altKey || e.ctrlKey || e.metaKey || e.target.tagName === "SELECT") { return; }
    if (e.key === "ArrowRight" && page < pages - 1) { turn(page + 1); }
    if (e.key === "ArrowLeft" && page > 0) { turn(page - 1); }
    if (e.key === "Home") { e.preventDefault(); turn(0); }
    if (e.key === "End") { e.preventDefault(); turn(pages - 1); }
  });
  render();
})();
