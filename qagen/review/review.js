// The review page's script. Every piece of the run's data reaches the page as a text node or an attribute
// value set through the DOM, never as HTML: the documents' text is hostile.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("qagen-data").textContent);
  const report = data.report || {};
  const PAGE_SIZE = 50;
  const LIST_LIMIT = 1000; // rows of the "gave nothing" list drawn at once; the rest are counted
  const chunks = new Map(data.chunks.map((c) => [c.id, c]));
  const decisions = new Map(); // pair id -> {pair_id, action[, question, answer]}, in the order they were made
  for (const d of data.decisions) decisions.set(d.pair_id, d);

  // ------------------------------------------------------------------ DOM helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child)); // a string becomes a text node
    }
    return node;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  function select(id, label, values, onChange) {
    const box = el("select", { id, onchange: (e) => onChange(e.target.value) }, el("option", { value: "" }, "all"));
    for (const value of values) box.append(el("option", { value }, value));
    return el("label", { class: "filter" }, label + " ", box);
  }

  function distinct(rows, key) {
    return [...new Set(rows.map((r) => r[key]).filter((v) => v !== null && v !== undefined && v !== ""))].sort();
  }

  // ------------------------------------------------------------------ supporting words

  // A word: a number with its decimal or thousands marks ("9.40", "1,912", "06:40"), or letters, digits and
  // combining marks with inner apostrophes; compared in NFKC and lower case, so "Café" written with a
  // combining accent matches "café".
  const WORD = /\p{N}+(?:[.,:]\p{N}+)*(?![\p{L}\p{M}\p{N}])|[\p{L}\p{N}\p{M}]+(?:['\u2019][\p{L}\p{N}\p{M}]+)*/gu;
  const NUMBER = /\p{N}/u;
  const STOP = new Set(("a an and are as at be by can do does for from has have how i in is it its of on or " +
    "that the their there this to was were what when where which who why will with you your").split(" "));
  const fold = (word) => word.normalize("NFKC").toLowerCase();

  function answerWords(answer) {
    const words = new Set();
    for (const match of answer.matchAll(WORD)) {
      const word = fold(match[0]);
      if (!STOP.has(word) && ([...word].length > 1 || NUMBER.test(word))) words.add(word);
    }
    return words;
  }

  // The chunk's text with the answer's words marked. The start of the longest run of marked words is
  // remembered: that is most likely where the answer is, and the box scrolls there once it is drawn.
  const bestRun = new WeakMap();
  function highlighted(text, words) {
    const box = el("div", { class: "chunk-text" });
    let last = 0, run = 0, best = 0, runStart = null;
    for (const match of text.matchAll(WORD)) {
      if (!words.has(fold(match[0]))) { run = 0; continue; }
      if (match.index > last) box.append(text.slice(last, match.index));
      const mark = el("mark", {}, match[0]);
      box.append(mark);
      if (run === 0) runStart = mark;
      run += 1;
      if (run > best) { best = run; bestRun.set(box, runStart); }
      last = match.index + match[0].length;
    }
    box.append(text.slice(last));
    return box;
  }

  function scrollToSupport(root) {
    for (const box of root.querySelectorAll(".chunk-text")) {
      const mark = bestRun.get(box);
      if (mark) box.scrollTop = Math.max(0, mark.offsetTop - 24);
    }
  }

  // ------------------------------------------------------------------ state and filters

  const views = {
    pairs: { rows: data.pairs, filters: { q: "", kind: "", source: "", decision: "" }, page: 0 },
    rejects: { rows: data.rejects, filters: { q: "", stage: "", reason: "", source: "" }, page: 0 },
  };
  let current = "pairs";

  function haystack(row, keys) {
    if (row.__text === undefined) {
      Object.defineProperty(row, "__text", { value: keys.map((k) => row[k] || "").join("\n").toLowerCase() });
    }
    return row.__text;
  }

  function matches(view, row) {
    const f = views[view].filters;
    if (view === "pairs") {
      if (f.kind && row.kind !== f.kind) return false;
      if (f.source && row.source !== f.source) return false;
      if (f.decision) {
        const d = decisions.get(row.id);
        if (f.decision === "undecided" ? d : !d || d.action !== f.decision) return false;
      }
      return !f.q || haystack(row, ["question", "answer", "source", "section", "id"]).includes(f.q);
    }
    if (f.stage && row.stage !== f.stage) return false;
    if (f.reason && row.reason !== f.reason) return false;
    if (f.source && row.source !== f.source) return false;
    return !f.q || haystack(row, ["reason", "detail", "raw", "source", "section", "pair_id"]).includes(f.q);
  }

  function filtered(view) {
    return views[view].rows.filter((row) => matches(view, row));
  }

  // ------------------------------------------------------------------ decisions

  function decide(pair, action, question, answer) {
    const before = decisions.get(pair.id);
    if (action !== "edit" && before && before.action === action) decisions.delete(pair.id); // a second click undoes
    else if (action === "edit") decisions.set(pair.id, { pair_id: pair.id, action, question, answer });
    else decisions.set(pair.id, { pair_id: pair.id, action });
    updateExport();
  }

  function decisionsText() {
    return [...decisions.values()].map((d) => JSON.stringify(d.action === "edit"
      ? { pair_id: d.pair_id, action: d.action, question: d.question, answer: d.answer }
      : { pair_id: d.pair_id, action: d.action })).map((line) => line + "\n").join("");
  }

  function exportDecisions() {
    const url = URL.createObjectURL(new Blob([decisionsText()], { type: "application/x-ndjson" }));
    const link = el("a", { href: url, download: "decisions.jsonl" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function updateExport() {
    const button = document.getElementById("export");
    if (button) button.textContent = `Export decisions (${decisions.size})`;
  }

  // ------------------------------------------------------------------ pairs

  function field(label, value) {
    return value === null || value === undefined || value === "" ? null : el("span", { class: "field" }, el("b", {}, label + " "), String(value));
  }

  function pairCard(pair) {
    const decision = decisions.get(pair.id);
    const card = el("article", { class: "pair" + (decision ? " decided-" + decision.action : ""), "data-id": pair.id });
    const judge = pair.judge_rating === null || pair.judge_rating === undefined ? null
      : `${pair.judge_rating}/5` + (pair.judge_reason ? `: ${pair.judge_reason}` : "");
    card.append(el("header", {},
      el("span", { class: "badge kind-" + pair.kind }, pair.kind),
      field("id", pair.id), field("source", pair.source), field("page", pair.page), field("section", pair.section),
      field("split", pair.split),
      field("grounding", typeof pair.grounding === "number" ? `${Math.round(pair.grounding * 100)}% of the answer's terms in the chunk` : null),
      field("judge", judge)));
    const left = el("div", { class: "qa" });
    const shown = decision && decision.action === "edit" ? decision : pair;
    left.append(el("p", { class: "question" }, el("b", {}, "Q "), shown.question),
      el("p", { class: "answer" }, el("b", {}, "A "), shown.answer));
    const buttons = el("div", { class: "decide" });
    for (const action of ["keep", "drop", "edit"]) {
      const active = decision && decision.action === action;
      buttons.append(el("button", {
        class: "act act-" + action + (active ? " active" : ""), "aria-pressed": active ? "true" : "false",
        onclick: () => action === "edit" ? openEditor(card, pair) : (decide(pair, action), redraw(card, pair)),
      }, action));
    }
    left.append(buttons);
    const chunk = chunks.get(pair.chunk_id);
    const right = el("div", { class: "context" });
    if (pair.kind === "idk") right.append(el("p", { class: "muted" }, "An I-don't-know example: no chunk answers it."));
    else if (!chunk) right.append(el("p", { class: "muted" }, `chunk ${pair.chunk_id} is not in chunks.jsonl`));
    else right.append(el("p", { class: "muted" }, `chunk ${chunk.id}`), highlighted(chunk.text, answerWords(shown.answer)));
    card.append(el("div", { class: "columns" }, left, right));
    return card;
  }

  function redraw(card, pair) {
    const fresh = pairCard(pair);
    card.replaceWith(fresh);
    scrollToSupport(fresh);
  }

  function openEditor(card, pair) {
    const decision = decisions.get(pair.id);
    const shown = decision && decision.action === "edit" ? decision : pair;
    const question = el("textarea", { class: "edit-question", rows: 2 });
    const answer = el("textarea", { class: "edit-answer", rows: 4 });
    question.value = shown.question;
    answer.value = shown.answer;
    const editor = el("div", { class: "editor" },
      el("label", {}, "Question", question), el("label", {}, "Answer", answer),
      el("button", { class: "save", onclick: () => { decide(pair, "edit", question.value, answer.value); redraw(card, pair); } }, "save edit"),
      el("button", { class: "cancel", onclick: () => redraw(card, pair) }, "cancel"));
    card.querySelector(".qa").replaceChildren(editor);
  }

  // ------------------------------------------------------------------ rejects

  // A pair the reviewer dropped comes back only through a later decision: the stored drop stays in
  // OUT/decisions.jsonl, and the last decision for a pair wins, so taking it back exports a keep.
  function restoreButton(row) {
    if (row.stage !== "review" || !row.pair_id) return null;
    const decision = decisions.get(row.pair_id);
    const restored = decision && decision.action === "keep";
    return el("button", {
      class: "act act-restore" + (restored ? " active" : ""), "aria-pressed": restored ? "true" : "false",
      onclick: (event) => {
        if (restored) decisions.set(row.pair_id, { pair_id: row.pair_id, action: "drop" });
        else decisions.set(row.pair_id, { pair_id: row.pair_id, action: "keep" });
        updateExport();
        event.target.closest("article").replaceWith(rejectCard(row));
      },
    }, restored ? "kept after all (undo)" : "keep it after all");
  }

  function rejectCard(row) {
    return el("article", { class: "reject", "data-pair": row.pair_id || null },
      el("header", {}, el("span", { class: "badge stage" }, row.stage), el("span", { class: "badge reason" }, row.reason),
        field("source", row.source), field("page", row.page), field("section", row.section),
        field("pair", row.pair_id), field("chunk", row.chunk_id)),
      row.detail ? el("p", { class: "detail" }, row.detail) : null,
      row.raw ? el("pre", { class: "raw" }, row.raw) : null,
      restoreButton(row));
  }

  // ------------------------------------------------------------------ lists with pages

  function listView(view) {
    const state = views[view];
    const rows = filtered(view);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE_SIZE;
    const visible = rows.slice(start, start + PAGE_SIZE);
    const noun = view === "pairs" ? "pairs" : "rejects";
    const count = el("p", { id: view + "-count", class: "count", "data-total": rows.length },
      rows.length ? `${rows.length} ${noun}; showing ${start + 1}-${start + visible.length}` : `no ${noun} match`);
    const pager = el("nav", { class: "pager" },
      el("button", { class: "prev", disabled: state.page === 0, onclick: () => { state.page -= 1; render(); } }, "previous"),
      el("span", { class: "page-of" }, `page ${state.page + 1} of ${pages}`),
      el("button", { class: "next", disabled: state.page >= pages - 1, onclick: () => { state.page += 1; render(); } }, "next"));
    const list = el("div", { id: view + "-list" });
    for (const row of visible) list.append(view === "pairs" ? pairCard(row) : rejectCard(row));
    return [count, pager, list];
  }

  function filterBar(view) {
    const state = views[view];
    const set = (key) => (value) => { state.filters[key] = value; state.page = 0; renderList(); };
    const search = el("input", { id: view + "-search", type: "search", placeholder: "search", value: state.filters.q });
    search.addEventListener("input", () => { state.filters.q = search.value.toLowerCase(); state.page = 0; renderList(); });
    const bar = el("div", { class: "filters" }, search);
    if (view === "pairs") {
      bar.append(select("pairs-kind", "kind", distinct(data.pairs, "kind"), set("kind")),
        select("pairs-source", "source", distinct(data.pairs, "source"), set("source")),
        select("pairs-decision", "decision", ["undecided", "keep", "drop", "edit"], set("decision")));
    } else {
      bar.append(select("rejects-stage", "stage", distinct(data.rejects, "stage"), set("stage")),
        select("rejects-reason", "reason", distinct(data.rejects, "reason"), set("reason")),
        select("rejects-source", "source", distinct(data.rejects, "source"), set("source")));
    }
    for (const box of bar.querySelectorAll("select")) box.value = state.filters[box.id.split("-")[1]] || "";
    return bar;
  }

  // ------------------------------------------------------------------ coverage

  function coverageView() {
    const coverage = report.coverage || [];
    const files = report.files || [];
    const table = el("table", { class: "files" }, el("tr", {}, ...["file", "chunks", "asked", "generated", "kept", ""].map((h) => el("th", {}, h))));
    for (const f of files) {
      const share = f.asked ? Math.min(1, f.kept / f.asked) : 0;
      table.append(el("tr", { class: f.kept ? "" : "nothing" }, el("td", {}, f.source), el("td", {}, f.chunks), el("td", {}, f.asked),
        el("td", {}, f.generated), el("td", {}, f.kept),
        el("td", { class: "bar-cell" }, el("div", { class: "bar", style: `width:${(share * 100).toFixed(1)}%` }))));
    }
    const empty = coverage.filter((c) => !c.kept);
    const width = Math.max(coverage.length, 1);
    const chart = svg("svg", { id: "chunk-chart", viewBox: `0 0 ${width} 100`, preserveAspectRatio: "none", role: "img" });
    chart.append(svg("title", {}));
    chart.firstChild.textContent = `pairs kept per chunk, ${coverage.length} chunks in file order; red: kept none`;
    const most = Math.max(1, ...coverage.map((c) => Math.max(c.asked, c.kept)));
    coverage.forEach((c, i) => {
      const height = c.kept ? (c.kept / most) * 100 : 100;
      const bar = svg("rect", { x: i, y: 100 - height, width: 0.9, height, class: c.kept ? "kept" : "none" });
      const tip = svg("title", {});
      tip.textContent = `${c.source}${c.section ? " > " + c.section : ""}${c.page ? ", page " + c.page : ""}: ${c.kept} kept of ${c.generated} generated (${c.status})`;
      bar.append(tip);
      chart.append(bar);
    });
    const list = el("table", { id: "empty-chunks", class: "empty" },
      el("tr", {}, ...["chunk", "source", "page", "section", "status", "generated", "text"].map((h) => el("th", {}, h))));
    for (const c of empty.slice(0, LIST_LIMIT)) {
      const text = (chunks.get(c.chunk_id) || {}).text || "";
      list.append(el("tr", {}, el("td", {}, c.chunk_id), el("td", {}, c.source), el("td", {}, c.page ?? ""), el("td", {}, c.section ?? ""),
        el("td", {}, c.status), el("td", {}, c.generated), el("td", { class: "snippet" }, text.slice(0, 160))));
    }
    return [
      el("h2", {}, "Per file"), table,
      el("h2", {}, `Per chunk (${coverage.length})`), el("div", { class: "chart" }, chart),
      el("p", { class: "legend" }, el("span", { class: "swatch kept" }), " pairs kept ", el("span", { class: "swatch none" }), " chunk that gave nothing"),
      el("h2", { id: "empty-title" }, `Chunks that gave nothing (${empty.length})`),
      empty.length ? list : el("p", {}, "Every chunk gave at least one kept pair."),
      empty.length > LIST_LIMIT ? el("p", {}, `and ${empty.length - LIST_LIMIT} more (report.json, "coverage")`) : null,
    ];
  }

  // ------------------------------------------------------------------ the run

  function keyValues(rows) {
    const table = el("table", { class: "kv" });
    for (const [key, value] of rows) {
      if (value === null || value === undefined) continue;
      table.append(el("tr", {}, el("th", {}, key), el("td", {}, typeof value === "object" ? JSON.stringify(value) : String(value))));
    }
    return table;
  }

  function runView() {
    const r = report;
    const stages = el("table", { class: "stages" }, el("tr", {}, ...["stage", "in", "out", "dropped"].map((h) => el("th", {}, h))));
    for (const [name, counts] of Object.entries(r.stages || {})) {
      const dropped = Object.entries(counts.dropped || {}).map(([reason, n]) => `${n} ${reason}`).join(", ");
      stages.append(el("tr", {}, el("td", {}, name), el("td", {}, counts.in ?? counts.target ?? ""), el("td", {}, counts.out ?? ""), el("td", {}, dropped)));
    }
    const skipped = el("ul", {}, ...(r.files_skipped || []).map((s) => el("li", {}, `${s.source}: ${s.reason}`)));
    const warnings = el("ul", {}, ...(r.warnings || []).map((w) => el("li", {}, w)));
    return [
      el("h2", {}, "Counts"),
      keyValues([["model", r.model], ["endpoint", r.endpoint], ["files read", r.files_read], ["files skipped", (r.files_skipped || []).length],
        ["chunks", r.chunks], ["chunks from an earlier run", r.chunks_resumed], ["chunks failed", (r.chunks_failed || []).length],
        ["requests", r.requests], ["retries", r.retries], ["answered from the cache", r.cache_hits],
        ["tokens in", r.tokens_in], ["tokens out", r.tokens_out], ["pairs generated", r.pairs_generated], ["pairs kept", r.pairs_kept],
        ["I-don't-know kept", r.idk_kept], ["train examples", r.train_examples], ["validation examples", r.valid_examples],
        ["format", r.format], ["cost", r.cost], ["seconds", r.seconds]]),
      el("h2", {}, "Stages"), stages,
      (r.files_skipped || []).length ? el("h2", {}, "Files skipped") : null, (r.files_skipped || []).length ? skipped : null,
      (r.warnings || []).length ? el("h2", {}, "Warnings") : null, (r.warnings || []).length ? warnings : null,
      el("h2", {}, "Settings"), keyValues(Object.entries(r.settings || {})),
    ];
  }

  // ------------------------------------------------------------------ the page

  const app = document.getElementById("app");
  const body = el("main", { id: "view" });
  const tabs = el("nav", { class: "tabs" });
  const labels = { pairs: `Pairs (${data.pairs.length})`, rejects: `Rejects (${data.rejects.length})`, coverage: "Coverage", run: "Run" };
  for (const [name, label] of Object.entries(labels)) {
    tabs.append(el("button", { id: "tab-" + name, class: "tab", onclick: () => { current = name; render(); } }, label));
  }
  const exportButton = el("button", { id: "export", onclick: exportDecisions }, "");
  app.append(el("header", { class: "top" }, el("h1", {}, "qagen review"), el("span", { class: "out" }, data.out), exportButton), tabs, body);
  updateExport();

  let listBox = null;
  function renderList() {
    if (listBox) listBox.replaceChildren(...listView(current));
    if (listBox) scrollToSupport(listBox);
  }

  function render() {
    for (const tab of tabs.children) tab.classList.toggle("active", tab.id === "tab-" + current);
    if (current === "pairs" || current === "rejects") {
      listBox = el("div", { class: "list" }, ...listView(current));
      body.replaceChildren(filterBar(current), listBox);
      scrollToSupport(listBox);
    } else {
      listBox = null;
      body.replaceChildren(...(current === "coverage" ? coverageView() : runView()).filter((part) => part !== null));
    }
  }

  render();
})();
