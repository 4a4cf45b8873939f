(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  // A drag shorter than this on screen (px) is a click, not a rectangle.
  var MIN_DRAG = 4;
  var NEXT = { undefined: "drop", drop: "keep", keep: undefined };
  var decisions = new Map();  // item index (n) -> {regions: {region index: "drop"|"keep"}, add: [box]}
  var page = 0;
  var pages = Math.max(1, Math.ceil(data.items.length / data.pageSize));
  var list = document.getElementById("items");
  var savedUrl = null;

  function decisionOf(n) {
    if (!decisions.has(n)) { decisions.set(n, { regions: {}, add: [] }); }
    return decisions.get(n);
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
    var regions = decisionOf(it.n).regions;
    var next = NEXT[regions[index]];
    if (next) { regions[index] = next; } else { delete regions[index]; }
    changed(it);
  }

  function changed(it) {
    var node = document.getElementById("item-" + it.n);
    if (node) { node.replaceWith(itemNode(it)); }
    summarize();
  }

  function overlay(it) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + it.w + " " + it.h);
    svg.setAttribute("preserveAspectRatio", "none");
    var font = Math.max(it.w, it.h) / 40;
    var choice = decisionOf(it.n);
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
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", region.region[0] + font / 4);
      text.setAttribute("y", region.region[1] + font * 1.1);
      text.setAttribute("font-size", font);
      text.textContent = (index + 1) + " " + label(region) + (state ? " [" + state + "]" : "");
      svg.appendChild(text);
    });
    choice.add.forEach(function (box, index) {
      var r = svgRect(box, "added");
      r.dataset.added = index;
      r.addEventListener("mousedown", function (e) { e.stopPropagation(); });
      r.addEventListener("click", function (e) {
        e.stopPropagation();
        choice.add.splice(index, 1);
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
          choice.add.push(box);
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
      pic.appendChild(overlay(it));
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
      node.appendChild(el("p", "", "failed: " + it.error));
      return node;
    }
    var pair = el("div", "pair");
    if (data.originals) { pair.appendChild(picture(it, it.originalSrc, it.originalError, "original")); }
    pair.appendChild(picture(it, it.outputSrc, it.outputError, "output"));
    node.appendChild(pair);
    var choice = decisionOf(it.n);
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
    return node;
  }

  function corrections() {
    var files = [];
    data.items.forEach(function (it) {
      var choice = decisions.get(it.n);
      if (!choice) { return; }
      var entry = { source: it.source, frame: 0, drop: [], keep: [], add: choice.add.slice() };
      Object.keys(choice.regions).map(Number).sort(function (a, b) { return a - b; }).forEach(function (index) {
        entry[choice.regions[index]].push(it.regions[index].box);
      });
      if (entry.drop.length || entry.keep.length || entry.add.length) { files.push(entry); }
    });
    return files;
  }

  function summarize() {
    var files = corrections();
    var count = files.reduce(function (sum, f) { return sum + f.drop.length + f.keep.length + f.add.length; }, 0);
    document.getElementById("decisions").textContent = count ?
      count + " decision" + (count === 1 ? "" : "s") + " in " + files.length + " file" + (files.length === 1 ? "" : "s") + ", not saved" :
      "no decisions yet";
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
    document.getElementById("decisions").textContent = files.length + " file" + (files.length === 1 ? "" : "s") +
      " with decisions saved as corrections.json";
  }

  function render() {
    page = Math.max(0, Math.min(page, pages - 1));
    var shown = data.items.slice(page * data.pageSize, (page + 1) * data.pageSize);
    list.replaceChildren.apply(list, shown.map(itemNode));
    document.getElementById("page-info").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  document.getElementById("queue-info").textContent = data.queued + " of " + data.total +
    " images need a look (failed, a region large for a face, or a low score) and come first" +
    (data.items.length < data.total ? "; " + data.items.length + " on this page" : "") + ".";
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("prev").addEventListener("click", function () { page -= 1; render(); window.scrollTo(0, 0); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); window.scrollTo(0, 0); });
  render();
})();
