// A live preview session over the studio's WebSocket (/ws/live): frames shown at the session's
// playback position (pts), audio sent as the NPC's or the player's voice, controls sent as JSON.
// Wire format: runtime/studio/live.py.

export const SPEAK = 1;
export const LISTEN = 2;
const CHUNK_SECONDS = 2; // audio sent at once is cut into messages of this length

export class LiveView {
  constructor(canvas, handlers = {}) {
    this.canvas = canvas;
    this.ctx2d = canvas.getContext("2d");
    this.handlers = handlers;
    this.ws = null;
    this.session = null;
    this.queue = [];
    this.framesReceived = 0;
    this.pendingSpeak = [];
    this.audioCtx = null;
    this.running = false;
  }

  connect(character) {
    this.close();
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live?character=${encodeURIComponent(character)}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => this._message(ev.data);
    ws.onclose = () => {
      if (this.ws === ws) {
        this.ws = null;
        this._emit("onClose");
      }
    };
    ws.onerror = () => this._emit("onError", "the connection to the studio failed");
    this.running = true;
    requestAnimationFrame(() => this._tick());
  }

  close() {
    this.running = false;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
    this.session = null;
    this.queue = [];
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.session !== null;
  }

  send(obj) {
    if (this.connected) this.ws.send(JSON.stringify(obj));
  }

  // The session timeline now (µs), from the server's clock at connection.
  nowUs() {
    if (!this.session) return 0;
    return this.session.now_us + (performance.now() - this.t0) * 1000;
  }

  sendAudio(stream, samples, rate) {
    if (!this.connected) return;
    const header = new ArrayBuffer(8);
    const view = new DataView(header);
    view.setUint8(0, stream);
    view.setUint32(4, rate, true);
    const body = new Uint8Array(8 + samples.length * 4);
    body.set(new Uint8Array(header), 0);
    body.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.length * 4), 8);
    this.ws.send(body.buffer);
  }

  audio() {
    if (!this.audioCtx) this.audioCtx = new AudioContext();
    if (this.audioCtx.state === "suspended") this.audioCtx.resume();
    return this.audioCtx;
  }

  // Plays a decoded AudioBuffer as the NPC's voice (sent at once; heard when the face speaks
  // it) or as the player's (streamed as it plays, as a microphone would).
  playBuffer(buffer, stream) {
    const mono = mixDown(buffer);
    const rate = buffer.sampleRate;
    if (stream === SPEAK) {
      this.pendingSpeak.push(buffer);
      const step = CHUNK_SECONDS * rate;
      for (let i = 0; i < mono.length; i += step) {
        this.sendAudio(SPEAK, mono.subarray(i, Math.min(i + step, mono.length)), rate);
      }
      this.send({ type: "end_of_speech" });
      return mono.length / rate;
    }
    const ctx = this.audio();
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(ctx.destination);
    src.start();
    const started = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.min(mono.length, Math.floor(((performance.now() - started) / 1000) * rate));
      if (due > sent) {
        this.sendAudio(LISTEN, mono.subarray(sent, due), rate);
        sent = due;
      }
      if (sent >= mono.length || !this.connected) clearInterval(timer);
    }, 100);
    return mono.length / rate;
  }

  _emit(name, ...args) {
    if (this.handlers[name]) this.handlers[name](...args);
  }

  _message(data) {
    if (typeof data === "string") {
      const msg = JSON.parse(data);
      if (msg.type === "session") {
        this.session = msg;
        this.t0 = performance.now();
        this._emit("onSession", msg);
      } else if (msg.type === "event") {
        if (msg.event === "speak_scheduled") this._scheduleSpeak(msg);
        this._emit("onEvent", msg);
      } else if (msg.type === "error") {
        this._emit("onError", msg.message);
      } else if (msg.type === "take") {
        this.session.take = msg.take;
        this._emit("onTake", msg.take);
      }
      return;
    }
    const view = new DataView(data);
    const n = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, n)));
    const blob = new Blob([new Uint8Array(data, 4 + n)], { type: "image/jpeg" });
    this.framesReceived += 1;
    createImageBitmap(blob).then((bitmap) => {
      header.bitmap = bitmap;
      this.queue.push(header);
      if (this.queue.length > 300) this.queue.shift().bitmap.close();
    });
  }

  // The NPC's voice is heard where the server placed it on the timeline, delayed by the
  // session's latency like every frame.
  _scheduleSpeak(msg) {
    const buffer = this.pendingSpeak.shift();
    if (!buffer || !this.session) return;
    const ctx = this.audio();
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(ctx.destination);
    const playhead = this.nowUs() - this.session.latency_us;
    src.start(ctx.currentTime + Math.max(0, (msg.pts_us - playhead) / 1e6));
  }

  _tick() {
    if (!this.running) return;
    if (this.session && this.queue.length) {
      const playhead = this.nowUs() - this.session.latency_us;
      let show = null;
      while (this.queue.length && this.queue[0].pts_us <= playhead) {
        if (show) show.bitmap.close();
        show = this.queue.shift();
      }
      if (show) {
        const c = this.canvas;
        if (c.width !== show.bitmap.width) {
          c.width = show.bitmap.width;
          c.height = show.bitmap.height;
        }
        this.ctx2d.drawImage(show.bitmap, 0, 0);
        show.bitmap.close();
        this._emit("onFrame", show);
      }
    }
    requestAnimationFrame(() => this._tick());
  }
}

export function mixDown(buffer) {
  const out = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i] += data[i] / buffer.numberOfChannels;
  }
  return out;
}

// Live microphone into a session as either voice; returns a stop function.
export async function startMicrophone(view, stream) {
  const media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  const ctx = view.audio();
  const source = ctx.createMediaStreamSource(media);
  const node = ctx.createScriptProcessor(2048, 1, 1);
  node.onaudioprocess = (ev) => {
    view.sendAudio(stream, new Float32Array(ev.inputBuffer.getChannelData(0)), ctx.sampleRate);
  };
  source.connect(node);
  node.connect(ctx.destination); // the processor runs only while connected; it outputs silence
  return () => {
    node.disconnect();
    source.disconnect();
    media.getTracks().forEach((t) => t.stop());
    if (stream === SPEAK) view.send({ type: "end_of_speech" });
  };
}

export function setStatus(el, text, kind = "") {
  el.textContent = text;
  el.className = `status ${kind}`;
}
