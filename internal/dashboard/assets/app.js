// Kanaria dashboard: two pages (the rollouts of a namespace, one rollout)
// rendered from the JSON API and kept live by server-sent events. Every
// value from the cluster goes into the page as text, never as markup.
(function () {
  'use strict';

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ALL = '_all';

  // h builds an element: h('a', {href: '/', class: 'x'}, 'text', child, ...).
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    setProps(el, props);
    append(el, children);
    return el;
  }

  // s builds an SVG element the same way.
  function s(tag, props, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setProps(el, props);
    append(el, children);
    return el;
  }

  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  // fill replaces an element's children the way h adds them: arrays are
  // flattened, null, undefined and false left out.
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }

  function age(ts) {
    const t = Date.parse(ts);
    if (!t) return '';
    let sec = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (sec < 60) return sec + 's';
    const min = Math.floor(sec / 60);
    if (min < 60) return min + 'm';
    const hours = Math.floor(min / 60);
    if (hours < 48) return hours + 'h';
    return Math.floor(hours / 24) + 'd';
  }

  function ageEl(ts) {
    return h('span', {class: 'age', 'data-ts': ts, title: ts}, age(ts));
  }

  setInterval(() => {
    for (const el of document.querySelectorAll('.age[data-ts]')) el.textContent = age(el.dataset.ts);
  }, 5000);

  function badge(text, kind) {
    return h('span', {class: 'badge ' + kind + '-' + text}, text);
  }

  function roles(list) {
    return (list || []).map((r) => h('span', {class: 'role role-' + r}, r));
  }

  function images(list) {
    return (list || []).map((img) => h('span', {class: 'image'}, h('code', {}, img.name), roles(img.roles)));
  }

  // The pages show the read model (internal/rolloutview) as the server
  // sends it; these helpers put its values the way the pages word them.
  const STRATEGY_NAMES = {Canary: 'canary', BlueGreen: 'blueGreen'};

  function strategyText(ro) {
    return STRATEGY_NAMES[ro.strategy] || '–';
  }

  function stepText(step) {
    return step ? step.index + '/' + step.total : '–';
  }

  // reached is the weight the desired version receives; 0 until the status reports one.
  function reached(w) {
    return w.reached === undefined || w.reached === null ? 0 : w.reached;
  }

  function weightText(w) {
    return w ? w.set + '% / ' + reached(w) + '%' : '–';
  }

  function byName(a, b) {
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  }

  function setConn(state) {
    const el = document.getElementById('conn');
    el.dataset.state = state;
    el.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'connecting';
  }

  function toast(text, isError) {
    const el = h('div', {class: 'toast' + (isError ? ' error' : ''), role: isError ? 'alert' : 'status'}, text);
    document.getElementById('toasts').append(el);
    setTimeout(() => el.remove(), isError ? 8000 : 4000);
  }

  // live opens the event stream of a page; the browser reconnects by itself.
  function live(url, onSnapshot, onProblem) {
    const es = new EventSource(url);
    es.addEventListener('open', () => setConn('live'));
    es.addEventListener('error', () => setConn('reconnecting'));
    es.addEventListener('snapshot', (e) => { setConn('live'); onSnapshot(JSON.parse(e.data)); });
    es.addEventListener('problem', (e) => { setConn('live'); onProblem(JSON.parse(e.data)); });
    return es;
  }

  async function getJSON(url) {
    const resp = await fetch(url, {headers: {Accept: 'application/json'}});
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error || resp.status + ' ' + resp.statusText);
    return body;
  }

  function rolloutHref(ns, name) {
    return '/rollouts/' + encodeURIComponent(ns) + '/' + encodeURIComponent(name);
  }

  // ---- The rollouts of a namespace ----

  async function listPage(info) {
    const app = document.getElementById('app');
    const params = new URLSearchParams(location.search);
    let ns = params.get('namespace') || info.defaultNamespace;
    const select = h('select', {id: 'namespace', 'data-testid': 'namespace'});
    const note = h('span', {class: 'muted'});
    const body = h('tbody');
    const head = h('thead');
    const problem = h('div');
    fill(app,
      h('div', {class: 'toolbar'}, h('label', {}, 'Namespace ', select), note),
      problem,
      h('table', {class: 'rollouts', 'data-testid': 'rollouts'}, head, body));

    function fillNamespaces(names) {
      const all = names.includes(ns) || ns === ALL ? names : [ns].concat(names);
      fill(select,
        h('option', {value: ALL, selected: ns === ALL}, '(all namespaces)'),
        all.map((n) => h('option', {value: n, selected: n === ns}, n)));
    }
    fillNamespaces([]);
    getJSON('/api/namespaces').then((r) => {
      fillNamespaces(r.namespaces);
      if (r.error) note.textContent = 'cannot list namespaces: ' + r.error;
    }).catch((err) => { note.textContent = 'cannot list namespaces: ' + err.message; });

    let stream = null;
    function connect() {
      if (stream) stream.close();
      document.title = 'Rollouts · ' + (ns === ALL ? 'all namespaces' : ns) + ' · Kanaria';
      fill(body, h('tr', {}, h('td', {class: 'empty'}, 'Loading…')));
      stream = live('/api/events?namespace=' + encodeURIComponent(ns), render, (p) => {
        fill(problem, h('div', {class: 'card problem'}, p.error));
      });
    }
    select.addEventListener('change', () => {
      ns = select.value;
      history.replaceState(null, '', '/?namespace=' + encodeURIComponent(ns));
      connect();
    });

    function render(list) {
      fill(problem);
      const showNS = list.namespace === '';
      fill(head, h('tr', {},
        h('th', {}, 'Name'), showNS && h('th', {}, 'Namespace'), h('th', {}, 'Status'), h('th', {}, 'Strategy'),
        h('th', {}, 'Step'), h('th', {}, 'Weight (set / actual)'), h('th', {}, 'Images'), h('th', {}, 'Age')));
      if (list.rollouts.length === 0) {
        fill(body, h('tr', {}, h('td', {class: 'empty', colspan: 8},
          'No Rollouts in ' + (showNS ? 'any namespace' : 'namespace ' + list.namespace) + '.')));
        return;
      }
      fill(body, ...list.rollouts.map((ro) => h('tr', {'data-rollout': ro.namespace + '/' + ro.name},
        h('td', {class: 'name'}, h('a', {href: rolloutHref(ro.namespace, ro.name)}, ro.name)),
        showNS && h('td', {}, ro.namespace),
        h('td', {title: ro.statusMessage || ''}, badge(ro.status, 'st')),
        h('td', {}, strategyText(ro)),
        h('td', {}, stepText(ro.step)),
        h('td', {}, weightText(ro.weights)),
        h('td', {}, images(ro.images)),
        h('td', {}, ageEl(ro.createdAt)))));
    }
    connect();
  }

  // ---- One rollout ----

  function confirmDialog(text, okLabel) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = okLabel;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
      dialog.showModal();
    });
  }

  const ACTIONS = [
    {action: 'promote', label: 'Promote', title: 'Go on past the current pause', cls: 'primary'},
    {action: 'promote-full', label: 'Promote full', title: 'Skip every remaining step, pause and analysis',
      confirm: (name) => 'Promote ' + name + ' fully? Every remaining step, pause and analysis is skipped and the new version takes all traffic.'},
    {action: 'abort', label: 'Abort', title: 'Send traffic and Pods back to the stable version', cls: 'danger',
      confirm: (name) => 'Abort ' + name + '? Traffic and Pods go back to the stable version.'},
    {action: 'retry', label: 'Retry', title: 'Run the steps again after an abort'},
    {action: 'restart', label: 'Restart', title: 'Restart every Pod, a few at a time',
      confirm: (name) => 'Restart every Pod of ' + name + '? They are replaced a few at a time.'},
  ];

  function detailPage(info, ns, name) {
    const app = document.getElementById('app');
    document.title = name + ' · ' + ns + ' · Kanaria';
    const header = h('section', {class: 'card header', 'data-testid': 'header'}, h('p', {class: 'loading'}, 'Loading…'));
    const problem = h('div');
    const steps = h('section', {class: 'card', 'data-testid': 'steps'});
    const revisions = h('section', {class: 'card', 'data-testid': 'revisions'});
    const others = h('div');
    let actions = null;
    const containerSelect = h('select', {name: 'container', 'data-testid': 'container'});
    if (!info.readOnly) actions = actionBar();
    fill(app,
      h('nav', {class: 'breadcrumb'}, h('a', {href: '/?namespace=' + encodeURIComponent(ns)}, 'Rollouts'), ' › ', ns, ' › ', name),
      problem, header, actions, steps, revisions, others);

    function actionBar() {
      const buttons = ACTIONS.map((a) => h('button', {
        type: 'button', class: a.cls, title: a.title, 'data-action': a.action,
        onclick: async () => {
          if (a.confirm && !(await confirmDialog(a.confirm(name), a.label))) return;
          run(a.action, null);
        },
      }, a.label));
      const image = h('input', {type: 'text', name: 'image', placeholder: 'new image, e.g. registry.example/app:1.2', 'data-testid': 'image', required: true});
      const form = h('form', {class: 'set-image', onsubmit: (e) => {
        e.preventDefault();
        const req = {container: containerSelect.value, image: image.value.trim()};
        confirmDialog('Set the image of container ' + req.container + ' of ' + name + ' to ' + req.image + '? This starts a new release.', 'Set image')
          .then((yes) => yes && run('set-image', req))
          .then((ok) => { if (ok) image.value = ''; });
      }}, containerSelect, image, h('button', {type: 'submit', 'data-action': 'set-image'}, 'Set image'));
      const bar = h('section', {class: 'card', 'data-testid': 'actions'},
        h('div', {class: 'actions'}, buttons, h('span', {class: 'sep'}), form));

      async function run(action, payload) {
        const all = bar.querySelectorAll('button');
        all.forEach((b) => { b.disabled = true; });
        try {
          const resp = await fetch('/api/namespaces/' + encodeURIComponent(ns) + '/rollouts/' + encodeURIComponent(name) + '/' + action, {
            method: 'POST',
            headers: {'Content-Type': 'application/json', Accept: 'application/json'},
            body: JSON.stringify(payload || {}),
          });
          const body = await resp.json().catch(() => ({}));
          if (!resp.ok) throw new Error(body.error || resp.status + ' ' + resp.statusText);
          toast(body.message || action + ': done');
          return true;
        } catch (err) {
          toast(action + ' failed: ' + err.message, true);
          return false;
        } finally {
          all.forEach((b) => { b.disabled = false; });
        }
      }
      return bar;
    }

    function renderHeader(d) {
      const pauseReasons = d.pauseReasons || [];
      const paused = pauseReasons.length > 0 || d.specPaused;
      fill(header,
        h('h1', {}, d.name, h('span', {class: 'badge st-' + d.status, 'data-testid': 'status'}, d.status)),
        d.statusMessage ? h('p', {class: 'message', 'data-testid': 'message'}, d.statusMessage) : null,
        h('dl', {class: 'facts'},
          h('dt', {}, 'Strategy'), h('dd', {}, strategyText(d)),
          d.step && [h('dt', {}, 'Step'), h('dd', {}, h('span', {class: 'step-counter', 'data-testid': 'step'}, stepText(d.step)))],
          d.weights && [h('dt', {}, 'Weight'), h('dd', {'data-testid': 'weight'}, 'set ' + d.weights.set + '% · actual ' + reached(d.weights) + '%')],
          h('dt', {}, 'Images'), h('dd', {}, images(d.images)),
          h('dt', {}, 'Replicas'), h('dd', {}, 'desired ' + d.replicas.desired + ' · current ' + d.replicas.current +
            ' · updated ' + d.replicas.updated + ' · ready ' + d.replicas.ready + ' · available ' + d.replicas.available),
          paused && [h('dt', {}, 'Paused'), h('dd', {}, [d.specPaused ? 'spec.paused' : null].concat(pauseReasons).filter(Boolean).join(', '))],
          d.aborted && [h('dt', {}, 'Aborted'), h('dd', {}, 'yes: Retry runs the steps again')],
          h('dt', {}, 'Age'), h('dd', {}, ageEl(d.createdAt))));
    }

    function renderSteps(d) {
      const list = d.step ? d.step.steps : [];
      if (!list.length) {
        fill(steps, h('h2', {}, 'Steps'), h('p', {class: 'empty'},
          d.strategy === 'BlueGreen' ? 'Blue-green: no steps.' : 'No steps: each update goes straight to 100%.'));
        return;
      }
      const paused = d.status === 'Paused';
      fill(steps, h('h2', {}, 'Steps'), h('ol', {class: 'steps'}, list.map((st) => h('li', {
        class: st.state + (st.state === 'current' && paused ? ' paused' : ''),
        'data-testid': 'step-' + st.index, 'data-state': st.state,
      }, (st.index + 1) + '. ' + st.description,
      st.state === 'current' && h('span', {class: 'step-note'}, paused ? 'paused here' : 'in progress')))));
    }

    // renderRevisions shows the revisions newest first, each with its
    // ReplicaSets by name and its runs and Experiments newest first (the read
    // model lists those oldest first); the runs of revision 0, whose revision
    // could not be told, go to a section of their own.
    function renderRevisions(d) {
      const newestFirst = (list) => (list || []).slice().reverse();
      const all = d.revisions || [];
      const unknown = all.find((rev) => rev.number === 0);
      const shown = all.filter((rev) => rev.number !== 0 ||
        (rev.replicaSets || []).length > 0 || (rev.experiments || []).length > 0);
      if (!shown.length) {
        fill(revisions, h('h2', {}, 'Revisions'), h('p', {class: 'empty'}, 'No ReplicaSets yet.'));
      } else {
        fill(revisions, h('h2', {}, 'Revisions'), shown.map((rev) => h('div', {class: 'revision', 'data-revision': rev.number},
          h('h3', {}, 'Revision ' + (rev.number || '?'), roles(rev.roles)),
          (rev.replicaSets || []).slice().sort(byName).map(renderReplicaSet),
          rev.number === 0 ? [] : newestFirst(rev.analysisRuns).map(renderRun),
          newestFirst(rev.experiments).map(renderExperiment))));
      }
      const otherRuns = unknown ? newestFirst(unknown.analysisRuns) : [];
      fill(others, otherRuns.length ? h('section', {class: 'card'},
        h('h2', {}, 'Other AnalysisRuns'), otherRuns.map(renderRun)) : null);
    }

    function renderExperiment(ex) {
      return h('div', {class: 'rs', 'data-testid': 'experiment', 'data-experiment': ex.name},
        h('div', {class: 'rs-head'}, 'Experiment ', h('code', {}, ex.name), badge(ex.phase, 'st'),
          ex.current ? h('span', {class: 'muted'}, 'current step') : null,
          ex.message ? h('span', {class: 'muted'}, ex.message) : null),
        h('ul', {}, ex.templates.map((t) => h('li', {},
          'template ', h('code', {}, t.name), ' ', t.status, ' · ' + t.available + '/' + t.replicas + ' available',
          t.serviceName ? [' · Service ', h('code', {}, t.serviceName)] : null)),
        ex.analyses.map((r) => h('li', {},
          'analysis ', h('code', {}, r.name), ' (', h('code', {}, r.analysisRun), ') ', r.phase,
          r.message ? ': ' + r.message : ''))));
    }

    function renderReplicaSet(rs) {
      return h('div', {class: 'rs'},
        h('div', {class: 'rs-head'}, h('code', {}, rs.name), badge(rs.status, 'st'),
          h('span', {class: 'rs-counts'}, 'desired ' + rs.desired + ' · current ' + rs.current + ' · ready ' + rs.ready + ' · available ' + rs.available),
          (rs.images || []).map((img) => h('code', {class: 'muted'}, img)),
          (rs.config || []).map((c) => h('code', {class: 'muted', title: 'configuration copy'}, c))),
        rs.pods.length ? h('table', {class: 'pods'},
          h('thead', {}, h('tr', {}, h('th', {}, 'Pod'), h('th', {}, 'Status'), h('th', {}, 'Ready'), h('th', {}, 'Restarts'), h('th', {}, 'Age'))),
          h('tbody', {}, rs.pods.slice().sort(byName).map((p) => h('tr', {},
            h('td', {}, h('code', {}, p.name)),
            h('td', {}, h('span', {class: 'dot ' + podClass(p)}), p.status),
            h('td', {}, p.readyContainers + '/' + p.containers),
            h('td', {}, String(p.restarts)),
            h('td', {}, ageEl(p.createdAt)))))) : null);
    }

    function podClass(p) {
      if (p.ready) return 'ok';
      if (p.status === 'Running' || p.status === 'Pending' || p.status === 'ContainerCreating' || p.status === 'Terminating') return 'warn';
      return 'bad';
    }

    function renderRun(run) {
      const kind = run.kind ? run.kind + ' analysis' + (run.stepIndex !== undefined && run.stepIndex !== null ? ' (step ' + (run.stepIndex + 1) + ')' : '') : 'analysis';
      return h('div', {class: 'run', 'data-run': run.name},
        h('div', {class: 'run-head'}, h('code', {}, run.name), badge(run.phase, 'ph'), h('span', {class: 'run-kind'}, kind), ageEl(run.createdAt)),
        run.message ? h('p', {class: 'message'}, run.message) : null,
        h('table', {class: 'metrics'},
          h('thead', {}, h('tr', {}, h('th', {}, 'Metric'), h('th', {}, 'Phase'), h('th', {}, 'Measurements'), h('th', {}, 'Last value'), h('th', {}, 'Over time'))),
          h('tbody', {}, run.metrics.flatMap((m) => {
            const last = m.measurements[m.measurements.length - 1];
            const row = h('tr', {},
              h('td', {}, m.name, m.dryRun ? h('span', {class: 'role'}, 'dry-run') : null),
              h('td', {}, badge(m.phase, 'ph')),
              h('td', {class: 'counts', title: 'successful / failed / inconclusive / error'},
                '✓' + m.successful + ' ✗' + m.failed + ' ?' + m.inconclusive + ' !' + m.error),
              h('td', {}, last ? h('code', {title: last.message || ''}, last.value || last.phase) : '–'),
              h('td', {}, chart(m.measurements)));
            return last && last.judgement ? [row, judgementRow(last)] : [row];
          }))));
    }

    // judgementRow shows why a kanaria.dev/compare measurement decided:
    // each compared metric's class, p-value, interval of the shift, effect
    // and sample counts, under the score.
    function judgementRow(ms) {
      const j = ms.judgement;
      return h('tr', {class: 'judgement'}, h('td', {colspan: 5},
        h('div', {class: 'judgement-head'}, 'Canary vs baseline: score ', h('strong', {'data-testid': 'judgement-score'}, j.score),
          ms.message ? h('span', {class: 'muted'}, ' · ' + ms.message) : null),
        h('table', {class: 'judgement-table', 'data-testid': 'judgement'},
          h('thead', {}, h('tr', {}, ['Metric', 'Class', 'p', 'Interval (canary − baseline)', 'Shift', 'Effect', 'Samples', 'Method']
            .map((c) => h('th', {}, c)))),
          h('tbody', {}, j.metrics.map((m) => h('tr', {'data-metric': m.name},
            h('td', {}, m.name, m.critical ? h('span', {class: 'role'}, 'critical') : null),
            h('td', {}, h('span', {class: 'class class-' + m.class.toLowerCase()}, m.class)),
            h('td', {}, h('code', {}, m.p)),
            h('td', {}, h('code', {}, m.interval), m.confidence ? h('span', {class: 'muted'}, ' at ' + m.confidence) : null),
            h('td', {}, h('code', {}, m.estimate)),
            h('td', {}, h('code', {title: "canary's location as a ratio of the baseline's"}, m.effect === 'NaN' ? '–' : '×' + m.effect)),
            h('td', {title: 'canary / baseline' + (m.removed ? ', ' + m.removed + ' outliers removed' : '')}, m.n),
            h('td', {class: 'muted'}, m.method || '')))))));
    }

    let stream = null;
    function connect() {
      stream = live('/api/events?namespace=' + encodeURIComponent(ns) + '&rollout=' + encodeURIComponent(name), (d) => {
        fill(problem);
        renderHeader(d);
        renderSteps(d);
        renderRevisions(d);
        const current = containerSelect.value;
        fill(containerSelect, ...d.containers.map((c) => h('option', {value: c.name, selected: c.name === current},
          (c.init ? 'init: ' : '') + c.name)));
      }, (p) => {
        fill(problem, h('div', {class: 'card problem', 'data-testid': 'problem'},
          p.code === 404 ? 'Rollout ' + ns + '/' + name + ' does not exist (any more).' : p.error));
      });
    }
    connect();
    return stream;
  }

  const PHASE_COLORS = {
    Successful: '#1f8f4e', Failed: '#cf3434', Error: '#8e2bb8', Inconclusive: '#c27c00', Running: '#2563c9', Pending: '#8a93a6',
  };

  // chart draws a metric's measurements over time: the value when it is a
  // number, otherwise a point on the baseline; each point in its phase's colour.
  function chart(measurements) {
    const W = 260, H = 56, PX = 8, PY = 8;
    const pts = measurements
      .map((m) => ({m, t: Date.parse(m.finishedAt || m.startedAt || '')}))
      .filter((p) => !Number.isNaN(p.t));
    const svg = s('svg', {class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'aria-label': measurements.length + ' measurements'});
    if (!pts.length) {
      svg.append(s('text', {x: PX, y: H / 2 + 3}, 'no measurements yet'));
      return svg;
    }
    const t0 = Math.min(...pts.map((p) => p.t)), t1 = Math.max(...pts.map((p) => p.t));
    const nums = pts.filter((p) => typeof p.m.number === 'number').map((p) => p.m.number);
    const v0 = nums.length ? Math.min(...nums) : 0, v1 = nums.length ? Math.max(...nums) : 0;
    // Room on the left for the value scale.
    const L = nums.length ? 34 : PX;
    const x = (p, i) => t1 > t0 ? L + (p.t - t0) / (t1 - t0) * (W - L - PX) : (pts.length > 1 ? L + i / (pts.length - 1) * (W - L - PX) : (W + L - PX) / 2);
    const y = (v) => v1 > v0 ? H - PY - (v - v0) / (v1 - v0) * (H - 2 * PY) : H / 2;
    const line = [];
    pts.forEach((p, i) => {
      const isNum = typeof p.m.number === 'number';
      const cx = x(p, i), cy = isNum ? y(p.m.number) : H - PY / 2 - 1;
      if (isNum) line.push(cx.toFixed(1) + ',' + cy.toFixed(1));
      p.cx = cx; p.cy = cy;
    });
    if (line.length > 1) svg.append(s('polyline', {points: line.join(' ')}));
    if (nums.length) {
      svg.append(s('text', {x: 2, y: 9}, fmt(v1)));
      if (v1 > v0) svg.append(s('text', {x: 2, y: H - 2}, fmt(v0)));
    }
    for (const p of pts) {
      const when = new Date(p.t).toLocaleTimeString();
      svg.append(s('circle', {cx: p.cx.toFixed(1), cy: p.cy.toFixed(1), r: 3.5, fill: PHASE_COLORS[p.m.phase] || '#8a93a6', 'data-phase': p.m.phase},
        s('title', {}, when + ' · ' + (p.m.value || '(no value)') + ' · ' + p.m.phase + (p.m.message ? ' · ' + p.m.message : ''))));
    }
    return svg;
  }

  function fmt(v) {
    return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : String(Math.round(v * 1000) / 1000);
  }

  async function main() {
    let info;
    try {
      info = await getJSON('/api/info');
    } catch (err) {
      fill(document.getElementById('app'), h('div', {class: 'card problem'}, 'Cannot reach the dashboard server: ' + err.message));
      return;
    }
    if (info.readOnly) document.getElementById('mode').textContent = 'read-only';
    const m = location.pathname.match(/^\/rollouts\/([^/]+)\/([^/]+)\/?$/);
    if (m) detailPage(info, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    else listPage(info);
  }

  main();
})();
