(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gallery-data").textContent);
  var filters = {
    all: function () { return true; },
    failed: function (it) { return it.status === "failed"; },
    noface: function (it) { return it.status === "ok" && it.faces === 0; },
    low: function (it) { return it.status === "ok" && it.low > 0; },
    residual: function (it) { return it.residual && it.residual.length > 0; }
  };
  var state = { filter: "all", page: 0 };
  var gallery = document.getElementById("gallery");
  var SVG = "http://www.w3.org/2000/svg";

  function rect(box, cls) {
    var r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]);
    r.setAttribute("width", Math.max(box[2] - box[0], 1)); r.setAttribute("height", Math.max(box[3] - box[1], 1));
    r.setAttribute("class", cls);
    return r;
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
      info.textContent = it.faces + (it.faces === 1 ? " face" : " faces") +
        (it.heads ? ", " + it.heads + (it.heads === 1 ? " head" : " heads") : "") +
        (it.low ? ", " + it.low + " unsure" : "") +
        (it.residual && it.residual.length ? ", " + it.residual.length + " residual" : "");
    }
    el.appendChild(info);
    return el;
  }

  function render() {
    var shown = data.items.filter(filters[state.filter]);
    var pages = Math.max(1, Math.ceil(shown.length / data.pageSize));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * data.pageSize;
    gallery.replaceChildren.apply(gallery, shown.slice(start, start + data.pageSize).map(card));
    document.getElementById("gallery-count").textContent = shown.length;
    document.getElementById("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    document.querySelectorAll(".filters button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.filter === state.filter));
    });
  }

  document.querySelectorAll(".filters button").forEach(function (b) {
    b.textContent += " (" + data.items.filter(filters[b.dataset.filter]).length + ")";
    b.addEventListener("click", function () { state.filter = b.dataset.filter; state.page = 0; render(); });
  });
  document.getElementById("prev").addEventListener("click", function () { state.page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { state.page += 1; render(); });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "n") { if (!document.getElementById("next").disabled) { state.page += 1; render(); } }
    if (e.key === "ArrowLeft" || e.key === "p") { if (!document.getElementById("prev").disabled) { state.page -= 1; render(); } }
  });
  render();
})();
