import { api, apiWrite, el, fmtTime, mediaPlayer, playFrom, speakerClass } from "/static/common.js";

const mediaId = decodeURIComponent(location.pathname.split("/").pop());
const params = new URLSearchParams(location.search);
const startAt = Math.max(0, parseFloat(params.get("t") || "0") || 0);
const statusBox = document.getElementById("status");
const transcriptBox = document.getElementById("transcript");
let lines = [];
let current = -1;
let words = []; // every word of the transcript in time order: { start, end, node }
let currentWord = -1;
let chapters = []; // { start, node }
let currentChapter = -1;
let speakers = []; // { id, name, ... } from the transcript, in order of first appearance
let segments = []; // the transcript's segments as the API gave them

function showError(message) {
  statusBox.textContent = message;
  statusBox.classList.add("error");
}

// the last item whose start is at or before t (items sorted by start), or -1
function lastStarted(items, t) {
  let lo = 0, hi = items.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].start <= t + 0.05) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

function markCurrent(player) {
  const t = player.currentTime;
  const idx = lastStarted(lines, t);
  if (idx !== current) {
    if (current >= 0) lines[current].node.classList.remove("current");
    current = idx;
    if (idx >= 0) {
      lines[idx].node.classList.add("current");
      lines[idx].node.scrollIntoView({ block: "nearest" });
    }
  }
  const c = lastStarted(chapters, t);
  if (c !== currentChapter) {
    if (currentChapter >= 0) chapters[currentChapter].node.classList.remove("current");
    currentChapter = c;
    if (c >= 0) chapters[c].node.classList.add("current");
  }
  // the word being spoken: started, and not yet ended (between words, none is marked)
  let w = lastStarted(words, t);
  if (w >= 0 && t > words[w].end + 0.1) w = -1;
  if (w !== currentWord) {
    if (currentWord >= 0) words[currentWord].node.classList.remove("spoken");
    currentWord = w;
    if (w >= 0) words[w].node.classList.add("spoken");
  }
}

// a segment's text: its words as spans that seek to their own time when clicked, or plain text
function lineText(segment, player) {
  const texts = (segment.words || []).map((w) => w.word);
  const spaced = texts.join("") !== segment.text;
  // words only where they spell the segment's text (a transcript edited since has its text shown as it is)
  if (!texts.length || texts.join(spaced ? " " : "") !== segment.text) {
    return el("span", { class: "text" }, segment.text);
  }
  const parts = [];
  segment.words.forEach((w, i) => {
    const node = el("span", { class: "word", "data-start": w.start }, w.word);
    node.addEventListener("click", (e) => { e.stopPropagation(); playFrom(player, w.start); });
    words.push({ start: w.start, end: w.end, node });
    if (i > 0 && spaced) parts.push(" ");
    parts.push(node);
  });
  return el("span", { class: "text" }, parts);
}

// the chapter list beside the player and a mark for each chapter on the timeline under it; both seek
async function showChapters(player, duration) {
  const url = `/api/media/${encodeURIComponent(mediaId)}/chapters`;
  const data = await api(url);
  if (!data.chapters.length) return;
  const track = el("track", { kind: "chapters", src: `${url}?format=vtt`, srclang: "en", label: "Chapters", default: "" });
  player.append(track);
  const list = document.getElementById("chapters");
  const timeline = document.getElementById("timeline");
  list.append(el("h2", {}, "Chapters"));
  chapters = data.chapters.map((c) => {
    const node = el("button", { type: "button", class: "chapter", "data-start": c.start },
      el("span", { class: "time" }, fmtTime(c.start)), el("span", { class: "title" }, c.title));
    node.addEventListener("click", () => playFrom(player, c.start));
    list.append(node);
    const mark = el("button", { type: "button", class: "chapter-mark", title: `${fmtTime(c.start)} ${c.title}`,
      "data-start": c.start, tabindex: "-1" });
    mark.style.left = `${duration > 0 ? Math.min(100, (100 * c.start) / duration) : 0}%`;
    mark.addEventListener("click", () => playFrom(player, c.start));
    timeline.append(mark);
    return { start: c.start, node };
  });
  markCurrent(player);
}

function speakerName(id) {
  const sp = speakers.find((s) => s.id === id);
  return sp ? sp.name || sp.id : id;
}

function speakerNumber(id) {
  return speakers.findIndex((s) => s.id === id);
}

// who speaks: a label at each change of speaker in the transcript, a bar of turns under the player, and
// the list of speakers, where each can be given a name
function showSpeakers(player, duration) {
  const box = document.getElementById("speakers");
  const bar = document.getElementById("speaker-timeline");
  box.replaceChildren();
  bar.replaceChildren();
  lines.forEach((l) => l.node.querySelector(".who")?.remove());
  if (!speakers.length) { bar.hidden = true; return; }
  bar.hidden = false;
  let last = null;
  lines.forEach((l, i) => {
    const sp = segments[i].speaker;
    if (sp && sp !== last) {
      l.node.querySelector(".text").prepend(el("span", { class: `who ${speakerClass(speakerNumber(sp))}` }, `${speakerName(sp)}: `));
    }
    last = sp;
  });
  // one block per run of segments of one speaker
  let run = null;
  const runs = [];
  for (const s of segments) {
    if (!s.speaker) { run = null; continue; }
    if (run && run.speaker === s.speaker && s.start - run.end < 2) run.end = s.end;
    else { run = { speaker: s.speaker, start: s.start, end: s.end }; runs.push(run); }
  }
  for (const r of runs) {
    const block = el("button", { type: "button", class: `turn ${speakerClass(speakerNumber(r.speaker))}`,
      title: `${speakerName(r.speaker)} ${fmtTime(r.start)}–${fmtTime(r.end)}`, "data-start": r.start,
      "data-speaker": r.speaker, tabindex: "-1" });
    block.style.left = `${duration > 0 ? (100 * r.start) / duration : 0}%`;
    block.style.width = `${duration > 0 ? Math.max(0.3, (100 * (r.end - r.start)) / duration) : 0}%`;
    block.addEventListener("click", () => playFrom(player, r.start));
    bar.append(block);
  }
  box.append(el("h2", {}, "Speakers"));
  for (const sp of speakers) {
    const name = el("span", { class: "name" }, sp.name || sp.id);
    const row = el("div", { class: "speaker", "data-speaker": sp.id },
      el("span", { class: `swatch ${speakerClass(speakerNumber(sp.id))}` }), name,
      el("span", { class: "muted" }, `${fmtTime(sp.speaking_s)} · first at ${fmtTime(sp.first_s)}`));
    const rename = el("button", { type: "button", class: "rename" }, "Rename");
    rename.addEventListener("click", () => renameSpeaker(sp, row, player, duration));
    row.append(rename);
    box.append(row);
  }
}

function renameSpeaker(sp, row, player, duration) {
  const input = el("input", { type: "text", class: "rename-input", value: sp.name || "", maxlength: "80",
    placeholder: sp.id, "aria-label": `Name for ${sp.id}` });
  const save = el("button", { type: "submit", class: "primary" }, "Save");
  const form = el("form", { class: "rename-form" }, input, save);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const data = await apiWrite(`/api/media/${encodeURIComponent(mediaId)}/speakers`, {
        method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ [sp.id]: input.value.trim() || null }) });
      speakers = data.speakers;
      showSpeakers(player, duration);
    } catch (err) {
      showError(err.message);
    }
  });
  row.replaceChildren(form);
  input.focus();
}

async function main() {
  let media;
  try {
    media = await api(`/api/media/${encodeURIComponent(mediaId)}`);
  } catch (err) {
    document.getElementById("title").textContent = "Not found";
    showError(err.message);
    return;
  }
  document.getElementById("title").textContent = media.title;
  document.title = `${media.title} · moments`;
  const player = mediaPlayer(media);
  player.id = "player";
  document.getElementById("player-slot").append(player);
  const base = `/api/media/${encodeURIComponent(mediaId)}/transcript`;
  document.getElementById("dl-srt").href = `${base}?format=srt`;
  document.getElementById("dl-vtt").href = `${base}?format=vtt`;
  document.getElementById("dl-vtt-words").href = `${base}?format=vtt&words=true`;
  document.getElementById("dl-chapters").href = `/api/media/${encodeURIComponent(mediaId)}/chapters?format=vtt`;
  document.getElementById("copy-link").addEventListener("click", async () => {
    const link = `${location.origin}/watch/${encodeURIComponent(mediaId)}?t=${Math.floor(player.currentTime * 10) / 10}`;
    history.replaceState(null, "", link);
    try { await navigator.clipboard.writeText(link); document.getElementById("copied").textContent = "Link copied"; }
    catch (_) { document.getElementById("copied").textContent = link; }
  });
  playFrom(player, startAt);
  try {
    const data = await api(`${base}?format=json`);
    speakers = data.speakers || [];
    segments = data.segments;
    lines = data.segments.map((s) => {
      const node = el("div", { class: "line", "data-start": s.start, role: "button", tabindex: "0" },
        el("span", { class: "time" }, fmtTime(s.start)), lineText(s, player));
      if (s.speaker) {
        node.classList.add(speakerClass(speakerNumber(s.speaker)));
        node.dataset.speaker = s.speaker;
      }
      const seek = () => playFrom(player, s.start);
      node.addEventListener("click", seek);
      node.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
      return { start: s.start, node };
    });
    transcriptBox.replaceChildren(...lines.map((l) => l.node));
    if (!lines.length) transcriptBox.append(el("div", { class: "empty" }, "No speech was found in this file."));
    showSpeakers(player, media.duration_s);
  } catch (err) {
    showError(err.message);
  }
  showChapters(player, media.duration_s).catch((err) => showError(err.message));
  player.addEventListener("timeupdate", () => markCurrent(player));
  player.addEventListener("seeked", () => markCurrent(player));
  // timeupdate comes about four times a second: too slow to follow single words, so while playing
  // the marks follow every frame
  const follow = () => { markCurrent(player); if (!player.paused) requestAnimationFrame(follow); };
  player.addEventListener("play", () => requestAnimationFrame(follow));
}

main();
