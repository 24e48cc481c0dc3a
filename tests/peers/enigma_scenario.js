// Runs one scenario through the real enigma.js against a QIX engine and prints
// what it saw as JSON on stdout: the layouts before and after a selection, the
// 'changed' event, and the requests sent.
//
// usage: node enigma_scenario.js <ws-url> <app> <delta on|off> <field> <value>
'use strict';

const enigma = require('enigma.js');
const schema = require('enigma.js/schemas/12.2027.0.json');
const WebSocket = require('ws');

const [url, app, deltaFlag, fieldName, value] = process.argv.slice(2);

const cube = {
  qInfo: { qType: 'peer-cube' },
  qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['carrier'] } }],
    qMeasures: [
      { qDef: { qDef: 'Count(flight)' } },
      { qDef: { qDef: 'Avg(dep_delay)' } },
    ],
    qInitialDataFetch: [{ qLeft: 0, qTop: 0, qWidth: 3, qHeight: 50 }],
  },
};

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const session = enigma.create({
    schema,
    url,
    createSocket: (socketUrl) => new WebSocket(socketUrl),
    protocol: { delta: deltaFlag === 'on' },
  });
  const sent = [];
  const received = [];
  session.on('traffic:sent', (frame) => sent.push(frame));
  session.on('traffic:received', (frame) => received.push(frame));

  const global = await session.open();
  const version = await global.engineVersion();
  const doc = await global.openDoc(app);
  const object = await doc.createSessionObject(cube);
  const before = await object.getLayout();
  const beforeAgain = await object.getLayout();

  const changed = new Promise((resolve) => object.once('changed', () => resolve(true)));
  const field = await doc.getField(fieldName);
  const selected = await field.select(value);
  const sawChanged = await withTimeout(changed, 5000, "'changed'");
  const after = await object.getLayout();
  const data = await object.getHyperCubeData('/qHyperCubeDef', [
    { qLeft: 0, qTop: 0, qWidth: 3, qHeight: 5 },
  ]);

  let notFound = null;
  try {
    await doc.getObject('no-such-object');
  } catch (error) {
    notFound = { code: error.code, enigmaError: !!error.enigmaError };
  }
  await session.close();
  process.stdout.write(JSON.stringify({
    version,
    docId: doc.id,
    objectType: object.type,
    genericType: object.genericType,
    before,
    beforeAgainEqual: JSON.stringify(before) === JSON.stringify(beforeAgain),
    selected,
    sawChanged,
    after,
    data,
    notFound,
    sentDelta: sent.map((frame) => frame.delta),
    receivedDelta: received.filter((frame) => frame.id !== undefined).map((frame) => !!frame.delta),
  }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
