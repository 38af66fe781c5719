// Emote preview: one live session, prompts and emotes, voices from a WAV or the microphone, a
// plot of the main curves, and the take's export.
import { LISTEN, LiveView, SPEAK, setStatus, startMicrophone } from "/static/live.js";

const $ = (id) => document.getElementById(id);
const PLOTTED = [
  ["jawOpen", "#d62728"],
  ["mouthSmile", "#2ca02c"],
  ["eyeBlink", "#1f77b4"],
  ["browInnerUp", "#9467bd"],
  ["mouthFunnel", "#ff7f0e"],
  ["headYaw", "#8c564b"],
  ["headPitch", "#e377c2"],
];
const HISTORY = 200; // frames in the plot (8 s at 25 fps)
const history = [];
let stopMic = null;
let decoded = null;

const view = new LiveView($("face"), {
  onSession: (s) => {
    setStatus($("state"), `${s.character}: idle (latency ${(s.latency_us / 1000).toFixed(0)} ms)`);
    showTake(s.take);
    buildEmotes(s.emotes);
    history.length = 0;
  },
  onTake: showTake,
  onEvent: (e) => {
    if (e.event === "state_changed") setStatus($("state"), `${view.session.character}: ${e.state}`);
    if (e.event === "session_closed") setStatus($("state"), `session closed (${e.reason})`, "error");
  },
  onError: (text) => setStatus($("error"), text, "error"),
  onClose: () => setStatus($("state"), "disconnected — pick a character to reconnect", "error"),
  onFrame: (f) => {
    history.push(f.curves);
    if (history.length > HISTORY) history.shift();
    plot();
  },
});

function value(curves, name) {
  const names = view.session.curve_names;
  const i = names.indexOf(name);
  if (i >= 0) return curves[i];
  return (curves[names.indexOf(`${name}Left`)] + curves[names.indexOf(`${name}Right`)]) / 2;
}

function plot() {
  const c = $("plot");
  const g = c.getContext("2d");
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, c.width, c.height);
  g.strokeStyle = "#e3e6ea";
  for (const v of [0, 0.5, 1]) {
    const y = c.height - 10 - v * (c.height - 20);
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(c.width, y);
    g.stroke();
  }
  const rows = [];
  for (const [name, colour] of PLOTTED) {
    const angle = name.startsWith("head");
    g.strokeStyle = colour;
    g.lineWidth = 1.5;
    g.beginPath();
    history.forEach((curves, k) => {
      let v = value(curves, name);
      if (angle) v = 0.5 + v * 2; // radians around the middle line, ±14° full height
      const x = (k / (HISTORY - 1)) * c.width;
      const y = c.height - 10 - Math.min(Math.max(v, 0), 1) * (c.height - 20);
      if (k === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
    const last = history.length ? value(history[history.length - 1], name) : 0;
    rows.push(`<tr><th scope="row">${name}</th><td>${angle ? `${((last * 180) / Math.PI).toFixed(1)}°` : last.toFixed(2)}</td></tr>`);
  }
  $("values").innerHTML = rows.join("");
}

function buildLegend() {
  $("legend").innerHTML = PLOTTED.map(([n, c]) => `<span style="--c:${c}">${n}${n.startsWith("head") ? " (angle)" : ""}</span>`).join("");
}

function buildEmotes(emotes) {
  const box = $("emotes");
  box.replaceChildren();
  for (const emote of emotes) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = emote;
    b.addEventListener("click", () => view.send({ type: "emote", emote }));
    box.append(b);
  }
}

function showTake(id) {
  $("take").textContent = id;
  for (const [el, ext] of [[$("export-mp4"), "mp4"], [$("export-csv"), "csv"]]) {
    el.href = `/api/takes/${id}/take.${ext}`;
    el.setAttribute("download", `${view.session.character}-${id}.${ext}`);
    el.setAttribute("aria-disabled", "false");
  }
}

function stream() {
  return document.querySelector('input[name="voice"]:checked').value === "speak" ? SPEAK : LISTEN;
}

async function loadCharacters() {
  const res = await fetch("/api/characters");
  const body = await res.json();
  const select = $("character");
  const wanted = new URLSearchParams(location.search).get("character") || body.default;
  select.replaceChildren(...body.items.map((id) => new Option(id, id, false, id === wanted)));
  view.connect(select.value);
}

$("character").addEventListener("change", () => {
  setStatus($("error"), "");
  view.connect($("character").value);
});
$("prompt-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  view.send({ type: "prompt", text: $("prompt").value });
});
$("clear-prompt").addEventListener("click", () => {
  $("prompt").value = "";
  view.send({ type: "prompt", text: "" });
});
$("wav").addEventListener("change", async (ev) => {
  decoded = null;
  $("play").disabled = true;
  if (!ev.target.files.length) return;
  try {
    decoded = await view.audio().decodeAudioData(await ev.target.files[0].arrayBuffer());
    $("play").disabled = false;
    setStatus($("voice-status"), `${ev.target.files[0].name}: ${decoded.duration.toFixed(1)} s ready.`);
  } catch (e) {
    setStatus($("voice-status"), `Cannot decode that file as audio (${e.message || e}).`, "error");
  }
});
$("play").addEventListener("click", () => {
  if (!decoded || !view.connected) return;
  const s = stream();
  const seconds = view.playBuffer(decoded, s);
  setStatus($("voice-status"), `Playing ${seconds.toFixed(1)} s as the ${s === SPEAK ? "NPC's" : "player's"} voice.`);
});
$("mic").addEventListener("click", async () => {
  const button = $("mic");
  if (stopMic) {
    stopMic();
    stopMic = null;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Record microphone";
    setStatus($("voice-status"), "Microphone off.");
    return;
  }
  try {
    stopMic = await startMicrophone(view, stream());
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop microphone";
    setStatus($("voice-status"), `Microphone live as the ${stream() === SPEAK ? "NPC's" : "player's"} voice.`);
  } catch (e) {
    setStatus($("voice-status"), `No microphone: ${e.message || e}`, "error");
  }
});
$("new-take").addEventListener("click", () => view.send({ type: "new_take" }));

buildLegend();
plot.call(null);
loadCharacters();
