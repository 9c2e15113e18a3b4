// The board's behaviour: sorting, filters, ticking ages, and the live stream of changed rows and new
// signals (Server-Sent Events from /board/events). The symbol page uses the stream and feed parts.
'use strict';

(function () {
  const body = document.body;
  const pageSymbol = body.dataset.symbol || '';
  const table = document.getElementById('board');
  const tbody = table ? table.tBodies[0] : null;

  // Ages (42s, 7m, 3h, 2d) are computed here, from each <time datetime>: the server sends times only,
  // so that a row does not change just because time passed.
  function age(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 48 * 3600) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }
  function tickAges(root) {
    const now = Date.now();
    for (const t of root.querySelectorAll('time[datetime]')) {
      const text = age(now - Date.parse(t.getAttribute('datetime')));
      if (t.textContent !== text) t.textContent = text;
    }
  }
  tickAges(document);
  setInterval(function () { tickAges(document); }, 5000);

  // Sorting: a click on a column header sorts by that column's data-sort-value (else its text);
  // again reverses.
  let sortColumn = -1;
  let sortDescending = false;
  function sortRows() {
    if (!tbody || sortColumn < 0) return;
    const th = table.tHead.rows[0].cells[sortColumn];
    const numeric = th.dataset.type === 'num';
    const rows = Array.from(tbody.rows);
    const key = function (row) {
      const cell = row.cells[sortColumn];
      const v = cell ? cell.dataset.sortValue ?? cell.textContent : '';
      return numeric ? Number(v) : v;
    };
    const keyed = rows.map(function (row) { return [key(row), row.dataset.symbol, row]; });
    keyed.sort(function (a, b) {
      let c = numeric ? a[0] - b[0] : a[0].localeCompare(b[0]);
      if (c === 0) c = a[1].localeCompare(b[1]);
      return sortDescending ? -c : c;
    });
    const frag = document.createDocumentFragment();
    for (const k of keyed) frag.appendChild(k[2]);
    tbody.appendChild(frag);
  }
  if (table && !table.classList.contains('single')) {
    Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
      th.tabIndex = 0;
      th.classList.add('sortable');
      const activate = function () {
        sortDescending = sortColumn === i ? !sortDescending : false;
        sortColumn = i;
        for (const other of table.tHead.rows[0].cells) other.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', sortDescending ? 'descending' : 'ascending');
        sortRows();
      };
      th.addEventListener('click', activate);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); activate(); } });
    });
  }

  // Filters: symbol text, schedule, summary (on one timeframe or any), crossed in the last N bars.
  const filters = document.getElementById('filters');
  const field = function (id) { return document.getElementById(id); };
  function rowMatches(row, f) {
    if (f.text && row.dataset.symbol.indexOf(f.text) < 0) return false;
    if (f.schedule && (row.dataset.schedules || '').split(' ').indexOf(f.schedule) < 0) return false;
    if (!f.summary && f.crossed === null) return true;
    const cells = row.querySelectorAll(f.timeframe ? 'td.cell[data-timeframe="' + CSS.escape(f.timeframe) + '"]' : 'td.cell');
    for (const cell of cells) {
      if (cell.classList.contains('missing')) continue;
      if (f.summary && cell.dataset.summary !== f.summary) continue;
      const bars = Number(cell.dataset.barsSince);
      if (f.crossed !== null && (bars < 0 || bars > f.crossed)) continue;
      return true;
    }
    return false;
  }
  function currentFilters() {
    const crossed = field('filter-crossed').value;
    return {
      text: field('filter-text').value.trim().toUpperCase(),
      schedule: field('filter-schedule').value,
      summary: field('filter-summary').value,
      timeframe: field('filter-timeframe').value,
      crossed: crossed === '' ? null : Number(crossed),
    };
  }
  function applyFilters(rows) {
    if (!filters || !tbody) return;
    const f = currentFilters();
    for (const row of rows || tbody.rows) row.hidden = !rowMatches(row, f);
    let shown = 0;
    for (const row of tbody.rows) if (!row.hidden) shown++;
    field('shown').textContent = shown + ' of ' + tbody.rows.length + ' shown';
    field('count').textContent = String(tbody.rows.length);
  }
  if (filters) {
    filters.addEventListener('input', function () { applyFilters(); });
    filters.addEventListener('submit', function (e) { e.preventDefault(); });
    // Every row shows until a filter is set (a browser may restore a field's value on reload).
    const f = currentFilters();
    if (f.text || f.schedule || f.summary || f.crossed !== null) applyFilters();
    else field('shown').textContent = tbody.rows.length + ' of ' + tbody.rows.length + ' shown';
  }

  // The signal feed: the REST API's recent signals, then new ones as the stream sends them.
  const feed = document.getElementById('signals');
  const feedLimit = 50;
  function signalItem(s) {
    const li = document.createElement('li');
    li.dataset.id = s.id;
    li.dataset.kind = s.kind;
    li.dataset.symbol = s.symbol;
    const when = document.createElement('time');
    when.setAttribute('datetime', s.candle_close_time);
    when.textContent = age(Date.now() - Date.parse(s.candle_close_time));
    const link = document.createElement('a');
    link.href = '/board/symbol/' + encodeURIComponent(s.symbol) + '?timeframe=' + encodeURIComponent(s.timeframe);
    link.textContent = s.symbol + ' ' + s.timeframe;
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = s.kind;
    const detail = document.createElement('span');
    detail.className = 'detail';
    detail.textContent = s.summary + ', HAMA ' + s.color + ', ' + Number(s.price).toPrecision(6);
    li.append(when, ' ', link, ' ', kind, ' ', detail);
    return li;
  }
  function addSignal(s, atTop) {
    if (!feed || (pageSymbol && s.symbol !== pageSymbol)) return;
    if (feed.querySelector('li[data-id="' + CSS.escape(s.id) + '"]')) return;
    const li = signalItem(s);
    if (atTop) feed.prepend(li); else feed.append(li);
    while (feed.children.length > feedLimit) feed.lastElementChild.remove();
  }
  function loadFeed() {
    if (!feed) return;
    const q = new URLSearchParams({ limit: String(feedLimit) });
    if (pageSymbol) q.set('symbol', pageSymbol);
    fetch('/api/v1/signals?' + q.toString(), { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (env) {
        if (env.code !== 1) throw new Error(env.msg);
        feed.replaceChildren();
        for (const s of env.data.signals || []) addSignal(s, false);
        feed.dataset.state = 'loaded';
      })
      .catch(function (err) {
        feed.dataset.state = 'unavailable';
        feed.replaceChildren();
        const li = document.createElement('li');
        li.className = 'note';
        li.textContent = 'signal history unavailable: ' + err.message;
        feed.append(li);
      });
  }

  // The live stream. EventSource reconnects by itself and sends the last event id, from which the
  // server sends what was written since; the first connection resumes from the page's watermark.
  const live = document.getElementById('live');
  function setLive(state) { if (live) { live.dataset.state = state; live.textContent = state; } }
  function parseRow(html) {
    const t = document.createElement('template');
    t.innerHTML = html.trim(); // server-rendered by html/template: every cached value is escaped
    return t.content.querySelector('tr');
  }
  // Events wait for the next frame, and apply in their order: a background tab runs no frames, and
  // applies everything when it shows again.
  let pending = [];
  let scheduled = false;
  function setUpdated(tr, time) {
    const td = tr.cells[tr.cells.length - 1]; // the data age, the last cell
    td.dataset.sortValue = String(Math.floor(Date.parse(time) / 1000));
    td.firstElementChild.setAttribute('datetime', time);
    tickAges(td);
  }
  function flush() {
    scheduled = false;
    const rows = new Map();
    for (const tr of tbody.rows) rows.set(tr.dataset.symbol, tr);
    const changed = [];
    let touched = false;
    for (const r of pending) {
      if (r.updated) {
        // Rows whose values did not change: only their time moved.
        for (const symbol in r.updated) {
          const tr = rows.get(symbol);
          if (tr) { setUpdated(tr, r.updated[symbol]); touched = true; }
        }
        continue;
      }
      const current = rows.get(r.symbol);
      if (!r.html) { if (current) { current.remove(); rows.delete(r.symbol); } continue; }
      const row = parseRow(r.html);
      if (!row) continue;
      tickAges(row);
      row.classList.add('changed');
      row.dataset.received = String(Date.now());
      if (current) current.replaceWith(row);
      else if (!pageSymbol) tbody.append(row);
      else continue;
      rows.set(r.symbol, row);
      changed.push(row);
      setTimeout(function () { row.classList.remove('changed'); }, 1500);
    }
    pending = [];
    const empty = document.getElementById('empty');
    if (empty && tbody.rows.length) empty.remove();
    applyFilters(changed);
    if (changed.length || touched) sortRows();
    body.dataset.updates = String(Number(body.dataset.updates || 0) + changed.length);
    document.dispatchEvent(new CustomEvent('board:rows', { detail: changed.map(function (r) { return r.dataset.symbol; }) }));
  }
  function queue(r) {
    pending.push(r);
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  }
  function connect() {
    const q = new URLSearchParams({ since: body.dataset.watermark || '' });
    if (pageSymbol) q.set('symbol', pageSymbol);
    const es = new EventSource('/board/events?' + q.toString());
    es.addEventListener('open', function () { loadFeed(); });
    es.addEventListener('ready', function () { setLive('live'); });
    es.addEventListener('error', function () { setLive(es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting'); });
    es.addEventListener('row', function (e) { queue(JSON.parse(e.data)); });
    es.addEventListener('remove', function (e) { queue(JSON.parse(e.data)); });
    es.addEventListener('updated', function (e) { queue({ updated: JSON.parse(e.data) }); });
    es.addEventListener('signal', function (e) { addSignal(JSON.parse(e.data), true); });
    es.addEventListener('columns', function () { location.reload(); });
  }
  if (tbody) connect();

  // The first frame with the table in place and every control bound: the board is usable (the
  // benchmark in test/e2e reads this mark).
  requestAnimationFrame(function () { setTimeout(function () { performance.mark('board-usable'); }, 0); });
})();
