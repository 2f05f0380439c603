import { api, el, fmtTime, highlighted, mediaPlayer, playFrom } from "/static/common.js";

const form = document.getElementById("search-form");
const input = document.getElementById("q");
const modeSelect = document.getElementById("mode");
const statusBox = document.getElementById("status");
const results = document.getElementById("results");
const layout = document.getElementById("layout");
const playerBox = document.getElementById("player-box");
const playerSlot = document.getElementById("player-slot");
const nowPlaying = document.getElementById("now-playing");
const mediaCache = new Map();
const chipBox = document.getElementById("speaker-filter");
let speakerFilter = null; // only what this speaker said (a name or a label), or null
let player = null;
let playerMediaId = null;

function setStatus(text, isError = false) {
  statusBox.textContent = text;
  statusBox.classList.toggle("error", isError);
}

async function mediaInfo(id) {
  if (!mediaCache.has(id)) mediaCache.set(id, api(`/api/media/${encodeURIComponent(id)}`).catch(() => null));
  return mediaCache.get(id);
}

function play(moment, at = moment.start) {
  layout.classList.remove("single");
  playerBox.hidden = false;
  if (playerMediaId !== moment.media_id) {
    playerSlot.replaceChildren();
    player = mediaPlayer(moment);
    player.id = "player";
    playerSlot.append(player);
    playerMediaId = moment.media_id;
  }
  nowPlaying.replaceChildren(
    el("strong", {}, moment.title), ` · from ${fmtTime(at)} · `,
    el("a", { href: moment.url }, "open with transcript"),
  );
  playFrom(player, at);
}

// the snippet, each matched word a mark that plays from where it is spoken (when its time is known)
function snippet(m) {
  const parts = highlighted(m.text, m.highlights);
  const starts = m.highlight_starts || [];
  // a word matched only by how it sounds: the transcript spells a name the way Whisper heard it
  const heard = new Set((m.sounds_like || []).map(([a, b]) => `${a}:${b}`));
  const marks = parts.filter((n) => n.nodeName === "MARK");
  (m.highlights || []).forEach(([a, b], k) => {
    if (heard.has(`${a}:${b}`) && marks[k]) {
      marks[k].classList.add("sounds-like");
      marks[k].dataset.heard = "sounds like what you searched for";
    }
  });
  if (starts.length === (m.highlights || []).length) {
    parts.filter((n) => n.nodeName === "MARK").forEach((mark, k) => {
      mark.title = (mark.dataset.heard ? `${mark.dataset.heard}; ` : "") + `play from ${fmtTime(starts[k])}`;
      mark.dataset.start = starts[k];
      mark.addEventListener("click", (e) => { e.stopPropagation(); play(m, starts[k]); });
    });
  }
  return el("span", { class: "snippet" }, parts);
}

function showChip() {
  chipBox.replaceChildren();
  if (!speakerFilter) return;
  const clear = el("button", { type: "button", "aria-label": "show every speaker", title: "every speaker" }, "×");
  clear.addEventListener("click", () => { speakerFilter = null; run(input.value, modeSelect.value, true); });
  const who = speakerFilter.includes("/") ? speakerFilter.split("/").pop() : speakerFilter;
  chipBox.append(el("span", { class: "speaker-chip" }, `Only what ${who} said`, clear));
}

async function render(data) {
  results.replaceChildren();
  showChip();
  if (!data.results.length) {
    results.append(el("div", { class: "empty" }, "No moments found. Try other words, or the \"Meaning\" mode."));
    return;
  }
  const groups = new Map();
  for (const m of data.results) {
    if (!groups.has(m.media_id)) groups.set(m.media_id, []);
    groups.get(m.media_id).push(m);
  }
  for (const [mediaId, moments] of groups) {
    const first = moments[0];
    const meta = el("div", { class: "meta" }, `${first.kind} · ${first.filename}`);
    const box = el("article", { class: "group", "data-media-id": mediaId },
      el("h2", {}, el("a", { href: `/watch/${encodeURIComponent(mediaId)}` }, first.title)), meta);
    mediaInfo(mediaId).then((info) => { if (info) meta.append(` · ${fmtTime(info.duration_s)}`); });
    for (const m of moments) {
      const row = el("div", { class: "moment-row" },
        el("button", { class: "moment", type: "button", "data-start": m.start, onclick: () => play(m) },
          el("span", { class: "time" }, `${fmtTime(m.start)}–${fmtTime(m.end)}`),
          snippet(m)));
      const about = [];
      if (m.speaker) {
        // who speaks the moment; a click shows only what they said
        about.push(el("button", { type: "button", class: "by-speaker", "data-speaker": m.speaker_id || m.speaker,
          title: `only what ${m.speaker} said`,
          onclick: () => {
            // a named speaker is found by name in every file; an unnamed one is this file's voice only
            speakerFilter = m.speaker_id && m.speaker !== m.speaker_id ? m.speaker : `${m.media_id}/${m.speaker_id}`;
            run(input.value, modeSelect.value, true);
          } }, m.speaker));
      }
      if (m.chapter) {
        // the chapter's name plays its story from the start
        about.push(el("button", { type: "button", class: "in-chapter", "data-start": m.chapter.start,
          title: `play the story from ${fmtTime(m.chapter.start)}`, onclick: () => play(m, m.chapter.start) },
        `in: ${m.chapter.title}`));
      }
      if (m.match) {
        // the moment opens at its story's start; the sentence that matched is one click away
        about.push(el("span", { class: "story-start" }, "plays from the start of the story"));
        about.push(el("button", { type: "button", class: "jump-sentence", "data-start": m.match.start,
          onclick: () => play(m, m.match.start) }, `jump to the sentence at ${fmtTime(m.match.start)}`));
      }
      if (about.length) row.append(el("div", { class: "about" }, about));
      box.append(row);
    }
    results.append(box);
  }
}

async function run(q, mode, push) {
  if (!q.trim()) { results.replaceChildren(); setStatus(""); return; }
  if (push) {
    const params = new URLSearchParams({ q });
    if (mode !== "hybrid") params.set("mode", mode);
    if (speakerFilter) params.set("speaker", speakerFilter);
    history.pushState(null, "", `/?${params}`);
  }
  document.title = `${q} · moments`;
  setStatus("Searching…");
  try {
    const query = new URLSearchParams({ q, mode, limit: "20" });
    if (speakerFilter) query.set("speaker", speakerFilter);
    const data = await api(`/api/search?${query}`);
    const named = data.speakers && data.speakers.length ? ` · what ${data.speakers.join(" and ")} said` : "";
    setStatus(`${data.results.length} moment${data.results.length === 1 ? "" : "s"} in ${Math.round(data.took_ms)} ms${named}`);
    await render(data);
  } catch (err) {
    setStatus(err.message, true);
  }
}

function fromAddress() {
  const params = new URLSearchParams(location.search);
  input.value = params.get("q") || "";
  modeSelect.value = params.get("mode") || "hybrid";
  speakerFilter = params.get("speaker") || null;
  run(input.value, modeSelect.value, false);
}

form.addEventListener("submit", (e) => { e.preventDefault(); run(input.value, modeSelect.value, true); });
window.addEventListener("popstate", fromAddress);
fromAddress();
