// Secrets Manager emulator console. Plain browser JavaScript, no dependencies: it polls the
// emulator's JSON admin endpoints under /_emulator/ once a second and renders with the DOM API
// (never innerHTML, so names, tags and policies are shown as text). Secret values are fetched
// only when the user clicks "Reveal" on a version, and forgotten when they click "Hide" or leave
// the secret.
'use strict';

(function () {
  const API = '/_emulator';
  const POLL_MS = 1000;
  const LOG_KEEP = 1000;
  const LOG_ROWS = 250;
  // An emulator started with --credentials or --admin-token answers admin requests only with its
  // admin token: open the console as /_emulator/ui#token=TOKEN. The token is kept in this tab's
  // sessionStorage (the fragment never reaches the server) and removed from the address bar.
  const TOKEN_KEY = 'sm-emulator-admin-token';
  const fragment = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
  if (fragment) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fragment[1]));
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }

  const S = {
    view: 'secrets',
    scope: null, // {account, region}
    filter: '',
    selected: null, // secret name in the scope
    listKey: '',
    detail: null,
    detailKey: '',
    revealed: new Map(), // version id -> {kind, value|base64, bytes}
    log: [],
    lastSeq: 0,
    logPaused: false,
    logErrorsOnly: false,
    logRendered: 0, // highest seq shown in the table
    rates: null,
    clock: null,
    faults: null,
    stats: null,
    busy: false,
  };

  // ---------- small helpers ----------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);

  class HttpError extends Error {}
  async function call(method, path, body) {
    const init = { method, headers: {}, cache: 'no-store' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) init.headers['x-emulator-admin-token'] = token;
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(API + path, init);
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (r.status === 403) {
      throw new HttpError(((data && data.Message) || 'HTTP 403') +
        ' (open the console as /_emulator/ui#token=<admin token>)');
    }
    if (!r.ok) throw new HttpError((data && data.error) || ('HTTP ' + r.status));
    return data;
  }
  const get = (path) => call('GET', path);
  const post = (path, body) => call('POST', path, body === undefined ? {} : body);
  const qs = (o) => Object.entries(o)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('&');

  const pad = (n, w) => String(n).padStart(w || 2, '0');
  function fmtDate(t) {
    if (t === null || t === undefined) return '—';
    const d = new Date(t * 1000);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function fmtDay(t) { return t === null || t === undefined ? '—' : fmtDate(t).slice(0, 10); }
  function fmtSpan(secs) {
    const a = Math.abs(secs);
    if (a < 90) return Math.round(a) + ' s';
    if (a < 5400) return Math.round(a / 60) + ' min';
    if (a < 172800) return Math.round(a / 3600) + ' h';
    return Math.round(a / 86400) + ' d';
  }
  function fmtRel(t, now) {
    if (t === null || t === undefined) return '—';
    const d = t - now;
    return d >= 0 ? 'in ' + fmtSpan(d) : fmtSpan(d) + ' ago';
  }
  function fmtOffset(secs) {
    if (!secs) return '';
    const d = Math.floor(secs / 86400);
    const hh = Math.floor((secs % 86400) / 3600);
    const mm = Math.floor((secs % 3600) / 60);
    const parts = [];
    if (d) parts.push(d + ' d');
    if (hh) parts.push(hh + ' h');
    if (mm || !parts.length) parts.push(mm + ' min');
    return '+' + parts.join(' ');
  }
  function fmtMicros(us) {
    if (us === null || us === undefined) return '';
    if (us < 1000) return us + ' µs';
    if (us < 100000) return (us / 1000).toFixed(1) + ' ms';
    return Math.round(us / 1000) + ' ms';
  }
  function fmtWall(ms) {
    const d = new Date(ms);
    return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + '.' + pad(d.getUTCMilliseconds(), 3);
  }
  function labelClass(l) {
    return (l === 'AWSCURRENT' || l === 'AWSPREVIOUS' || l === 'AWSPENDING') ? l : 'custom';
  }
  function labelChip(l) { return h('span', { class: 'label label-' + labelClass(l), text: l }); }
  function badge(text, kind, title) { return h('span', { class: 'badge ' + (kind || ''), text, title }); }
  function setStatus(el, text, kind) {
    el.textContent = text;
    el.className = 'form-status' + (kind ? ' ' + kind : '');
  }

  // ---------- navigation ----------
  function show(view) {
    S.view = view;
    if (location.hash !== '#' + view) history.replaceState(null, '', '#' + view);
    for (const v of ['secrets', 'activity', 'controls']) {
      $('view-' + v).hidden = v !== view;
      $('tab-' + v).classList.toggle('active', v === view);
    }
    if (view === 'activity') { renderCharts(); renderLog(true); }
  }

  // ---------- secrets ----------
  function scopeKey(sc) { return sc ? sc.account + '|' + sc.region : ''; }

  function renderScopes(data) {
    const sel = $('scope');
    const want = data.scopes.map((x) => x.account + '|' + x.region + '|' + x.secrets).join(',');
    if (sel.dataset.key !== want) {
      sel.dataset.key = want;
      sel.replaceChildren(...data.scopes.map((x) => h('option', {
        value: x.account + '|' + x.region,
        text: x.account + ' · ' + x.region + ' (' + x.secrets + ')',
      })));
      if (!data.scopes.length) sel.append(h('option', { value: '', text: 'no secrets yet' }));
    }
    const cur = data.account && data.region ? data.account + '|' + data.region : '';
    if (sel.value !== cur) {
      if (cur && !data.scopes.some((x) => x.account === data.account && x.region === data.region)) {
        sel.append(h('option', { value: cur, text: data.account + ' · ' + data.region + ' (0)' }));
        sel.dataset.key = '';
      }
      sel.value = cur;
    }
  }

  function renderList(data) {
    renderScopes(data);
    if (!S.scope && data.account) S.scope = { account: data.account, region: data.region };
    const minute = Math.floor(data.now / 60);
    const key = JSON.stringify([data.secrets, S.selected, minute, data.matched]);
    if (key === S.listKey) return;
    S.listKey = key;
    const meta = data.matched === 1 ? '1 secret' : data.matched + ' secrets';
    $('list-meta').textContent = data.truncated ? meta + ' (showing ' + data.secrets.length + ')' : meta;
    const rows = data.secrets.map((x) => {
      const badges = [];
      if (x.deleted !== null) badges.push(badge('Deletion ' + fmtRel(x.purge_at, data.now), 'bad', 'Scheduled for deletion on ' + fmtDate(x.purge_at)));
      if (x.rotation_enabled) badges.push(badge('Rotation', 'ok'));
      if (x.replica) badges.push(badge('Replica', 'info'));
      else if (x.replicas) badges.push(badge(x.replicas + (x.replicas === 1 ? ' replica' : ' replicas'), 'info'));
      return h('li', {
        class: 'secret-row' + (x.name === S.selected ? ' selected' : '') + (x.deleted !== null ? ' deleted' : ''),
        dataset: { secret: x.name, deleted: x.deleted !== null ? 'true' : 'false' },
        onclick: () => select(x.name),
      },
      h('div', { class: 'row-main' }, h('span', { class: 'name', text: x.name })),
      badges.length ? h('div', { class: 'row-badges' }, badges) : null,
      h('div', { class: 'row-sub', text: x.versions + (x.versions === 1 ? ' version' : ' versions') + ' · changed ' + fmtRel(x.last_changed, data.now) + (x.tags ? ' · ' + x.tags + (x.tags === 1 ? ' tag' : ' tags') : '') }));
    });
    if (!rows.length) rows.push(h('li', { class: 'empty', text: S.filter ? 'No secret matches the filter.' : 'No secrets in this account and region.' }));
    $('secret-list').replaceChildren(...rows);
  }

  function select(name) {
    if (S.selected !== name) S.revealed.clear();
    S.selected = name;
    S.detailKey = '';
    S.listKey = '';
    refreshSecrets();
  }

  async function refreshSecrets() {
    const q = qs({ account: S.scope && S.scope.account, region: S.scope && S.scope.region, filter: S.filter });
    const data = await get('/state' + (q ? '?' + q : ''));
    renderList(data);
    if (S.selected) {
      let d = null;
      try {
        d = await get('/state/secret?' + qs({ account: data.account, region: data.region, name: S.selected }));
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
      }
      renderDetail(d);
    } else {
      renderDetail(null);
    }
  }

  function renderDetail(d) {
    const pane = $('detail');
    const key = d ? JSON.stringify([d.summary, d.versions, d.tags, d.policies, d.replication, d.cross_account, d.rotation, Math.floor(d.now / 60), [...S.revealed.keys()], recentFor(d).map((r) => r.seq)]) : 'none:' + S.selected;
    if (key === S.detailKey) return;
    S.detailKey = key;
    S.detail = d;
    if (!d) {
      pane.replaceChildren(h('div', { class: 'empty', text: S.selected ? 'The secret ' + S.selected + ' no longer exists.' : 'Select a secret to see its versions, labels, tags, policies, replicas and rotation.' }));
      return;
    }
    const x = d.summary;
    const badges = [];
    if (x.deleted !== null) badges.push(badge('Scheduled for deletion · purged ' + fmtDate(x.purge_at), 'bad'));
    if (d.rotation.enabled) badges.push(badge('Rotation on', 'ok'));
    if (x.replica) badges.push(badge('Replica' + (x.primary_region ? ' of ' + x.primary_region : ''), 'info'));
    if (x.replicas) badges.push(badge('Primary · ' + x.replicas + (x.replicas === 1 ? ' replica' : ' replicas'), 'info'));
    const fact = (k, v, title) => h('div', { class: 'fact', title: title || v }, h('div', { class: 'k', text: k }), h('div', { class: 'v', text: v }));
    // re-rendering empties the pane for a moment: keep the reader's scroll position
    const scroll = pane.scrollTop;
    pane.replaceChildren(
      h('div', { class: 'detail-head' },
        h('div', { class: 'spacer' },
          h('h2', { id: 'detail-name', text: x.name }),
          h('p', { class: 'arn', text: x.arn })),
        h('div', null, badges)),
      x.description ? h('p', { class: 'desc', text: x.description }) : null,
      h('div', { class: 'facts' },
        fact('Region', d.region, 'Account ' + d.account + ', region ' + d.region),
        fact('Created', fmtDate(x.created)),
        fact('Last changed', fmtDate(x.last_changed)),
        fact('Last accessed', fmtDay(x.last_accessed)),
        fact('KMS key', d.kms_key_id || 'default'),
        fact('Versions', String(d.versions.length))),
      versionsCard(d),
      h('div', { class: 'detail-grid' },
        tagsCard(d), rotationCard(d), replicationCard(d), policyCard(d), recentCard(d)));
    pane.scrollTop = scroll;
  }

  function versionsCard(d) {
    const rows = d.versions.slice().reverse().map((v) => {
      const rev = S.revealed.get(v.id);
      let valueCell;
      if (!v.has_value) {
        valueCell = h('span', { class: 'muted', text: 'no value' });
      } else if (rev) {
        const shown = rev.kind === 'string' ? rev.value : 'base64: ' + rev.base64 + ' (' + rev.bytes + ' bytes)';
        valueCell = h('div', { class: 'value-cell' },
          h('span', { class: 'revealed value', text: shown }),
          h('button', { class: 'btn btn-small hide', onclick: () => { S.revealed.delete(v.id); S.detailKey = ''; renderDetail(S.detail); } }, 'Hide'));
      } else {
        valueCell = h('div', { class: 'value-cell' },
          h('span', { class: 'masked value', text: '••••••••••••' }),
          h('button', { class: 'btn btn-small reveal', onclick: (ev) => reveal(d, v, ev.currentTarget) }, 'Reveal'));
      }
      return h('tr', { dataset: { version: v.id, stages: v.stages.join(' ') } },
        h('td', { class: 'mono nowrap', title: v.id, text: v.id }),
        h('td', null, v.stages.length ? v.stages.map(labelChip) : h('span', { class: 'muted', text: 'none' })),
        h('td', { class: 'num', text: fmtDate(v.created) }),
        h('td', { class: 'num', text: fmtDay(v.last_accessed) }),
        h('td', null, valueCell));
    });
    return h('div', { class: 'card', id: 'versions-card' },
      h('div', { class: 'card-head' }, h('h3', { text: 'Versions and staging labels' }), h('span', { class: 'muted', text: 'newest first; values stay masked until revealed' })),
      timeline(d),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'versions' },
        h('thead', null, h('tr', null, h('th', { text: 'Version id' }), h('th', { text: 'Labels' }), h('th', { class: 'num', text: 'Created (UTC)' }), h('th', { class: 'num', text: 'Last accessed' }), h('th', { text: 'Value' }))),
        h('tbody', null, rows))));
  }

  // The versions on a time axis (created date), each with the labels it carries now.
  function timeline(d) {
    const W = 900, H = 92, L = 16, R = 60;
    const vs = d.versions;
    if (!vs.length) return null;
    const t0 = Math.min(...vs.map((v) => v.created));
    const t1 = Math.max(d.now, ...vs.map((v) => v.created));
    const span = Math.max(t1 - t0, 60);
    const x = (t) => L + (t - t0) / span * (W - L - R);
    const axisY = 62;
    const parts = [s('line', { class: 'axis', x1: L, y1: axisY, x2: W - R, y2: axisY })];
    for (let i = 0; i <= 4; i++) {
      const t = t0 + span * i / 4;
      parts.push(s('text', { class: 'tick', x: x(t), y: axisY + 18, 'text-anchor': i === 0 ? 'start' : (i === 4 ? 'end' : 'middle') }, span > 172800 ? fmtDay(t) : fmtDate(t).slice(5, 16)));
    }
    parts.push(s('line', { class: 'now-line', x1: x(d.now), y1: 10, x2: x(d.now), y2: axisY + 4 }));
    parts.push(s('text', { class: 'now-text', x: x(d.now) + 4, y: 14 }, 'now'));
    let lastX = -1e9, lane = 0;
    for (const v of vs) {
      const cx = x(v.created);
      const main = v.stages.find((l) => l === 'AWSCURRENT') || v.stages[0];
      parts.push(s('circle', { class: 'dot ' + (main ? labelClass(main) : ''), cx, cy: axisY, r: main ? 5 : 3.5 }, s('title', null, v.id + ' · ' + fmtDate(v.created))));
      if (v.stages.length) {
        lane = cx - lastX < 110 ? (lane + 1) % 3 : 0;
        lastX = cx;
        const y = axisY - 12 - lane * 14;
        parts.push(s('text', { class: 'tl-label ' + labelClass(main), x: cx, y, 'text-anchor': cx > W - R - 80 ? 'end' : 'middle' }, v.stages.join(' · ')));
      }
    }
    return s('svg', { class: 'timeline', viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'xMinYMid meet', role: 'img', 'aria-label': 'Versions over time' }, parts);
  }

  async function reveal(d, v, btn) {
    btn.disabled = true;
    try {
      const r = await post('/state/reveal', { account: d.account, region: d.region, name: d.summary.name, version_id: v.id });
      if (S.detail && S.detail.summary.name === d.summary.name) {
        S.revealed.set(v.id, r);
        S.detailKey = '';
        renderDetail(S.detail);
      }
    } catch (e) {
      btn.disabled = false;
      btn.textContent = 'Reveal failed: ' + e.message;
    }
  }

  function kvTable(rows, empty) {
    if (!rows.length) return h('p', { class: 'muted', text: empty });
    return h('table', { class: 'table' }, h('tbody', null, rows.map(([k, v, cls]) =>
      h('tr', null, h('td', { class: 'muted key', text: k }), h('td', { class: cls || 'wrap', text: v })))));
  }

  function tagsCard(d) {
    return h('div', { class: 'card', id: 'tags-card' },
      h('div', { class: 'card-head' }, h('h3', { text: 'Tags' }), h('span', { class: 'muted', text: String(d.tags.length) })),
      kvTable(d.tags.map((t) => [t.key, t.value]), 'No tags.'));
  }

  function rotationCard(d) {
    const r = d.rotation;
    const rows = [];
    rows.push(['Enabled', r.enabled === null ? 'never configured' : (r.enabled ? 'yes' : 'no')]);
    if (r.lambda_arn) rows.push(['Function', r.lambda_arn, 'mono wrap']);
    if (r.rules) {
      const parts = [];
      if (r.rules.AutomaticallyAfterDays) parts.push('every ' + r.rules.AutomaticallyAfterDays + ' days');
      if (r.rules.ScheduleExpression) parts.push(r.rules.ScheduleExpression);
      if (r.rules.Duration) parts.push('window ' + r.rules.Duration);
      rows.push(['Schedule', parts.join(' · ') || JSON.stringify(r.rules)]);
    }
    rows.push(['Last rotated', r.last_rotated === null ? '—' : fmtDate(r.last_rotated)]);
    rows.push(['Next rotation', r.next_rotation === null ? '—' : fmtDate(r.next_rotation) + ' (' + fmtRel(r.next_rotation, d.now) + ')']);
    const pending = d.versions.some((v) => v.stages.includes('AWSPENDING'));
    if (pending) rows.push(['In progress', 'a version carries AWSPENDING']);
    return h('div', { class: 'card', id: 'rotation-card' }, h('div', { class: 'card-head' }, h('h3', { text: 'Rotation' })), kvTable(rows, ''));
  }

  function replicationCard(d) {
    const x = d.summary;
    const body = [];
    if (x.replica && x.primary_region) body.push(h('p', null, 'Replica of the primary in ', h('strong', { text: x.primary_region }), '.'));
    const ca = d.cross_account || {};
    if (ca.CrossAccountPrimary) {
      body.push(kvTable([
        ['Cross-account primary', ca.CrossAccountPrimary.PrimarySecretARN || '', 'mono wrap'],
        ['Status', ca.CrossAccountPrimary.ReplicationStatus || ''],
      ], ''));
    }
    if (d.replication.length) {
      body.push(h('table', { class: 'table' },
        h('thead', null, h('tr', null, h('th', { text: 'Region' }), h('th', { text: 'Status' }), h('th', { text: 'Message' }))),
        h('tbody', null, d.replication.map((r) => h('tr', null,
          h('td', { text: r.Region || '' }),
          h('td', null, badge(r.Status || '', r.Status === 'InSync' ? 'ok' : (r.Status === 'Failed' ? 'bad' : 'warn'))),
          h('td', { class: 'wrap', text: r.StatusMessage || '' }))))));
    }
    for (const e of (ca.CrossAccountReplicas || [])) {
      body.push(kvTable([[
        'Cross-account replica', (e.ReplicaSecretARN || e.Account || JSON.stringify(e)), 'mono wrap'],
      ['Status', e.ReplicationStatus || e.Status || '']], ''));
    }
    if (!body.length) body.push(h('p', { class: 'muted', text: 'Not replicated.' }));
    return h('div', { class: 'card', id: 'replication-card' }, h('div', { class: 'card-head' }, h('h3', { text: 'Replication' })), body);
  }

  function policyCard(d) {
    const names = Object.keys(d.policies);
    const body = names.length ? names.map((n) => h('div', null,
      names.length > 1 || n !== 'default' ? h('h4', { text: n }) : null,
      h('pre', { class: 'json', text: JSON.stringify(d.policies[n], null, 2) }))) : [h('p', { class: 'muted', text: 'No resource policy.' })];
    return h('div', { class: 'card', id: 'policy-card' }, h('div', { class: 'card-head' }, h('h3', { text: 'Resource policy' })), body);
  }

  function recentFor(d) {
    const name = d.summary.name, arn = d.summary.arn;
    const out = [];
    for (let i = S.log.length - 1; i >= 0 && out.length < 8; i--) {
      const r = S.log[i];
      if (r.account === d.account && r.region === d.region && r.secret &&
          (r.secret === name || r.secret === arn || arn.startsWith(r.secret + '-'))) out.push(r);
    }
    return out;
  }

  function recentCard(d) {
    const rows = recentFor(d);
    return h('div', { class: 'card', id: 'recent-card' },
      h('div', { class: 'card-head' }, h('h3', { text: 'Recent requests' }), h('span', { class: 'muted', text: 'from the request log' })),
      rows.length ? h('table', { class: 'table' }, h('tbody', null, rows.map((r) => h('tr', null,
        h('td', { class: 'mono', text: fmtWall(r.at_ms) }),
        h('td', { text: r.op || '?' }),
        h('td', null, statusCell(r)))))) : h('p', { class: 'muted', text: 'None since the console opened.' }));
  }

  // ---------- activity ----------
  function statusCell(r) {
    if (r.status < 400) return h('span', { class: 'status-ok', text: String(r.status) });
    return h('span', { class: r.error === 'ThrottlingException' ? 'status-throttled' : 'status-bad', text: String(r.status) });
  }

  function logRow(r, fresh) {
    const cls = r.error === 'ThrottlingException' ? 'throttled' : (r.status >= 400 ? 'failed' : '');
    return h('tr', {
      class: cls + (fresh ? ' fresh' : ''),
      dataset: { seq: String(r.seq), op: r.op || '', status: String(r.status), error: r.error || '', secret: r.secret || '' },
    },
    h('td', { class: 'mono', text: fmtWall(r.at_ms) }),
    h('td', { text: r.op || '(unknown)' }),
    h('td', { class: 'mono', text: r.account || '' }),
    h('td', { text: r.region || '' }),
    h('td', { class: 'secret', title: r.secret || '', text: r.secret || '' }),
    h('td', null, statusCell(r)),
    h('td', { class: r.error ? (r.error === 'ThrottlingException' ? 'status-throttled' : 'status-bad') : '', text: r.error || '' }),
    h('td', { class: 'num', text: fmtMicros(r.micros) }),
    h('td', { class: 'num', text: fmtMicros(r.sync_micros) }));
  }

  function renderLog(full) {
    if (S.view !== 'activity' || S.logPaused) return;
    const body = $('log-body');
    const keep = (r) => !S.logErrorsOnly || r.status >= 400;
    if (full) {
      const rows = [];
      for (let i = S.log.length - 1; i >= 0 && rows.length < LOG_ROWS; i--) {
        if (keep(S.log[i])) rows.push(logRow(S.log[i], false));
      }
      body.replaceChildren(...rows);
    } else {
      const fresh = S.log.filter((r) => r.seq > S.logRendered && keep(r));
      for (const r of fresh) body.prepend(logRow(r, true));
      while (body.rows.length > LOG_ROWS) body.lastChild.remove();
    }
    S.logRendered = S.lastSeq;
    const errs = S.log.filter((r) => r.status >= 400).length;
    $('log-meta').textContent = S.log.length + ' requests kept, ' + errs + ' failed';
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // A small chart: stacked areas or lines over the last two minutes, y axis from 0.
  function chart(id, series, opt) {
    const el = $(id);
    const W = Math.max(el.clientWidth, 200), H = el.clientHeight || 110;
    const L = 34, T = 6, B = 16, R = 4;
    const n = series[0].values.length;
    let top;
    if (opt.stacked) {
      top = 0;
      for (let i = 0; i < n; i++) top = Math.max(top, series.reduce((a, x) => a + x.values[i], 0));
    } else {
      top = Math.max(0, ...series.flatMap((x) => x.values));
    }
    const max = niceMax(top);
    const X = (i) => L + i / Math.max(n - 1, 1) * (W - L - R);
    const Y = (v) => T + (1 - v / max) * (H - T - B);
    const parts = [];
    for (const f of [0, 0.5, 1]) {
      const y = Y(max * f);
      parts.push(s('line', { class: 'grid', x1: L, y1: y, x2: W - R, y2: y }));
      parts.push(s('text', { class: 'ylab', x: L - 5, y: y + 3, 'text-anchor': 'end' }, opt.fmt(max * f)));
    }
    parts.push(s('text', { class: 'ylab', x: L, y: H - 2 }, '−2 min'));
    parts.push(s('text', { class: 'ylab', x: W - R, y: H - 2, 'text-anchor': 'end' }, 'now'));
    const base = new Array(n).fill(0);
    for (const x of series) {
      if (opt.stacked) {
        const upper = x.values.map((v, i) => base[i] + v);
        let d = 'M' + X(0) + ',' + Y(upper[0]);
        for (let i = 1; i < n; i++) d += 'L' + X(i).toFixed(1) + ',' + Y(upper[i]).toFixed(1);
        for (let i = n - 1; i >= 0; i--) d += 'L' + X(i).toFixed(1) + ',' + Y(base[i]).toFixed(1);
        parts.push(s('path', { d: d + 'Z', fill: x.color, 'fill-opacity': 0.75, stroke: 'none' }));
        for (let i = 0; i < n; i++) base[i] = upper[i];
      } else {
        let d = '';
        for (let i = 0; i < n; i++) d += (i ? 'L' : 'M') + X(i).toFixed(1) + ',' + Y(x.values[i]).toFixed(1);
        parts.push(s('path', { class: 'line', d, stroke: x.color, 'stroke-dasharray': x.dash || null }));
      }
    }
    if (opt.note) parts.push(s('text', { class: 'note', x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle' }, opt.note));
    const svgEl = s('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opt.title });
    svgEl.append(...parts);
    const totals = {};
    for (const x of series) totals[x.key] = x.values.reduce((a, v) => a + v, 0);
    svgEl.dataset.totals = JSON.stringify(totals);
    el.replaceChildren(svgEl);
    const legend = $(id + '-legend');
    if (legend.childElementCount !== series.length) {
      legend.replaceChildren(...series.map((x) => {
        const sw = h('i');
        sw.style.background = x.color;
        return h('span', null, sw, x.name);
      }));
    }
  }

  function renderCharts() {
    if (S.view !== 'activity' || !S.rates) return;
    const r = S.rates;
    const n = r.at.length;
    // the current second is still filling: the headline figures use the last complete one
    const last = (a) => (n >= 2 ? a[n - 2] : 0);
    const ok = r.requests.map((v, i) => v - r.errors[i] - r.throttled[i]);
    chart('chart-requests', [
      { key: 'ok', name: 'succeeded', values: ok, color: '#3b82f6' },
      { key: 'throttled', name: 'throttled', values: r.throttled, color: '#f59e0b' },
      { key: 'errors', name: 'failed', values: r.errors, color: '#ef4444' },
    ], { stacked: true, fmt: (v) => fmtNum(v), title: 'Requests per second' });
    $('chart-requests-now').textContent = last(r.requests) + ' /s';
    chart('chart-latency', [
      { key: 'latency', name: 'mean latency (ms)', values: r.latency_ms, color: '#6366f1' },
    ], { fmt: (v) => fmtNum(v), title: 'Mean latency in milliseconds' });
    $('chart-latency-now').textContent = last(r.latency_ms).toFixed(2) + ' ms';
    chart('chart-writes', [
      { key: 'writes', name: 'acknowledged writes', values: r.writes, color: '#10b981' },
    ], { stacked: true, fmt: (v) => fmtNum(v), title: 'Durable writes per second' });
    $('chart-writes-now').textContent = last(r.writes) + ' /s';
    chart('chart-sync', [
      { key: 'sync_max', name: 'max (ms)', values: r.sync_max_ms, color: '#f97316', dash: '3 2' },
      { key: 'sync_mean', name: 'mean (ms)', values: r.sync_mean_ms, color: '#0ea5e9' },
    ], { fmt: (v) => fmtNum(v), title: 'Durable-sync wait in milliseconds', note: r.durable ? null : 'in memory: writes are not synced' });
    $('chart-sync-now').textContent = last(r.sync_mean_ms).toFixed(2) + ' ms';
  }
  function fmtNum(v) {
    if (v === 0) return '0';
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
    if (v >= 10) return String(Math.round(v));
    return String(Math.round(v * 100) / 100);
  }

  // ---------- controls ----------
  function renderHeader() {
    if (S.clock) {
      $('header-clock').textContent = fmtDate(S.clock.now);
      $('header-offset').textContent = S.clock.offset_seconds ? ' ' + fmtOffset(S.clock.offset_seconds) : '';
      $('clock-now').textContent = fmtDate(S.clock.now);
      $('clock-offset').textContent = S.clock.offset_seconds ? 'Ahead of the real time by ' + fmtOffset(S.clock.offset_seconds).slice(1) + '.' : 'In step with the real time.';
    }
    if (S.rates) $('store-indicator').textContent = S.rates.durable ? 'Durable store' : 'In memory';
    const rules = S.faults ? S.faults.rules : [];
    $('fault-indicator').hidden = !rules.length;
    renderRules(rules);
    if (S.stats) $('fault-counts').textContent = S.stats.throttled + ' throttled, ' + S.stats.injected_errors + ' injected errors since the last reset';
  }

  function renderRules(rules) {
    const key = JSON.stringify(rules);
    const el = $('fault-rules');
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    if (!rules.length) { el.replaceChildren(h('p', { class: 'muted', text: 'No faults: every request is answered normally.' })); return; }
    const pct = (p) => (p === null || p === undefined ? '' : (Math.round(p * 10000) / 100) + ' %');
    el.replaceChildren(h('table', { class: 'table', id: 'fault-rules-table' },
      h('thead', null, h('tr', null, ['Operations', 'Throttle', 'Error 500', 'Unavailable 503', 'Rate limit', 'Latency'].map((t) => h('th', { text: t })))),
      h('tbody', null, rules.map((r) => h('tr', null,
        h('td', { class: 'wrap', text: r.operations.length ? r.operations.join(', ') : 'all operations' }),
        h('td', { text: pct(r.throttle_rate) }),
        h('td', { text: pct(r.error_rate) }),
        h('td', { text: pct(r.unavailable_rate) }),
        h('td', { text: r.rate_limit ? r.rate_limit + ' /s' + (r.burst ? ' (burst ' + r.burst + ')' : '') : '' }),
        h('td', { text: r.latency_ms ? r.latency_ms + ' ms' : '' }))))));
  }

  function numField(id, scale) {
    const raw = $(id).value.trim();
    if (raw === '') return null;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0) throw new Error($(id).closest('label').querySelector('span').firstChild.textContent.trim() + ' must be a non-negative number');
    return scale ? v / scale : v;
  }

  async function applyFaults(ev) {
    ev.preventDefault();
    const st = $('fault-status');
    let settings;
    try {
      const rule = {};
      const ops = $('fault-ops').value.split(',').map((x) => x.trim()).filter(Boolean);
      if (ops.length) rule.operations = ops;
      const put = (k, v) => { if (v !== null) rule[k] = v; };
      put('throttle_rate', numField('fault-throttle', 100));
      put('error_rate', numField('fault-error', 100));
      put('unavailable_rate', numField('fault-unavailable', 100));
      put('latency_ms', numField('fault-latency') === null ? null : Math.round(numField('fault-latency')));
      put('rate_limit', numField('fault-rate'));
      put('burst', numField('fault-burst'));
      const seed = numField('fault-seed');
      const hasEffect = Object.keys(rule).some((k) => k !== 'operations');
      settings = { rules: hasEffect ? [rule] : [] };
      if (seed !== null) settings.seed = Math.round(seed);
    } catch (e) {
      setStatus(st, e.message, 'error');
      return;
    }
    try {
      S.faults = await post('/faults', settings);
      setStatus(st, settings.rules.length ? 'Applied.' : 'No fault given: faults cleared.', 'done');
      renderHeader();
    } catch (e) {
      setStatus(st, e.message, 'error');
    }
  }

  async function faultAction(path, body, msg) {
    const st = $('fault-status');
    try {
      S.faults = await post(path, body);
      setStatus(st, msg, 'done');
      renderHeader();
    } catch (e) {
      setStatus(st, e.message, 'error');
    }
  }

  async function advance(seconds) {
    const st = $('clock-status');
    try {
      S.clock = await post('/clock/advance', { seconds });
      setStatus(st, 'Advanced by ' + fmtOffset(seconds).slice(1) + '.', 'done');
      renderHeader();
      S.listKey = '';
      S.detailKey = '';
      await refreshSecrets();
    } catch (e) {
      setStatus(st, e.message, 'error');
    }
  }

  // ---------- polling ----------
  async function poll() {
    if (S.busy) return;
    S.busy = true;
    try {
      const [page, rates, clock, faults, stats] = await Promise.all([
        get('/requests?' + qs({ after: S.lastSeq })),
        get('/rates'), get('/clock'), get('/faults'), get('/stats'),
      ]);
      if (page.last_seq < S.lastSeq) { S.log = []; S.logRendered = 0; }
      S.log.push(...page.records);
      if (S.log.length > LOG_KEEP) S.log.splice(0, S.log.length - LOG_KEEP);
      S.lastSeq = page.last_seq;
      S.rates = rates; S.clock = clock; S.faults = faults; S.stats = stats;
      renderHeader();
      renderCharts();
      renderLog(false);
      await refreshSecrets();
      $('conn').classList.remove('down');
      $('conn').title = 'Connected';
      document.body.dataset.ready = 'true';
    } catch (e) {
      $('conn').classList.add('down');
      $('conn').title = 'Emulator unreachable: ' + e.message;
    } finally {
      S.busy = false;
    }
  }

  function init() {
    for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => show(b.dataset.view));
    $('scope').addEventListener('change', (ev) => {
      const [account, region] = ev.target.value.split('|');
      S.scope = account ? { account, region } : null;
      S.selected = null;
      S.revealed.clear();
      S.listKey = '';
      refreshSecrets();
    });
    let filterTimer = null;
    $('filter').addEventListener('input', (ev) => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => { S.filter = ev.target.value.trim(); S.listKey = ''; refreshSecrets(); }, 200);
    });
    $('log-errors').addEventListener('change', (ev) => { S.logErrorsOnly = ev.target.checked; renderLog(true); });
    $('log-pause').addEventListener('click', (ev) => {
      S.logPaused = !S.logPaused;
      ev.currentTarget.textContent = S.logPaused ? 'Resume' : 'Pause';
      renderLog(true);
    });
    $('fault-form').addEventListener('submit', applyFaults);
    $('fault-clear').addEventListener('click', () => faultAction('/faults', {}, 'All faults cleared.'));
    $('fault-quotas').addEventListener('click', () => faultAction('/faults/aws-quotas', {}, "AWS's request quotas installed."));
    for (const b of document.querySelectorAll('[data-advance]')) b.addEventListener('click', () => advance(Number(b.dataset.advance)));
    $('clock-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const amount = Number($('clock-amount').value);
      if (!(amount > 0)) { setStatus($('clock-status'), 'Enter an amount greater than 0.', 'error'); return; }
      advance(amount * Number($('clock-unit').value));
    });
    $('reset').addEventListener('click', async () => {
      if (!window.confirm('Delete every secret, counter and logged request?')) return;
      try {
        await post('/reset');
        S.log = []; S.lastSeq = 0; S.selected = null; S.revealed.clear(); S.listKey = '';
        setStatus($('reset-status'), 'Reset.', 'done');
        renderLog(true);
        refreshSecrets();
      } catch (e) {
        setStatus($('reset-status'), e.message, 'error');
      }
    });
    window.addEventListener('resize', renderCharts);
    const hash = location.hash.replace('#', '');
    show(['secrets', 'activity', 'controls'].includes(hash) ? hash : 'secrets');
    poll();
    setInterval(() => { if (!document.hidden) poll(); }, POLL_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
