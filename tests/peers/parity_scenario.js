// The side-by-side scenario, enigma.js half: runs the scenario of
// test_enigma_parity.py through the real enigma.js and prints, as JSON on
// stdout, every request sent, every event seen (in order) and every result.
// The Python half runs the same steps through rxqix; the test compares both.
//
// usage: node parity_scenario.js <engine base url> <app> <run name>
'use strict';

const enigma = require('enigma.js');
const schema = require('enigma.js/schemas/12.2027.0.json');
const WebSocket = require('ws');

const [baseUrl, app, run] = process.argv.slice(2);

// Two sessions: one kept by the engine for 30 s after its socket closes (so
// resume attaches), one not kept (so resume finds a new engine session).
const keptUrl = `${baseUrl}/app/${app}/identity/${run}-kept/ttl/30`;
const plainUrl = `${baseUrl}/app/${app}/identity/${run}-plain`;

const CUBE = {
  qInfo: { qId: 'parity-cube', qType: 'parity-cube' },
  qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['carrier'] } }],
    qMeasures: [{ qDef: { qDef: 'Count(flight)' } }, { qDef: { qDef: 'Sum(distance)' } }],
    qInitialDataFetch: [{ qLeft: 0, qTop: 0, qWidth: 3, qHeight: 20 }],
  },
  title: { qStringExpression: { qExpr: "='Flights: ' & Count(flight)" } },
};
const OTHER_CUBE = {
  qInfo: { qId: 'parity-other', qType: 'parity-cube' },
  qHyperCubeDef: {
    qDimensions: [{ qDef: { qFieldDefs: ['origin'] } }],
    qMeasures: [{ qDef: { qDef: 'Avg(dep_delay)' } }],
    qInitialDataFetch: [{ qLeft: 0, qTop: 0, qWidth: 2, qHeight: 5 }],
  },
};

const events = [];
const sent = [];
const results = {};

function log(...entry) {
  // A JSON copy: enigma.js may change objects it handed out later on.
  events.push(JSON.parse(JSON.stringify(entry)));
}

function errorOf(error) {
  const out = { code: error.code, message: error.message };
  if (error.parameter !== undefined) out.parameter = error.parameter;
  out.enigmaError = !!error.enigmaError;
  return out;
}

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return errorOf(error);
  }
  throw new Error('expected a rejection');
}

// Every API object the scenario gets is named, so that events can be told apart.
function watch(api, name) {
  api.on('changed', () => log('api', name, 'changed'));
  api.on('closed', () => log('api', name, 'closed'));
  return api;
}

const mixins = [
  {
    types: ['Global'],
    extend: {
      tweet() {
        return this.productVersion().then((version) => `${this.id} runs ${version}`);
      },
    },
  },
  {
    types: ['Doc'],
    override: {
      createSessionObject(base, props) {
        log('override', 'createSessionObject', props.qInfo.qId);
        return base(props);
      },
    },
  },
  {
    types: ['Global', 'Doc', 'GenericObject'],
    init({ api }) {
      log('init', api.type, api.id, api.genericType);
    },
  },
  {
    types: ['parity-cube'],
    extend: {
      rowCount() {
        return this.getLayout().then((layout) => layout.qHyperCube.qSize.qcy);
      },
    },
    init({ api }) {
      log('init:parity-cube', api.id);
    },
  },
];

const requestInterceptors = [
  {
    // examples/interceptors/toggle-delta: no delta for Global's EngineVersion.
    onFulfilled(session, request) {
      if (request.method === 'EngineVersion' && request.handle === -1) {
        request.delta = false;
      }
      return request;
    },
  },
];

const MAX_RETRIES = 3;
const responseInterceptors = [
  {
    // examples/interceptors/retry-aborted: retry code 15 up to three times.
    onRejected(session, request, error) {
      log('rejected', request.method, error.code);
      if (error.code === 15) {
        request.tries = (request.tries || 0) + 1;
        if (request.tries <= MAX_RETRIES) {
          log('retry', request.method, request.tries);
          return request.retry();
        }
      }
      return this.Promise.reject(error);
    },
  },
];

function createSession(url) {
  const session = enigma.create({
    schema,
    url,
    createSocket: (socketUrl) => new WebSocket(socketUrl),
    mixins,
    requestInterceptors,
    responseInterceptors,
  });
  session.on('opened', () => log('session', 'opened'));
  session.on('closed', (event) => log('session', 'closed', { code: event.code, reason: event.reason }));
  session.on('suspended', (event) => log('session', 'suspended', event));
  session.on('resumed', () => log('session', 'resumed'));
  session.on('notification:OnConnected', (params) => log('notification:OnConnected', params));
  session.on('traffic:sent', (frame) => sent.push(JSON.parse(JSON.stringify(frame))));
  return session;
}

async function keptSession() {
  log('step', 'kept session');
  const session = createSession(keptUrl);
  const global = watch(await session.open(), 'global');
  results.engineVersion = await global.engineVersion();
  results.tweet = await global.tweet();

  const doc = watch(await global.openDoc(app), 'doc');
  results.doc = { type: doc.type, id: doc.id, genericType: doc.genericType, handle: doc.handle };
  const cube = watch(await doc.createSessionObject(CUBE), 'cube');
  results.cube = {
    type: cube.type,
    id: cube.id,
    genericType: cube.genericType,
    handle: cube.handle,
  };
  results.layout = await cube.getLayout();
  results.rowCount = await cube.rowCount();

  log('step', 'evaluate, aborted twice by the engine');
  results.evaluate = await doc.evaluate('Count(flight)');

  log('step', 'select');
  const field = watch(await doc.getField('origin'), 'field');
  results.select = await field.select('JFK');
  results.selectedLayout = await cube.getLayout();

  log('step', 'errors');
  results.notFound = await failure(doc.getObject('no-such-object'));
  results.badMethod = await failure(
    session.send({ handle: cube.handle, method: 'Clear', params: [], outKey: -1 }),
  );
  results.badPath = await failure(
    cube.getHyperCubeData('/qNoSuchDef', [{ qLeft: 0, qTop: 0, qWidth: 1, qHeight: 1 }]),
  );

  log('step', 'suspend and resume, attached');
  const properties = await cube.getProperties();
  const handles = { doc: doc.handle, cube: cube.handle };
  await session.suspend();
  results.whileSuspended = await failure(cube.getLayout());
  await session.resume();
  results.attached = {
    docHandleChanged: doc.handle !== handles.doc,
    cubeHandleChanged: cube.handle !== handles.cube,
    sameProperties: JSON.stringify(await cube.getProperties()) === JSON.stringify(properties),
  };
  results.resumedLayout = await cube.getLayout();
  await session.close();
}

async function plainSession() {
  log('step', 'plain session');
  const session = createSession(plainUrl);
  const global = watch(await session.open(), 'global2');
  const doc = watch(await global.openDoc(app), 'doc2');
  await doc.setAppProperties({ qTitle: 'parity', test: true });
  const cube = watch(await doc.createSessionObject(CUBE), 'cube2');
  results.plainLayout = await cube.getLayout();

  log('step', 'suspend and resume, created');
  const handles = { doc: doc.handle, cube: cube.handle };
  await session.suspend();
  await session.resume();
  results.created = { docHandle: doc.handle, oldDocHandle: handles.doc };
  results.appProperties = await doc.getAppProperties();
  const other = watch(await doc.createSessionObject(OTHER_CUBE), 'other');
  results.other = { handle: other.handle, id: other.id, oldCubeHandle: handles.cube };
  results.otherLayout = await other.getLayout();
  await session.close();
}

async function main() {
  await keptSession();
  await plainSession();
  process.stdout.write(JSON.stringify({ events, sent, results }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
