// Character setup: open a portrait, place or correct its key points, build, watch it live.
import { LiveView, setStatus } from "/static/live.js";

const $ = (id) => document.getElementById(id);
const canvas = $("portrait");
const ctx = canvas.getContext("2d");
const MAX_SIDE = 520; // canvas size in CSS pixels for the portrait
const HIT = 9; // pixels within which a press grabs a point

const state = {
  names: [],
  help: {},
  template: {},
  portrait: null, // {id, name, width, height}
  image: null,
  scale: 1,
  points: {}, // name -> [x, y] in image pixels
  selected: null,
  press: null, // the pointer press in progress: {grab, x, y, moved}
};
const live = new LiveView($("result"), {
  onError: (text) => setStatus($("build-status"), text, "error"),
});

function toCanvas([x, y]) {
  return [(x + 0.5) * state.scale, (y + 0.5) * state.scale];
}

function toImage(cx, cy) {
  const x = Math.min(Math.max(cx / state.scale - 0.5, 0), state.portrait.width - 1);
  const y = Math.min(Math.max(cy / state.scale - 0.5, 0), state.portrait.height - 1);
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

function eventPoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [((ev.clientX - r.left) * canvas.width) / r.width, ((ev.clientY - r.top) * canvas.height) / r.height];
}

function nextUnplaced(after) {
  const start = after ? state.names.indexOf(after) + 1 : 0;
  for (let k = 0; k < state.names.length; k++) {
    const name = state.names[(start + k) % state.names.length];
    if (!(name in state.points)) return name;
  }
  return null;
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.image) return;
  ctx.drawImage(state.image, 0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui, sans-serif";
  for (const name of state.names) {
    if (!(name in state.points)) continue;
    const [x, y] = toCanvas(state.points[name]);
    const selected = name === state.selected;
    ctx.beginPath();
    ctx.arc(x, y, selected ? 6 : 4, 0, 2 * Math.PI);
    ctx.fillStyle = selected ? "#ffb000" : "#e0143c";
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    if (selected) {
      ctx.fillStyle = "#000";
      ctx.fillText(name, x + 8, y - 8);
    }
  }
}

function renderList() {
  const list = $("points");
  list.replaceChildren();
  for (const [i, name] of state.names.entries()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.id = `pt-${name}`;
    b.textContent = `${i + 1}. ${name}`;
    b.title = state.help[name];
    b.setAttribute("aria-label", `${name}: ${state.help[name]}${name in state.points ? " (placed)" : ""}`);
    b.setAttribute("aria-pressed", String(name === state.selected));
    if (name in state.points) b.classList.add("placed");
    b.disabled = !state.portrait;
    b.addEventListener("click", () => {
      state.selected = name;
      refresh();
      canvas.focus();
    });
    li.append(b);
    list.append(li);
  }
}

function refresh() {
  const placed = state.names.filter((n) => n in state.points).length;
  $("count").textContent = `(${placed} of ${state.names.length} placed)`;
  const complete = state.portrait && placed === state.names.length;
  $("build").disabled = !complete;
  $("template").disabled = !state.portrait || complete;
  $("clear").disabled = !state.portrait || placed === 0;
  const dl = $("download");
  if (placed) {
    const doc = {
      format: "lpm-keypoints",
      version: 1,
      image: state.portrait.name,
      image_size: [state.portrait.width, state.portrait.height],
      points: Object.fromEntries(state.names.filter((n) => n in state.points).map((n) => [n, state.points[n]])),
    };
    dl.href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    dl.setAttribute("aria-disabled", "false");
  } else {
    dl.setAttribute("aria-disabled", "true");
  }
  if (state.selected) {
    setStatus(
      $("status"),
      state.selected in state.points
        ? `Selected ${state.selected}: drag it or use the arrow keys.`
        : `Click: ${state.selected} — ${state.help[state.selected]}.`,
    );
  } else if (complete) {
    setStatus($("status"), "All key points placed. Name the character and build it.", "ok");
  }
  renderList();
  draw();
}

async function openPortrait(file) {
  setStatus($("status"), `Uploading ${file.name} and looking for a face…`);
  const res = await fetch(`/api/portraits?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
  const body = await res.json();
  if (!res.ok) {
    setStatus($("status"), body.detail, "error");
    return;
  }
  const image = new Image();
  image.src = `/api/portraits/${body.id}`;
  await image.decode();
  state.portrait = body;
  state.image = image;
  state.scale = MAX_SIDE / Math.max(body.width, body.height);
  canvas.width = Math.round(body.width * state.scale);
  canvas.height = Math.round(body.height * state.scale);
  state.points = body.points ? { ...body.points } : {};
  state.selected = nextUnplaced(null);
  if (!$("name").value) $("name").value = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
  refresh();
  if (body.points) {
    setStatus($("status"), `Face found: check the key points and drag any that are off.`, "ok");
  } else {
    setStatus($("status"), `No face detected: place the ${state.names.length} key points by hand, starting with ${state.selected} (${state.help[state.selected]}).`);
  }
}

// A press near a point and a move drags it; a press that does not move places the selected
// point if it is still unplaced (two points may sit on one spot: lips that meet), else selects.
canvas.addEventListener("pointerdown", (ev) => {
  if (!state.portrait) return;
  const [cx, cy] = eventPoint(ev);
  let grab = null;
  let best = HIT;
  for (const [name, p] of Object.entries(state.points)) {
    const [px, py] = toCanvas(p);
    const d = Math.hypot(px - cx, py - cy);
    if (d < best) {
      best = d;
      grab = name;
    }
  }
  state.press = { grab, x: cx, y: cy, moved: false };
  canvas.setPointerCapture(ev.pointerId);
});
canvas.addEventListener("pointermove", (ev) => {
  const press = state.press;
  if (!press || !press.grab) return;
  const [cx, cy] = eventPoint(ev);
  if (!press.moved && Math.hypot(cx - press.x, cy - press.y) < 3) return;
  press.moved = true;
  state.selected = press.grab;
  state.points[press.grab] = toImage(cx, cy);
  draw();
});
canvas.addEventListener("pointerup", () => {
  const press = state.press;
  state.press = null;
  if (!press) return;
  if (!press.moved) {
    const placing = state.selected;
    if (placing && !(placing in state.points)) {
      state.points[placing] = toImage(press.x, press.y);
      state.selected = nextUnplaced(placing) || placing;
    } else if (press.grab) {
      state.selected = press.grab;
    } else if (placing) {
      state.points[placing] = toImage(press.x, press.y);
    }
  }
  refresh();
});
canvas.addEventListener("keydown", (ev) => {
  const name = state.selected;
  if (!name || !(name in state.points)) return;
  const step = ev.shiftKey ? 10 : 1;
  const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
  if (!delta) return;
  ev.preventDefault();
  const [x, y] = state.points[name];
  state.points[name] = toImage((x + delta[0] + 0.5) * state.scale, (y + delta[1] + 0.5) * state.scale);
  refresh();
});

$("file").addEventListener("change", (ev) => {
  if (ev.target.files.length) openPortrait(ev.target.files[0]).catch((e) => setStatus($("status"), String(e), "error"));
});
$("clear").addEventListener("click", () => {
  state.points = {};
  state.selected = state.names[0];
  refresh();
});
$("template").addEventListener("click", () => {
  // The mean face fitted to the points placed so far (or the middle of the image).
  const placed = state.names.filter((n) => n in state.points);
  let sx, sy, ox, oy;
  if (placed.length >= 2) {
    const xs = placed.map((n) => state.points[n][0]);
    const ys = placed.map((n) => state.points[n][1]);
    const txs = placed.map((n) => state.template[n][0]);
    const tys = placed.map((n) => state.template[n][1]);
    const span = (a) => Math.max(...a) - Math.min(...a) || 1;
    sx = span(xs) / span(txs);
    sy = span(ys) / span(tys);
    ox = Math.min(...xs) - Math.min(...txs) * sx;
    oy = Math.min(...ys) - Math.min(...tys) * sy;
  } else {
    const side = 0.5 * Math.min(state.portrait.width, state.portrait.height);
    sx = sy = side;
    ox = (state.portrait.width - side) / 2;
    oy = (state.portrait.height - side) / 2;
  }
  for (const n of state.names) {
    if (!(n in state.points)) state.points[n] = toImage((state.template[n][0] * sx + ox + 0.5) * state.scale, (state.template[n][1] * sy + oy + 0.5) * state.scale);
  }
  refresh();
});
$("load").addEventListener("change", async (ev) => {
  if (!ev.target.files.length || !state.portrait) return;
  try {
    const doc = JSON.parse(await ev.target.files[0].text());
    const unknown = Object.keys(doc.points || {}).filter((n) => !state.names.includes(n));
    if (!doc.points || unknown.length) throw new Error(unknown.length ? `unknown key point ${unknown[0]}` : "no 'points' in the file");
    state.points = { ...doc.points };
    state.selected = nextUnplaced(null);
    refresh();
  } catch (e) {
    setStatus($("status"), `Cannot load the points: ${e.message}`, "error");
  }
});
$("build").addEventListener("click", async () => {
  const name = $("name").value.trim();
  setStatus($("build-status"), `Building ${name}…`);
  $("build").disabled = true;
  try {
    const res = await fetch("/api/characters", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ portrait: state.portrait.id, name, points: state.points, source: state.portrait.name }),
    });
    const body = await res.json();
    if (!res.ok) {
      setStatus($("build-status"), body.detail, "error");
      return;
    }
    setStatus($("build-status"), `Built ${body.id} (${body.size}×${body.size}). It is live below.`, "ok");
    live.connect(body.id);
    const link = $("open-preview");
    link.href = `/preview?character=${encodeURIComponent(body.id)}`;
    link.setAttribute("aria-disabled", "false");
  } finally {
    refresh();
  }
});

fetch("/api/keypoints")
  .then((r) => r.json())
  .then((set) => {
    state.names = set.names;
    state.help = set.help;
    state.template = set.template;
    refresh();
  });
