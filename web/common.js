// Shared helpers. Everything user-supplied (titles, file names, transcript text) goes into the page as
// text nodes, never as HTML.
"use strict";

export function fmtTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// text with [from, to) spans wrapped in <mark>, built from text nodes only
export function highlighted(text, spans) {
  const out = [];
  let pos = 0;
  for (const [from, to] of spans || []) {
    if (from < pos || to > text.length) continue;
    out.push(document.createTextNode(text.slice(pos, from)));
    out.push(el("mark", {}, text.slice(from, to)));
    pos = to;
  }
  out.push(document.createTextNode(text.slice(pos)));
  return out;
}

export async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

export function mediaPlayer(media) {
  const tag = media.kind === "video" ? "video" : "audio";
  return el(tag, { controls: "", preload: "metadata", src: `/api/media/${encodeURIComponent(media.id || media.media_id)}/stream` });
}

// Seek once the player knows its duration; play if allowed (browsers may refuse autoplay).
export function playFrom(player, seconds) {
  const go = () => {
    player.currentTime = seconds;
    const p = player.play();
    if (p && p.catch) p.catch(() => {});
  };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, { once: true });
}

// A write to the API (PATCH, POST ...). When the server wants an API key (401), ask for it once, keep it
// for this tab's session, and try again with it.
export async function apiWrite(path, options = {}) {
  const send = (key) => api(path, { ...options, headers: { ...(options.headers || {}),
    ...(key ? { Authorization: `Bearer ${key}` } : {}) } });
  const stored = sessionStorage.getItem("moments-api-key");
  try {
    return await send(stored);
  } catch (err) {
    if (!/^401\b|API key|Bearer/i.test(err.message)) throw err;
    const key = window.prompt("This server needs its API key for changes:");
    if (!key) throw err;
    sessionStorage.setItem("moments-api-key", key);
    return send(key);
  }
}

// One of eight colours for the n-th speaker of a media item (class speaker-0 ... speaker-7).
export function speakerClass(n) {
  return `speaker-${((n % 8) + 8) % 8}`;
}
