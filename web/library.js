import { api, el, fmtTime } from "/static/common.js";

const form = document.getElementById("upload-form");
const fileInput = document.getElementById("file");
const bar = document.getElementById("upload-progress");
const uploadStatus = document.getElementById("upload-status");
const jobsBox = document.getElementById("jobs");
const mediaBox = document.getElementById("media");
let polling = null;

function setUploadStatus(text, isError = false) {
  uploadStatus.textContent = text;
  uploadStatus.classList.toggle("error", isError);
}

async function refresh() {
  const [jobs, media] = await Promise.all([api("/api/jobs?limit=20"), api("/api/media")]);
  jobsBox.replaceChildren(jobs.length ? el("table", {},
    el("tr", {}, el("th", {}, "source"), el("th", {}, "status"), el("th", {}, "stage"), el("th", {}, "progress"),
      el("th", {}, "left")),
    jobs.map((j) => el("tr", { "data-job-id": j.id },
      el("td", {}, j.title || j.source),
      el("td", {}, el("span", { class: `badge ${j.status}` }, j.status), j.error ? ` ${j.error}` : ""),
      el("td", {}, j.stage),
      el("td", {}, el("progress", { max: "1", value: String(j.progress) }), ` ${Math.round(j.progress * 100)}%`),
      // a queued job says how long it is expected to take once it runs; a running one, how long is left
      el("td", {}, j.eta_s == null || !["running", "queued"].includes(j.status) ? ""
        : j.status === "queued" ? `about ${fmtTime(j.eta_s)} once started` : `~${fmtTime(j.eta_s)}`),
    ))) : el("div", { class: "empty" }, "No jobs yet."));
  mediaBox.replaceChildren(media.length ? el("table", {},
    el("tr", {}, el("th", {}, "title"), el("th", {}, "kind"), el("th", {}, "length"), el("th", {}, "status")),
    media.map((m) => el("tr", { "data-media-id": m.id },
      el("td", {}, el("a", { href: m.watch_url }, m.title)), el("td", {}, m.kind), el("td", {}, fmtTime(m.duration_s)),
      el("td", {}, el("span", { class: `badge ${m.status}` }, m.status)),
    ))) : el("div", { class: "empty" }, "The library is empty. Upload a file above to make it searchable."));
  return jobs;
}

function poll(jobId) {
  clearInterval(polling);
  polling = setInterval(async () => {
    try {
      const jobs = await refresh();
      const job = jobs.find((j) => j.id === jobId) || await api(`/api/jobs/${jobId}`);
      bar.value = job.progress;
      if (job.status === "done") {
        clearInterval(polling);
        setUploadStatus("Done: the file is searchable.");
      } else if (job.status === "failed" || job.status === "canceled") {
        clearInterval(polling);
        setUploadStatus(`${job.status}: ${job.error || ""}`, true);
      } else {
        const left = job.eta_s != null ? `, about ${fmtTime(job.eta_s)} ${job.status === "queued" ? "once started" : "left"}` : "";
        setUploadStatus(`${job.stage}… ${Math.round(job.progress * 100)}%${left}`);
      }
    } catch (err) {
      setUploadStatus(err.message, true);
    }
  }, 700);
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const file = fileInput.files[0];
  if (!file) { setUploadStatus("Choose a file first.", true); return; }
  const body = new FormData();
  body.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/media");
  bar.hidden = false;
  bar.value = 0;
  xhr.upload.addEventListener("progress", (ev) => {
    if (ev.lengthComputable) { bar.value = ev.loaded / ev.total; setUploadStatus(`Uploading… ${Math.round(100 * ev.loaded / ev.total)}%`); }
  });
  xhr.addEventListener("load", () => {
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 202) {
      setUploadStatus("Uploaded; transcribing…");
      bar.value = 0;
      poll(data.job_id);
    } else {
      setUploadStatus((data.error && data.error.message) || `Upload failed (${xhr.status})`, true);
    }
  });
  xhr.addEventListener("error", () => setUploadStatus("Upload failed: network error", true));
  xhr.send(body);
});

refresh().catch((err) => setUploadStatus(err.message, true));
