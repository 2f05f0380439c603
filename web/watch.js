import { api, el, fmtTime, mediaPlayer, playFrom } from "/static/common.js";

const mediaId = decodeURIComponent(location.pathname.split("/").pop());
const params = new URLSearchParams(location.search);
const startAt = Math.max(0, parseFloat(params.get("t") || "0") || 0);
const statusBox = document.getElementById("status");
const transcriptBox = document.getElementById("transcript");
let lines = [];
let current = -1;

function showError(message) {
  statusBox.textContent = message;
  statusBox.classList.add("error");
}

function markCurrent(player) {
  const t = player.currentTime;
  let idx = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].start <= t + 0.05) idx = i; else break;
  }
  if (idx === current) return;
  if (current >= 0) lines[current].node.classList.remove("current");
  current = idx;
  if (idx >= 0) {
    lines[idx].node.classList.add("current");
    lines[idx].node.scrollIntoView({ block: "nearest" });
  }
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
  document.getElementById("copy-link").addEventListener("click", async () => {
    const link = `${location.origin}/watch/${encodeURIComponent(mediaId)}?t=${Math.floor(player.currentTime)}`;
    history.replaceState(null, "", link);
    try { await navigator.clipboard.writeText(link); document.getElementById("copied").textContent = "Link copied"; }
    catch (_) { document.getElementById("copied").textContent = link; }
  });
  playFrom(player, startAt);
  try {
    const data = await api(`${base}?format=json`);
    lines = data.segments.map((s) => {
      const node = el("div", { class: "line", "data-start": s.start, role: "button", tabindex: "0" },
        el("span", { class: "time" }, fmtTime(s.start)), el("span", { class: "text" }, s.text));
      const seek = () => playFrom(player, s.start);
      node.addEventListener("click", seek);
      node.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(); });
      return { start: s.start, node };
    });
    transcriptBox.replaceChildren(...lines.map((l) => l.node));
    if (!lines.length) transcriptBox.append(el("div", { class: "empty" }, "No speech was found in this file."));
  } catch (err) {
    showError(err.message);
  }
  player.addEventListener("timeupdate", () => markCurrent(player));
  player.addEventListener("seeked", () => markCurrent(player));
}

main();
