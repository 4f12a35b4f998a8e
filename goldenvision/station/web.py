"""The station's operator page and its small JSON API (standard library only, no build step).

Endpoints (all on the station's ``--port``):

===========================  ===============================================================
``GET /``                    the operator page (updates itself twice a second)
``GET /health``              ``{"status": "ok", "state": ..., "processed": N, ...}``
``GET /api/state``           what the page shows: current verdict, last units, shift counts,
                             drift alarms
``GET /api/current.jpg``     the latest unit beside the golden with its heat map
``POST /api/control``        ``{"action": "run" | "pause" | "drain"}``
``POST /api/trigger``        take a frame from the camera (camera mode only)
``GET /api/label/classes``   the defect classes the labelling panel offers
``POST /api/label``          an operator's label of a recent unit (``--label-dataset``):
                             ``{"image_sha256", "good", "defects": [{"box", "class",
                             "severity"}]}``, boxes in px of ``/api/current.jpg``
===========================  ===============================================================
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import cv2

__all__ = ["OperatorServer", "PAGE"]

log = logging.getLogger("goldenvision.station")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>goldenvision station</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#111820;color:#e8edf2}
 header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1rem;background:#1c2733}
 header h1{font-size:1.1rem;margin:0;font-weight:600} header .meta{opacity:.75;font-size:.9rem}
 main{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:1rem;padding:1rem}
 #verdict{font-size:5rem;font-weight:800;letter-spacing:.05em;text-transform:uppercase;padding:.5rem 1rem;border-radius:.5rem;text-align:center}
 .pass{background:#1f7a3a}.fail{background:#b3261e}.review{background:#b8860b}.none{background:#334}
 #reasons{font-size:1.2rem;margin:.6rem 0 1rem 0;padding-left:1.2rem}
 #unit{width:100%;border-radius:.4rem;background:#000;min-height:200px}
 table{border-collapse:collapse;width:100%;font-size:.9rem} td,th{padding:.25rem .4rem;border-bottom:1px solid #2b3a48;text-align:left}
 .pill{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:.8rem;font-weight:700;text-transform:uppercase}
 section{background:#18222c;border-radius:.5rem;padding:.7rem 1rem;margin-bottom:1rem} h2{font-size:1rem;margin:.2rem 0 .6rem 0}
 button{font-size:1rem;padding:.4rem 1rem;margin-right:.4rem;border-radius:.3rem;border:0;background:#2f4a63;color:#fff;cursor:pointer}
 button.on{outline:3px solid #7fc1ff} .alarm{color:#ffb4a9} #state{font-weight:700}
</style></head><body>
<header><h1>goldenvision station</h1><span class="meta" id="who"></span>
<span class="meta">state: <span id="state">-</span></span><span class="meta" id="count"></span>
<span style="flex:1"></span>
<button id="b-run" onclick="ctl('run')">Run</button><button id="b-pause" onclick="ctl('pause')">Pause</button>
<button id="b-drain" onclick="ctl('drain')">Drain</button><button id="b-trig" onclick="trig()" hidden>Trigger (T)</button>
</header>
<main><div>
 <div id="verdict" class="none">waiting</div>
 <ul id="reasons"></ul>
 <div style="font-size:.9rem;opacity:.8;margin-bottom:.4rem">golden (left) | unit in golden frame with its heat map (right): <span id="file"></span></div>
 <div id="pic" style="position:relative"><img id="unit" alt="the latest unit beside the golden">
 <div id="sel" style="position:absolute;border:2px dashed #7fc1ff;display:none;pointer-events:none"></div></div>
 <section id="labelling" hidden><h2>Label this unit (for retraining)</h2>
  <div style="font-size:.9rem;opacity:.8;margin-bottom:.4rem">Pause the line, drag a box around each defect on the unit (right), then save. A false alarm: "Good".</div>
  <label>class <input id="l-class" list="l-classes" size="14" maxlength="64"></label><datalist id="l-classes"></datalist>
  <label>severity <select id="l-sev"><option value="">-</option><option>critical</option><option>major</option><option>minor</option></select></label>
  <span id="l-boxes">0 boxes</span>
  <button id="l-save" onclick="saveLabel(false)">Save defects</button><button id="l-good" onclick="saveLabel(true)">Good (false alarm)</button><button onclick="clearBoxes()">Clear</button>
  <div id="l-msg" role="status"></div></section>
</div><div>
 <section><h2>Drift alarms</h2><div id="alarms">none</div></section>
 <section><h2>Per shift</h2><table id="shifts"><thead><tr><th>shift</th><th>pass</th><th>fail</th><th>review</th></tr></thead><tbody></tbody></table></section>
 <section><h2>Last units</h2><table id="recent"><thead><tr><th>file</th><th>verdict</th><th>ms</th></tr></thead><tbody></tbody></table></section>
</div></main>
<script>
let shown = null, boxes = [], drag = null, labelSha = null;
const img = () => document.getElementById('unit');
function picXY(e){const r = img().getBoundingClientRect(), k = img().naturalWidth / r.width; return [(e.clientX - r.left) * k, (e.clientY - r.top) * k, e.clientX - r.left, e.clientY - r.top];}
function showSel(a, b){const s = document.getElementById('sel'); if(!a){s.style.display='none';return;}
 s.style.display='block'; s.style.left=Math.min(a[2],b[2])+'px'; s.style.top=Math.min(a[3],b[3])+'px'; s.style.width=Math.abs(a[2]-b[2])+'px'; s.style.height=Math.abs(a[3]-b[3])+'px';}
function clearBoxes(){boxes = []; showSel(null); document.getElementById('l-boxes').textContent = '0 boxes';}
function initLabel(){const i = img(); i.draggable = false;
 i.addEventListener('mousedown', e => { if(document.getElementById('labelling').hidden) return; e.preventDefault(); drag = picXY(e); });
 i.addEventListener('mousemove', e => { if(drag) showSel(drag, picXY(e)); });
 window.addEventListener('mouseup', e => { if(!drag) return; const b = picXY(e), a = drag; drag = null;
   if (Math.abs(a[0]-b[0]) < 3 || Math.abs(a[1]-b[1]) < 3) { showSel(null); return; }
   const cls = document.getElementById('l-class').value.trim(), sev = document.getElementById('l-sev').value;
   boxes.push({box:[Math.min(a[0],b[0]),Math.min(a[1],b[1]),Math.max(a[0],b[0]),Math.max(a[1],b[1])], class: cls, severity: sev || null});
   labelSha = shown; document.getElementById('l-boxes').textContent = boxes.length + ' box' + (boxes.length==1?'':'es'); }); }
async function saveLabel(good){const msg = document.getElementById('l-msg');
 const cls = document.getElementById('l-class').value.trim();
 const defects = good ? [] : boxes.map(b => ({...b, class: b.class || cls}));
 if(!good && !defects.length){msg.textContent = 'drag a box around the defect first'; return;}
 const r = await fetch('/api/label',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({image_sha256: good ? shown : (labelSha || shown), good, defects})});
 const j = await r.json(); msg.textContent = r.ok ? ('saved: ' + (good ? 'good unit' : j.boxes_added + ' box(es)') + ' → ' + j.n_samples + ' images, ' + j.n_annotations + ' boxes in the dataset') : ('not saved: ' + j.error);
 if (r.ok) { clearBoxes(); loadClasses(); } }
async function loadClasses(){ try{ const c = await (await fetch('/api/label/classes')).json(); document.getElementById('l-classes').innerHTML = c.classes.map(x=>'<option value="'+esc(x)+'">').join(''); }catch(e){} }
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
async function ctl(a){await fetch('/api/control',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({action:a})});tick();}
async function trig(){await fetch('/api/trigger',{method:'POST'});}
document.addEventListener('keydown',e=>{if(e.key==='t'||e.key==='T')trig();});
async function tick(){
 let s; try{ s = await (await fetch('/api/state',{cache:'no-store'})).json(); }catch(e){ document.getElementById('state').textContent='offline'; return; }
 document.getElementById('who').textContent = s.product + ' @ ' + s.station;
 document.getElementById('state').textContent = s.state;
 document.getElementById('count').textContent = s.processed + ' judged, ' + s.waiting + ' waiting';
 for (const a of ['run','pause','drain']) document.getElementById('b-'+a).classList.toggle('on', (s.state==='running'&&a==='run')||(s.state==='paused'&&a==='pause')||(s.state==='draining'&&a==='drain'));
 document.getElementById('b-trig').hidden = !s.camera;
 const lab = document.getElementById('labelling'); if (lab.hidden === !!s.labelling) { lab.hidden = !s.labelling; if (s.labelling) loadClasses(); }
 const c = s.current, v = document.getElementById('verdict');
 if (c){ v.textContent = c.verdict; v.className = c.verdict;
   document.getElementById('reasons').innerHTML = (c.reasons.length? c.reasons : ['all checks passed']).map(r=>'<li>'+esc(r)+'</li>').join('');
   document.getElementById('file').textContent = c.file;
   if (shown !== c.image_sha256){ shown = c.image_sha256; clearBoxes(); document.getElementById('unit').src = '/api/current.jpg?sha=' + c.image_sha256; } }
 document.querySelector('#recent tbody').innerHTML = s.recent.map(r=>'<tr><td>'+esc(r.file)+'</td><td><span class="pill '+esc(r.verdict)+'">'+esc(r.verdict)+'</span></td><td>'+(r.latency_ms==null?'-':Math.round(r.latency_ms))+'</td></tr>').join('');
 document.querySelector('#shifts tbody').innerHTML = Object.entries(s.shift_counts).map(([k,n])=>'<tr><td>'+esc(k)+'</td><td>'+(n.pass||0)+'</td><td>'+(n.fail||0)+'</td><td>'+(n.review||0)+'</td></tr>').join('');
 document.getElementById('alarms').innerHTML = s.alarms.length ? s.alarms.map(a=>'<div class="alarm">'+esc(a.metric)+' ('+esc(a.group)+'): '+esc(a.direction)+' &mdash; '+esc(a.rule)+', since '+esc(a.first_unit)+'</div>').join('') : 'none';
}
initLabel(); tick(); setInterval(tick, 500);
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    server: "OperatorServer"

    def log_message(self, fmt: str, *args: Any) -> None:  # the station logs its own events
        return

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        station = self.server.station
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/health":
            snap = station.snapshot()
            self._json(200, {"status": "ok" if snap["state"] != "stopped" else "stopped", "state": snap["state"],
                             "processed": snap["processed"], "waiting": snap["waiting"],
                             "golden_id": snap["golden_id"], "product": snap["product"]})
        elif path == "/api/state":
            self._json(200, station.snapshot())
        elif path == "/api/label/classes":
            self._json(200, {"classes": station.label_classes(), "enabled": station.config.label_dataset is not None})
        elif path == "/api/current.jpg":
            img = station.evidence_image()
            if img is None:
                self._json(404, {"error": "no unit judged yet"})
                return
            ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            self._send(200, buf.tobytes(), "image/jpeg")
        else:
            self._json(404, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:  # noqa: N802
        station = self.server.station
        path = self.path.split("?", 1)[0]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._json(400, {"error": "bad Content-Length"})
            return
        if length < 0 or length > (65536 if path == "/api/label" else 4096):
            self._json(413, {"error": "request body too large"})
            return
        body = self.rfile.read(length) if length else b""
        if path == "/api/control":
            try:
                action = json.loads(body or b"{}").get("action")
                state = station.control(action)
            except (ValueError, AttributeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, {"state": state})
        elif path == "/api/label":
            from ..labelling import LabelError

            if station.config.label_dataset is None:
                self._json(409, {"error": "labelling is off on this station (start it with --label-dataset DIR)"})
                return
            try:
                req = json.loads(body or b"{}")
                if not isinstance(req, dict):
                    raise LabelError("expected a JSON object")
                out = station.label(req)
            except (LabelError, ValueError) as exc:  # ValueError: bad JSON
                self._json(400, {"error": str(exc)})
                return
            except LookupError as exc:
                self._json(404, {"error": str(exc)})
                return
            except Exception as exc:  # a unit that cannot be aligned, a full disk: reported, never fatal  # noqa: BLE001
                log.warning(json.dumps({"event": "label_failed", "why": f"{type(exc).__name__}: {exc}"}))
                self._json(422, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._json(200, out)
        elif path == "/api/trigger":
            if station.camera is None:
                self._json(409, {"error": "this station has no camera (it watches a folder)"})
                return
            try:
                name = station.camera.capture_to(station.folder)
            except Exception as exc:  # a camera fault is reported, never fatal  # noqa: BLE001
                self._json(503, {"error": f"camera: {exc}"})
                return
            station.wake()
            self._json(202, {"file": name})
        else:
            self._json(404, {"error": f"no such endpoint: {path}"})


class OperatorServer(ThreadingHTTPServer):
    """Serves the operator page for one station in a background thread."""

    daemon_threads = True

    def __init__(self, station: Any, host: str = "127.0.0.1", port: int = 8750) -> None:
        super().__init__((host, port), _Handler)
        self.station = station
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = cast("tuple[str, int]", self.server_address[:2])  # an AF_INET server
        return f"http://{host}:{port}/"

    def start(self) -> "OperatorServer":
        self._thread = threading.Thread(target=self.serve_forever, name="operator-page", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
