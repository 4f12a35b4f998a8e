"""Server-rendered pages of the upload service (Jinja2, a little plain JavaScript, no build step).

``/ui/login``        sign in with an API key (kept in an HttpOnly, SameSite=Strict cookie)
``/ui/lots``         the key's lots, and a form to open a lot
``/ui/lots/{id}``    drag and drop photos with a live progress bar; verdicts, failing units
                     beside the golden, the lot verdict and the report
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, select_autoescape

from .auth import KeyInfo, authenticate

__all__ = ["add_pages"]

_env = Environment(autoescape=select_autoescape(default=True))

_BASE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} · goldenvision</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f5f7fa}
 header{background:#1c2733;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;align-items:center}
 header a{color:#cfe3ff;text-decoration:none} main{max-width:1100px;margin:1.2rem auto;padding:0 1rem}
 .card{background:#fff;border-radius:.5rem;padding:1rem 1.2rem;margin-bottom:1rem;box-shadow:0 1px 3px #0002}
 table{border-collapse:collapse;width:100%} td,th{padding:.35rem .5rem;border-bottom:1px solid #e3e8ee;text-align:left}
 .pass{color:#1f7a3a;font-weight:700}.fail{color:#b3261e;font-weight:700}.review{color:#9a6b00;font-weight:700}
 .pending{color:#667}.accept{color:#1f7a3a}.reject{color:#b3261e}
 input,select,button{font-size:1rem;padding:.35rem .5rem;margin:.2rem 0} button{background:#2f4a63;color:#fff;border:0;border-radius:.3rem;cursor:pointer}
 #drop{border:3px dashed #8aa4bd;border-radius:.6rem;padding:2rem;text-align:center;color:#456}
 #drop.over{background:#e6f0fa} progress{width:100%;height:1.2rem} .err{color:#b3261e}
 .big{font-size:2rem;font-weight:800;text-transform:uppercase}
 img.ev{max-width:100%;border-radius:.3rem;margin:.3rem 0}
</style></head><body><header><strong>goldenvision</strong><a href="/ui/lots">Lots</a>
<span style="flex:1"></span>{% if who %}<span>{{ who }}</span> <a href="/ui/logout">sign out</a>{% endif %}</header>
<main>{% block body %}{% endblock %}</main></body></html>"""

_LOGIN = _BASE.replace("{% block body %}{% endblock %}", """
<div class="card"><h2>Sign in</h2>
<form method="post" action="/ui/login"><label>API key<br><input name="key" type="password" size="70" autocomplete="off" id="key"></label><br>
<button type="submit" id="signin">Sign in</button></form>
{% if error %}<p class="err">{{ error }}</p>{% endif %}</div>""")

_LOTS = _BASE.replace("{% block body %}{% endblock %}", """
<div class="card"><h2>Open a lot</h2>
<form id="newlot"><label>Golden <select name="golden" id="golden">{% for g in goldens %}
<option value="{{ g.golden_id }}" data-product="{{ g.product }}">{{ g.product }} rev {{ g.revision }} ({{ g.golden_id[:8] }})</option>{% endfor %}
</select></label>
<label>Lot size <input name="lot_size" id="lot_size" type="number" min="2" value="500"></label>
<label>Type <select name="type" id="type"><option>psi</option><option>dupro</option></select></label><br>
<label>Supplier <input name="supplier" id="supplier"></label> <label>PO <input name="po" id="po"></label>
<button type="submit" id="create">Open lot</button></form><p class="err" id="err"></p></div>
<div class="card"><h2>Lots</h2><table><tr><th>lot</th><th>product</th><th>supplier</th><th>PO</th><th>type</th><th>size</th></tr>
{% for l in lots %}<tr><td><a href="/ui/lots/{{ l.lot_id }}">{{ l.lot_id }}</a></td><td>{{ l.product }}</td><td>{{ l.supplier or "" }}</td>
<td>{{ l.po or "" }}</td><td>{{ l.type }}</td><td>{{ l.lot_size }}</td></tr>{% endfor %}</table></div>
<script>
document.getElementById('newlot').addEventListener('submit', async e => {
  e.preventDefault();
  const g = document.getElementById('golden'); const opt = g.options[g.selectedIndex];
  const body = {golden_id: g.value, product: opt.dataset.product, lot_size: +document.getElementById('lot_size').value,
    type: document.getElementById('type').value, supplier: document.getElementById('supplier').value || null,
    po: document.getElementById('po').value || null};
  const r = await fetch('/api/lots', {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) { document.getElementById('err').textContent = JSON.stringify(j.detail); return; }
  location.href = '/ui/lots/' + j.lot_id;
});
</script>""")

_LOT = _BASE.replace("{% block body %}{% endblock %}", """
<div class="card"><h2>{{ lot.type|upper }} {{ lot.lot_id }}: {{ lot.product }}</h2>
<p>Supplier {{ lot.supplier or "not given" }} · PO {{ lot.po or "not given" }} · lot size {{ lot.lot_size }} ·
ISO 2859-1 sample of {{ lot.progress.sample_size }} units{% for k, p in lot.plan.items() %} · {{ k }}: code {{ p.code_letter }}, Ac {{ p.accept }} Re {{ p.reject }}{% endfor %}</p>
<p>Lot verdict: <span class="big" id="lotverdict">{{ lot.lot_verdict.decision }}</span> <span id="why"></span></p>
<p><a href="/api/lots/{{ lot.lot_id }}/report" id="report">HTML report</a> · <a href="/api/lots/{{ lot.lot_id }}/report.pdf">PDF</a></p></div>
<div class="card"><h2>Upload photos</h2>
<div id="drop">Drop photos here, or <input type="file" id="files" multiple accept="image/*"></div>
<p>Upload <progress id="up" max="1" value="0"></progress></p>
<p>Scored <span id="scoredtxt">{{ lot.progress.scored }} of {{ lot.progress.received }}</span> <progress id="scored" max="1" value="0"></progress></p>
<p class="err" id="err"></p></div>
<div class="card"><h2>Units</h2><table id="units"><tr><th>file</th><th>verdict</th><th>reasons</th><th></th></tr></table></div>
<div class="card" id="labelcard" hidden><h2>Label <span id="l-file"></span> for retraining</h2>
<p>Drag a box around each defect on the unit (right), then save; a false alarm: "Good". Labels go to this product's training dataset.</p>
<div style="position:relative;display:inline-block" id="l-pic"><img id="l-img" class="ev" alt="golden | unit to label" draggable="false">
<div id="l-sel" style="position:absolute;border:2px dashed #1565c0;display:none;pointer-events:none"></div></div>
<p><label>class <input id="l-class" list="l-classes" size="14" maxlength="64"></label><datalist id="l-classes"></datalist>
<label>severity <select id="l-sev"><option value="">-</option><option>critical</option><option>major</option><option>minor</option></select></label>
<span id="l-boxes">0 boxes</span> <button id="l-save" type="button">Save defects</button> <button id="l-good" type="button">Good (false alarm)</button>
<button id="l-clear" type="button">Clear</button></p><p id="l-msg" role="status"></p></div>
<div class="card"><h2>Failing units beside the golden</h2><div id="failing">none yet</div></div>
<script>
const lotId = {{ lot.lot_id|tojson }}, product = {{ lot.product|tojson }};
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
function upload(files){
  if (!files.length) return;
  const fd = new FormData(); for (const f of files) fd.append('files', f);
  const x = new XMLHttpRequest(); x.open('POST', '/api/lots/' + lotId + '/photos');
  x.upload.onprogress = e => { if (e.lengthComputable) { const u = document.getElementById('up'); u.max = e.total; u.value = e.loaded; } };
  x.onload = () => { const j = JSON.parse(x.responseText || '{}');
    if (x.status >= 300) document.getElementById('err').textContent = 'upload refused: ' + JSON.stringify(j.detail);
    else if (j.rejected && j.rejected.length) document.getElementById('err').textContent = 'refused: ' + j.rejected.map(r => r.file + ' (' + r.reason + ')').join('; ');
    tick(); };
  x.send(fd);
}
const drop = document.getElementById('drop');
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); upload(e.dataTransfer.files); });
document.getElementById('files').addEventListener('change', e => upload(e.target.files));
const shownFail = new Set();
async function tick(){
  const r = await fetch('/api/lots/' + lotId, {cache:'no-store'}); if (!r.ok) return; const s = await r.json();
  const p = s.progress; const sc = document.getElementById('scored'); sc.max = Math.max(1, p.received); sc.value = p.scored;
  document.getElementById('scoredtxt').textContent = p.scored + ' of ' + p.received;
  const v = document.getElementById('lotverdict'); v.textContent = s.lot_verdict.decision; v.className = 'big ' + s.lot_verdict.decision;
  document.getElementById('why').textContent = typeof s.lot_verdict.why === 'string' ? s.lot_verdict.why : '';
  const rows = '<tr><th>file</th><th>verdict</th><th>reasons</th><th></th></tr>' + s.units.map(u =>
    '<tr><td>' + esc(u.file) + '</td><td class="' + esc(u.verdict || 'pending') + '">' + esc(u.verdict || 'pending') + '</td><td>' + esc((u.reasons || []).join('; ')) + '</td><td>' +
    (u.verdict ? '<button type="button" class="lb" data-sha="' + esc(u.image_sha256) + '" data-file="' + esc(u.file) + '">label</button>' : '') + '</td></tr>').join('');
  const ut = document.getElementById('units'); if (ut.dataset.html !== rows) { ut.innerHTML = rows; ut.dataset.html = rows; }  // redrawn only on change: a click is never lost
  const fails = s.units.filter(u => u.verdict === 'fail');
  if (fails.length) { const box = document.getElementById('failing'); if (!shownFail.size) box.innerHTML = '';
    for (const u of fails) if (!shownFail.has(u.image_sha256)) { shownFail.add(u.image_sha256);
      box.insertAdjacentHTML('beforeend', '<p><strong>' + esc(u.file) + '</strong>: ' + esc(u.reasons.join('; ')) +
        '<br><img class="ev" alt="golden | unit" src="/api/lots/' + lotId + '/units/' + u.image_sha256 + '/evidence.jpg"></p>'); } }
}
let lSha = null, lBoxes = [], lDrag = null;
const lImg = document.getElementById('l-img');
function lXY(e){const r = lImg.getBoundingClientRect(), k = lImg.naturalWidth / r.width; return [(e.clientX - r.left) * k, (e.clientY - r.top) * k, e.clientX - r.left, e.clientY - r.top];}
function lSel(a, b){const d = document.getElementById('l-sel'); if (!a) { d.style.display = 'none'; return; }
  d.style.display = 'block'; d.style.left = Math.min(a[2], b[2]) + 'px'; d.style.top = Math.min(a[3], b[3]) + 'px';
  d.style.width = Math.abs(a[2] - b[2]) + 'px'; d.style.height = Math.abs(a[3] - b[3]) + 'px';}
function lClear(){ lBoxes = []; lSel(null); document.getElementById('l-boxes').textContent = '0 boxes'; }
document.getElementById('units').addEventListener('click', async e => { const b = e.target.closest('button.lb'); if (!b) return;
  lSha = b.dataset.sha; lClear(); document.getElementById('l-msg').textContent = '';
  document.getElementById('l-file').textContent = b.dataset.file; document.getElementById('labelcard').hidden = false;
  lImg.src = '/api/lots/' + lotId + '/units/' + lSha + '/evidence.jpg';
  try { const all = await (await fetch('/api/labels')).json(); const ds = all.filter(d => d.product === product);
    document.getElementById('l-classes').innerHTML = ds.flatMap(d => d.known_classes || []).map(c => '<option value="' + esc(c) + '">').join(''); } catch (err) {}
  document.getElementById('labelcard').scrollIntoView(); });
lImg.addEventListener('mousedown', e => { e.preventDefault(); lDrag = lXY(e); });
lImg.addEventListener('mousemove', e => { if (lDrag) lSel(lDrag, lXY(e)); });
window.addEventListener('mouseup', e => { if (!lDrag) return; const a = lDrag, b = lXY(e); lDrag = null;
  if (Math.abs(a[0] - b[0]) < 3 || Math.abs(a[1] - b[1]) < 3) { lSel(null); return; }
  lBoxes.push({box: [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])],
               class: document.getElementById('l-class').value.trim(), severity: document.getElementById('l-sev').value || null});
  document.getElementById('l-boxes').textContent = lBoxes.length + (lBoxes.length == 1 ? ' box' : ' boxes'); });
async function lSave(good){ const msg = document.getElementById('l-msg'); const cls = document.getElementById('l-class').value.trim();
  const defects = good ? [] : lBoxes.map(b => ({...b, class: b.class || cls}));
  if (!good && !defects.length) { msg.textContent = 'drag a box around the defect first'; return; }
  const r = await fetch('/api/lots/' + lotId + '/units/' + lSha + '/label', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({good, defects})});
  const j = await r.json();
  msg.textContent = r.ok ? 'saved: ' + (good ? 'good unit' : j.boxes_added + ' box(es)') + ' \u2192 ' + j.n_samples + ' images, ' + j.n_annotations + ' boxes in the ' + j.product + ' dataset'
                         : 'not saved: ' + (typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail));
  if (r.ok) lClear(); }
document.getElementById('l-save').addEventListener('click', () => lSave(false));
document.getElementById('l-good').addEventListener('click', () => lSave(true));
document.getElementById('l-clear').addEventListener('click', lClear);
tick(); setInterval(tick, 1000);
</script>""")


def add_pages(app: FastAPI, *, engine: Any, key_dep: Any, cookie: str) -> None:
    """Add the sign-in, lots and lot pages to the service."""
    login_t, lots_t, lot_t = (_env.from_string(t) for t in (_LOGIN, _LOTS, _LOT))

    def page_key(request: Request) -> KeyInfo | None:
        return authenticate(engine, request.cookies.get(cookie))

    @app.get("/ui/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page() -> str:
        return login_t.render(title="Sign in", who=None, error=None)

    @app.post("/ui/login", include_in_schema=False)
    def login(key: str = Form(...)) -> Response:
        info = authenticate(engine, key)
        if info is None:
            return HTMLResponse(login_t.render(title="Sign in", who=None, error="That key is not valid."), status_code=401)
        resp = RedirectResponse("/ui/lots", status_code=303)
        resp.set_cookie(cookie, key.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
        return resp

    @app.get("/ui/logout", include_in_schema=False)
    def logout() -> Response:
        resp = RedirectResponse("/ui/login", status_code=303)
        resp.delete_cookie(cookie)
        return resp

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui/lots", status_code=303)

    @app.get("/ui/lots", response_class=HTMLResponse, include_in_schema=False)
    def lots_page(request: Request) -> Response:
        info = page_key(request)
        if info is None:
            return RedirectResponse("/ui/login", status_code=303)
        goldens = app.state.endpoints["list_goldens"](None, info)
        lots = app.state.endpoints["list_lots"](None, info)
        return HTMLResponse(lots_t.render(title="Lots", who=f"{info.name} ({info.role})", goldens=goldens, lots=lots))

    @app.get("/ui/lots/{lot_id}", response_class=HTMLResponse, include_in_schema=False)
    def lot_page(lot_id: str, request: Request) -> Response:
        info = page_key(request)
        if info is None:
            return RedirectResponse("/ui/login", status_code=303)
        try:
            lot = app.state.endpoints["get_lot"](lot_id, info)
        except HTTPException as exc:
            return HTMLResponse(f"<p>{exc.detail}</p>", status_code=exc.status_code)
        return HTMLResponse(lot_t.render(title=lot_id, who=f"{info.name} ({info.role})", lot=lot))
