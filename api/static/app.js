// workload field names -> words for people (the JSON keeps its keys)
const FIELD_WORDS = {
  gpu: "GPU", gpu_count: "GPU count", model: "model", phase: "phase", prompt_tokens: "prompt length",
  output_tokens: "output length", batch: "concurrent requests", qps: "request rate", objective: "objective",
  lossless: "lossless outputs", no_retraining: "no retraining", single_gpu: "single GPU", framework: "framework",
};
// accelsage web page: POST /v1/chat with streaming, read the server-sent events with fetch, render the answer.
// Every value from the server is inserted with textContent (never innerHTML), so passages cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
let sessionId = null;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function fmt(value) {
  if (typeof value !== "number") return String(value);
  return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString("en") : value.toPrecision(3);
}

function progress(text) {
  $("progress").appendChild(el("li", text));
}

function estimateText(est) {
  if (!est) return "";
  const before = est.before ? est.before[est.metric] : undefined;
  const after = est.after ? est.after[est.metric] : undefined;
  if (before === undefined || after === undefined) return "";
  let text = `${est.metric}: ${fmt(before)} → ${fmt(after)} ${est.unit}`;
  if (est.speedup) text += ` (×${est.speedup.toFixed(2)})`;
  return text;
}

function onEvent(name, data) {
  if (name === "session") {
    sessionId = data.session_id;
    $("session-label").textContent = `session ${sessionId}`;
  } else if (name === "workload") {
    const w = data;
    progress(`Understood: ${w.gpu_count}× ${w.gpu_name || w.gpu || "?"}, ${w.model_name || w.model || "?"}, ` +
             `${w.phase}, prompt ${w.prompt_tokens}, output ${w.output_tokens}, batch ${w.batch}, objective ${w.objective}` +
             (w.assumed && w.assumed.length ? ` (assumed: ${w.assumed.map((k) => FIELD_WORDS[k] || k.replace(/_/g, " ")).join(", ")})` : ""));
  } else if (name === "retrieval") {
    if (data.purpose === "question") {
      progress(`Retrieved ${data.passages} passages from ${data.papers.length} papers`);
    } else {
      // one line for all the per-technique citation look-ups, updated in place
      let line = $("citation-lookups");
      if (!line) {
        line = el("li", null, { id: "citation-lookups" });
        $("progress").appendChild(line);
      }
      line.textContent = `Looked up citations (${data.search - 1} searches)`;
    }
  } else if (name === "estimate") {
    const label = data.stack ? `stack ${data.stack.join(" + ")}` : `${data.rank}. ${data.name}`;
    progress(`Estimated ${label}${data.estimate ? ": " + estimateText(data.estimate) : ""}`);
  } else if (name === "answer") {
    renderAnswer(data.answer);
  } else if (name === "error") {
    showError(data.error ? data.error.message : "the answer failed");
  }
}

function citationCell(rec) {
  const td = el("td", null, { class: "citations" });
  const seen = new Set();
  const refs = rec.citations.map((c) => ({ id: c.arxiv_id, label: c.arxiv_id || c.paper_id, title: c.title, text: c.text }))
    .concat(rec.papers.map((p) => ({ id: p.arxiv_id, label: p.arxiv_id || p.paper_id, title: p.title })));
  for (const ref of refs) {
    if (seen.has(ref.label)) continue;
    seen.add(ref.label);
    if (ref.id) {
      const a = el("a", `arXiv:${ref.id}`, { href: `https://arxiv.org/abs/${encodeURIComponent(ref.id)}`,
                                             target: "_blank", rel: "noopener", title: ref.title || "" });
      a.className = "citation";
      td.appendChild(a);
    } else {
      // No arXiv id (whitepaper, blog, library): show its title, one per line like the links.
      const span = el("span", ref.title || ref.label, { title: ref.label });
      span.className = "citation";
      td.appendChild(span);
    }
  }
  return td;
}

function renderAnswer(answer) {
  $("answer-section").hidden = false;
  $("summary").textContent = answer.answer || "";
  $("fit").hidden = !answer.fit;
  $("fit").textContent = answer.fit ? `Memory first: ${answer.fit}` : "";
  const w = answer.workload;
  $("workload").textContent = w ? `Workload: ${w.gpu_count}× ${w.gpu_name || w.gpu}, ${w.model_name || w.model || "?"}, ${w.phase}` : "";
  const body = $("recommendations").querySelector("tbody");
  body.replaceChildren();
  for (const rec of answer.recommendations) {
    const tr = el("tr");
    tr.appendChild(el("td", rec.rank));
    tr.appendChild(el("td", rec.name, { title: rec.technique }));
    tr.appendChild(el("td", rec.family));
    tr.appendChild(el("td", estimateText(rec.estimate)));
    tr.appendChild(el("td", rec.why));
    tr.appendChild(citationCell(rec));
    body.appendChild(tr);
  }
  $("recommendations").hidden = answer.recommendations.length === 0;
  const stack = answer.stack;
  $("stack").textContent = stack && stack.techniques.length > 1
    ? `Combined stack: ${stack.names.join(" + ")}${stack.estimate ? " — " + estimateText(stack.estimate) : ""}` : "";
  $("clarify").replaceChildren(...answer.clarify.map((q) => el("li", q)));
  $("warnings").replaceChildren(...answer.warnings.map((q) => el("li", q)));
  showPlots(answer);
}

// the workload the plots show: the answer's GPU, model and lengths with its top three techniques
function plotWorkload(answer) {
  const w = answer.workload;
  if (!w || !w.gpu || !w.model || w.phase === "pre-training" || w.phase === "fine-tuning") return null;
  return { gpu: w.gpu, model: w.model, gpus: w.gpu_count, tp: w.gpu_count, batch: w.batch || 1,
           prompt: w.prompt_tokens || 1024, output: w.output_tokens || 256,
           techniques: answer.recommendations.slice(0, 3).map((rec) => rec.technique) };
}

function plotParams(workload) {
  const params = new URLSearchParams();
  for (const key of ["gpu", "model", "gpus", "tp", "batch", "prompt", "output"]) params.set(key, workload[key]);
  for (const technique of workload.techniques) params.append("technique", technique);
  return params;
}

function showPlots(answer) {
  const workload = plotWorkload(answer);
  showRoofline(workload);
  showCurve(workload);
}

function showRoofline(workload) {
  const figure = $("roofline-figure");
  if (!workload) {
    figure.hidden = true;
    return;
  }
  const img = $("roofline");
  img.onerror = () => { figure.hidden = true; };
  img.onload = () => { figure.hidden = false; };
  img.src = `/v1/estimate/roofline.png?${plotParams(workload)}`;
}

function curveCaption(curve, techniques) {
  const counts = curve.points.map((p) => p.concurrency).join(", ");
  return `Simulated latency–throughput curve (${techniques.length ? techniques.join(" + ") : "no techniques"}): ` +
         `${curve.policy} on ${curve.gpus} GPU(s), closed loop at concurrency ${counts}; lengths ${curve.lengths}; ` +
         `${curve.requests_per_point} requests per point, seed ${curve.seed}; ${curve.stopped}. ` +
         "Median (o) and p90 (□) inter-token latency and time to first token against output tokens/s per GPU.";
}

let curveRequest = 0;

// The caption comes from the curve's JSON (POST /v1/estimate?curve=true), the picture from curve.png.
async function showCurve(workload) {
  const figure = $("curve-figure");
  const mine = ++curveRequest;  // a newer answer's curve wins over one still being simulated
  figure.hidden = true;
  if (!workload) return;
  try {
    const response = await fetch("/v1/estimate?curve=true", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(workload),
    });
    if (!response.ok || mine !== curveRequest) return;
    const data = await response.json();
    if (mine !== curveRequest || !data.curve) return;
    $("curve-caption").textContent = curveCaption(data.curve, workload.techniques);
    const img = $("curve");
    img.onerror = () => { figure.hidden = true; };
    img.onload = () => { figure.hidden = mine !== curveRequest; };
    img.src = `/v1/estimate/curve.png?${plotParams(workload)}`;
  } catch (err) {
    figure.hidden = true;  // the roofline and the answer stand without it
  }
}

function showError(message) {
  $("error").hidden = false;
  $("error").textContent = message;
}

function requestBody() {
  const body = { message: $("question").value, stream: true };
  if (sessionId) body.session_id = sessionId;
  for (const name of ["gpu", "model"]) if ($(name).value.trim()) body[name] = $(name).value.trim();
  for (const name of ["gpus", "prompt_tokens", "output_tokens", "batch"]) {
    if ($(name).value) body[name] = parseInt($(name).value, 10);
  }
  return body;
}

async function readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

async function ask(event) {
  event.preventDefault();
  $("submit").disabled = true;
  $("error").hidden = true;
  $("progress-section").hidden = false;
  $("progress").replaceChildren();
  try {
    const response = await fetch("/v1/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(requestBody()),
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      showError(data.error ? data.error.message : `HTTP ${response.status}`);
      return;
    }
    await readEvents(response);
  } catch (err) {
    showError(`request failed: ${err}`);
  } finally {
    $("submit").disabled = false;
  }
}

$("ask-form").addEventListener("submit", ask);
$("new-session").addEventListener("click", () => {
  sessionId = null;
  $("session-label").textContent = "";
  $("answer-section").hidden = true;
  $("progress-section").hidden = true;
});
