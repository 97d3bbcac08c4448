// Live HLS in a <video>, muted and inline (autoplay needs both on phones and in a mini-program web-view).
// The browser's own HLS where it has one (Safari, iOS, WeChat/Android web-views): canPlayType says so;
// elsewhere hls.js over Media Source Extensions, vendored at /vendor/hls.min.js (Apache-2.0) and
// loaded on first use only. No build step. A native HLS that fails before it ever played (desktop
// Chromium answers "maybe" yet may not play MPEG-TS segments) hands over to hls.js where the
// browser has Media Source Extensions.
export const HLS_TYPE = "application/vnd.apple.mpegurl";
const HLS_JS = "/vendor/hls.min.js";
let hlsJs = null;   // the loading promise, shared by every player of the page

export function nativeHls(video) {
  return !!video.canPlayType(HLS_TYPE);
}

function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsJs ??= new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = HLS_JS;
    s.async = true;
    s.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not define Hls")));
    s.onerror = () => { hlsJs = null; reject(new Error("hls.js could not be loaded")); };
    document.head.appendChild(s);
  });
  return hlsJs;
}

// A live playlist may answer 503 while the gateway's first segment is being made: retry a little.
const RETRY = { maxNumRetry: 4, retryDelayMs: 800, maxRetryDelayMs: 3000 };
const LOAD = (ms) => ({ default: { maxTimeToFirstByteMs: ms, maxLoadTimeMs: 2 * ms, timeoutRetry: RETRY, errorRetry: RETRY } });

/**
 * Play the HLS `url` in `video` (`video.dataset.player` says how: "native" or "hls.js"). `onFail(reason)` is called at most once, when it cannot (or can no
 * longer) play; the player is stopped by then. Returns `{ stop(), mode }`; the player also stops by
 * itself once the video leaves the page, so a hidden view never keeps a live stream running.
 */
export function playHls(video, url, onFail) {
  video.muted = true;
  video.defaultMuted = true;
  video.playsInline = true;
  video.autoplay = true;
  for (const a of ["muted", "playsinline", "webkit-playsinline", "autoplay"]) video.setAttribute(a, "");
  let hls = null, done = false, watch = null;
  const handle = { mode: nativeHls(video) ? "native" : "hls.js", stop };
  function stop() {
    if (done) return;
    done = true;
    clearInterval(watch);
    video.onerror = null;
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute("src");
    video.load();
  }
  const fail = (why) => { if (done) return; stop(); onFail?.(String(why || "error")); };
  const start = () => video.play().catch(() => {});  // muted autoplay; a refused play() is not fatal
  video.addEventListener("playing", () => { video.dataset.player = handle.mode; });
  watch = setInterval(() => { if (!video.isConnected) stop(); }, 2000);

  if (handle.mode === "native") {
    let played = false;  // pictures advanced: a later error is the stream's, not the player's
    const seen = () => { if (video.currentTime > 0.5) { played = true; video.removeEventListener("timeupdate", seen); } };
    video.addEventListener("timeupdate", seen);
    video.onerror = () => {
      if (done) return;
      if (played || !window.MediaSource) { fail(`media error ${video.error?.code ?? ""}`.trim()); return; }
      video.onerror = null;
      video.removeAttribute("src");
      video.load();
      withHlsJs();
    };
    video.src = url;
    start();
    return handle;
  }
  withHlsJs();
  return handle;

  function withHlsJs() {
    handle.mode = "hls.js";
    loadHlsJs().then((Hls) => {
      if (done) return;
      if (!Hls.isSupported()) { fail("no HLS playback in this browser"); return; }
      hls = new Hls({ manifestLoadPolicy: LOAD(8000), playlistLoadPolicy: LOAD(8000), backBufferLength: 30 });
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (!d.fatal) return;
        if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !handle.recovered) { handle.recovered = true; hls.recoverMediaError(); return; }
        fail(d.details || d.type);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, start);
      hls.loadSource(url);
      hls.attachMedia(video);
    }, (err) => fail(err.message));
  }
}
