// enigma.js (npm, the one under tests/peers) as a benchmark peer.
//
// Started by run.py once per job: reads the job as JSON on stdin, runs the
// figure's workload against the same engine as the Python peers and writes
// one JSON object on stdout, {"metrics": {name: [samples]}} or
// {"skipped": reason}. Run with --expose-gc for the memory figure.
'use strict';

const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'tests', 'peers', 'node_modules');
const enigma = require(path.join(modules, 'enigma.js'));
const schema = require(path.join(modules, 'enigma.js', 'schemas', '12.2027.0.json'));
const WebSocket = require(path.join(modules, 'ws'));

function now() {
  return performance.now();
}

function session(url, delta, onSocket) {
  return enigma.create({
    schema,
    url,
    createSocket: (socketUrl) => {
      const socket = new WebSocket(socketUrl, { perMessageDeflate: false });
      if (onSocket) onSocket(socket);
      return socket;
    },
    protocol: { delta },
  });
}

// CPU time of this process (user and system) in microseconds.
function cpu() {
  const used = process.cpuUsage();
  return used.user + used.system;
}

function rowsOf(layout) {
  return layout.qHyperCube.qDataPages[0].qMatrix.length;
}

async function sequential(job) {
  const s = session(job.url, false);
  const global = await s.open();
  for (let i = 0; i < job.warmup; i += 1) await global.engineVersion();
  const rates = [];
  const cpus = [];
  for (let r = 0; r < job.rounds; r += 1) {
    const started = now();
    const used = cpu();
    for (let i = 0; i < job.calls; i += 1) await global.engineVersion();
    rates.push(job.calls / ((now() - started) / 1000));
    cpus.push((cpu() - used) / job.calls);
  }
  await s.close();
  return { metrics: { 'calls/s': rates, 'client CPU us per call': cpus } };
}

async function pipelined(job) {
  const s = session(job.url, false);
  const global = await s.open();
  await Promise.all(Array.from({ length: 100 }, () => global.engineVersion()));
  const rates = [];
  const cpus = [];
  for (let r = 0; r < job.rounds; r += 1) {
    const started = now();
    const used = cpu();
    const calls = [];
    for (let i = 0; i < job.calls; i += 1) calls.push(global.engineVersion());
    const versions = await Promise.all(calls);
    rates.push(job.calls / ((now() - started) / 1000));
    cpus.push((cpu() - used) / job.calls);
    if (versions.length !== job.calls) throw new Error('lost calls');
  }
  await s.close();
  return { metrics: { 'calls/s': rates, 'client CPU us per call': cpus } };
}

async function layouts(job) {
  const s = session(job.url, false);
  const global = await s.open();
  const doc = await global.openDoc(job.app);
  const small = await doc.createSessionObject(job.props);
  const big = await doc.getObject(job.big_id);
  const metrics = {};
  const cases = [
    ['small', small, job.small_rounds, job.small_rows],
    ['big', big, job.big_rounds, job.big_rows],
  ];
  for (const [name, object, rounds, rows] of cases) {
    if (rowsOf(await object.getLayout()) !== rows) throw new Error('wrong rows');
    const samples = [];
    const cpus = [];
    metrics[`${name} layout ms`] = samples;
    metrics[`${name} layout client CPU ms`] = cpus;
    for (let r = 0; r < rounds; r += 1) {
      const started = now();
      const used = cpu();
      const layout = await object.getLayout();
      samples.push(now() - started);
      cpus.push((cpu() - used) / 1000);
      if (rowsOf(layout) !== rows) throw new Error('wrong rows');
    }
  }
  await s.close();
  return { metrics };
}

async function delta(job) {
  let received = 0;
  const s = session(job.url, job.delta, (socket) => {
    socket.on('message', (data) => { received += data.length; });
  });
  const global = await s.open();
  const doc = await global.openDoc(job.app);
  const props = JSON.parse(JSON.stringify(job.props));
  const object = await doc.createSessionObject(props);
  await object.getLayout();
  const scale = 100 / job.changes;
  const kilobytes = [];
  const times = [];
  for (let r = 0; r < job.rounds; r += 1) {
    const before = received;
    const started = now();
    let layout;
    for (let i = 0; i < job.changes; i += 1) {
      props.title = `round ${r} change ${i}`;
      await object.setProperties(props);
      layout = await object.getLayout();
    }
    times.push((now() - started) * scale);
    kilobytes.push(((received - before) / 1024) * scale);
    if (layout.title !== props.title) throw new Error('stale title');
  }
  await s.close();
  return {
    metrics: {
      'KB received per 100 GetLayouts': kilobytes,
      'ms per 100 GetLayouts': times,
    },
  };
}

function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, Math.max(0, ms)); });
}

async function storm(job) {
  const s = session(job.url, true);
  const global = await s.open();
  const doc = await global.openDoc(job.app);
  const objects = [];
  for (const props of job.objects) objects.push(await doc.createSessionObject(props));
  const latest = new Map();
  await Promise.all(objects.map(async (object) => {
    latest.set(object.handle, await object.getLayout());
  }));
  // The usual enigma.js pattern: fetch the layout again on every 'changed'.
  for (const object of objects) {
    object.on('changed', () => {
      object.getLayout().then((layout) => latest.set(object.handle, layout));
    });
  }
  const field = await doc.getField(job.field);

  let sent = 0;
  let lastActivity = now();
  const pending = new Map();
  const lastReply = new Map();
  s.on('traffic:sent', (frame) => {
    if (frame.method === 'GetLayout') {
      sent += 1;
      pending.set(frame.id, frame.handle);
      lastActivity = now();
    }
  });
  s.on('traffic:received', (frame) => {
    if (pending.has(frame.id)) {
      lastReply.set(pending.get(frame.id), now());
      pending.delete(frame.id);
      lastActivity = now();
    }
  });

  const started = now();
  const selections = [];
  for (let k = 0; k < job.values.length; k += 1) {
    await sleep(started + k * job.interval_ms - now());
    selections.push(field.select(job.values[k]));
  }
  const lastSent = now();
  await Promise.all(selections);
  while (pending.size > 0 || now() - lastActivity < 300) await sleep(20);
  s.removeAllListeners('traffic:sent');
  s.removeAllListeners('traffic:received');
  for (const object of objects) object.removeAllListeners('changed');

  let stale = 0;
  for (const object of objects) {
    const reference = await object.getLayout();
    if (JSON.stringify(reference) !== JSON.stringify(latest.get(object.handle))) {
      stale += 1;
    }
  }
  const fresh = Math.max(...objects.map((object) => lastReply.get(object.handle)));
  await s.close();
  return {
    metrics: {
      'GetLayout requests': [sent],
      'ms to fresh after last selection': [fresh - lastSent],
      'stale layouts at the end': [stale],
      'ms to send every selection': [lastSent - started],
    },
  };
}

function rss() {
  if (global.gc) global.gc();
  return process.memoryUsage().rss;
}

async function memory(job) {
  async function openOne() {
    const s = session(job.url, true);
    const g = await s.open();
    return { s, doc: await g.openDoc(job.app) };
  }
  async function liveObjects(doc, count) {
    const kept = [];
    for (let i = 0; i < count; i += 1) {
      const object = await doc.createSessionObject(job.props);
      const slot = { layout: await object.getLayout() };
      object.on('changed', () => {
        object.getLayout().then((layout) => { slot.layout = layout; });
      });
      kept.push({ object, slot });
    }
    return kept;
  }
  const warm = await openOne();
  const warmObjects = await liveObjects(warm.doc, job.objects);
  const base = rss();
  const opened = [];
  const batch = 50;
  for (let start = 0; start < job.sessions; start += batch) {
    const count = Math.min(batch, job.sessions - start);
    opened.push(...await Promise.all(Array.from({ length: count }, openOne)));
  }
  const withSessions = rss();
  const kept = [];
  for (let start = 0; start < opened.length; start += batch) {
    const slice = opened.slice(start, start + batch);
    kept.push(...await Promise.all(slice.map((o) => liveObjects(o.doc, job.objects))));
  }
  const withObjects = rss();
  if (kept.length !== job.sessions || !warmObjects.length) throw new Error('lost');
  return {
    metrics: {
      'KB per session': [(withSessions - base) / job.sessions / 1024],
      'KB per live object': [
        (withObjects - withSessions) / (job.sessions * job.objects) / 1024,
      ],
    },
    info: { sessions: job.sessions, objects_per_session: job.objects },
  };
}

const HANDLERS = {
  f1: sequential,
  f2: pipelined,
  f3: layouts,
  f4: delta,
  f5: storm,
  f6: memory,
};

async function main() {
  const job = JSON.parse(fs.readFileSync(0, 'utf8'));
  const handler = HANDLERS[job.figure];
  const result = handler
    ? await handler(job)
    : { skipped: `no workload for ${job.figure}` };
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
