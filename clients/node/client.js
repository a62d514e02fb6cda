#!/usr/bin/env node
// aifarm Node client: @grpc/grpc-js with the .proto files of proto/ loaded at run time (nothing generated).
//
// It creates a script task, watches it to completion over the TaskService.WatchTask server stream,
// then asks for an unknown task and reads the NOT_FOUND status with its google.rpc.ErrorInfo detail
// (sent in the grpc-status-details-bin trailer). One line per step; exit 1 on any failed expectation.
//
//   npm ci && node client.js --addr 127.0.0.1:50051 --api-key KEY
//   (or AIFARM_ADDR / AIFARM_API_KEY in the environment)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const REPO = path.resolve(__dirname, '..', '..');
const INCLUDE_DIRS = [path.join(REPO, 'proto'), path.join(REPO, 'third_party', 'googleapis')];

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function loadTaskService() {
  const definition = protoLoader.loadSync('aifarm/v1/task_service.proto', {
    includeDirs: INCLUDE_DIRS,
    keepCase: true, // proto field names: display_name, exit_code, ...
    enums: String, // 'TASK_STATE_COMPLETED'
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).aifarm.v1.TaskService;
}

// google.rpc.Status and its detail types, to decode the grpc-status-details-bin trailer.
function loadStatusTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target); // google/protobuf/*: bundled with protobufjs
  };
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return root;
}

function errorInfo(err, statusTypes) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) fail('not found: no grpc-status-details-bin trailer');
  const status = statusTypes.lookupType('google.rpc.Status').decode(raw);
  for (const detail of status.details) {
    const typeName = detail.type_url.slice(detail.type_url.lastIndexOf('/') + 1);
    if (typeName === 'google.rpc.ErrorInfo') {
      const type = statusTypes.lookupType(typeName);
      return type.toObject(type.decode(detail.value));
    }
  }
  return null;
}

function unary(client, method, request, metadata, deadline) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

function watch(client, request, metadata, deadline, onTask) {
  return new Promise((resolve, reject) => {
    const call = client.WatchTask(request, metadata, { deadline });
    call.on('data', onTask);
    call.on('error', reject);
    call.on('end', resolve);
  });
}

function waitForReady(client) {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + 10000, (err) => (err ? reject(err) : resolve()));
  });
}

// Await a call; any error fails the step it belongs to.
async function step(name, promise) {
  try {
    return await promise;
  } catch (e) {
    return fail(`${name}: ${e.message}`);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      addr: { type: 'string', default: process.env.AIFARM_ADDR || '127.0.0.1:50051' },
      'api-key': { type: 'string', default: process.env.AIFARM_API_KEY || '' },
      timeout: { type: 'string', default: '60' }, // seconds the whole run may take
    },
  });
  if (!values['api-key']) fail('no API key: pass --api-key or set AIFARM_API_KEY');
  const deadline = Date.now() + Number(values.timeout) * 1000;

  const TaskService = loadTaskService();
  const statusTypes = loadStatusTypes();
  const client = new TaskService(values.addr, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${values['api-key']}`);
  try {
    await step(`connect ${values.addr}`, waitForReady(client));
    console.log(`connected: ${values.addr}`);

    // 1. Create a script task.
    const script = { source: 'print("hi from node")\n', entrypoint: 'main.py' };
    const created = await step('create', unary(client, 'CreateTask', { task: { display_name: 'node-client', script } },
      metadata, deadline));
    if (!created.name) fail('create: the task has no name');
    console.log(`created: ${created.name} state=${created.state}`);

    // 2. Watch it over the server stream until the server ends the stream.
    let last = null;
    await step('watch', watch(client, { name: created.name }, metadata, deadline, (t) => {
      last = t;
      console.log(`watch: ${t.name} state=${t.state}`);
    }));
    if (!last) fail('watch: the stream ended without a single update');
    const result = last.result || {};
    if (last.state !== 'TASK_STATE_COMPLETED') {
      fail(`watch: ended in ${last.state} (${result.error}), want TASK_STATE_COMPLETED`);
    }
    if (result.exit_code !== 0) fail(`watch: exit code ${result.exit_code}, want 0`);
    console.log(`completed: ${last.name} exit_code=${result.exit_code}`);

    // 3. An unknown task: NOT_FOUND with a google.rpc.Status detail carrying an ErrorInfo.
    const err = await unary(client, 'GetTask', { name: 'tasks/no-such-task' }, metadata, deadline).then(
      () => fail('not found: GetTask of an unknown task succeeded'),
      (e) => e,
    );
    if (err.code !== grpc.status.NOT_FOUND) {
      fail(`not found: code ${grpc.status[err.code]}, want NOT_FOUND (${err.details})`);
    }
    const info = errorInfo(err, statusTypes);
    if (!info || !info.reason) fail('not found: no google.rpc.ErrorInfo with a reason in the status details');
    console.log(`not found: code=NOT_FOUND reason=${info.reason} domain=${info.domain} ` +
      `message=${JSON.stringify(err.details)}`);
    console.log('ok');
  } finally {
    client.close();
  }
}

main().catch((e) => {
  console.log(`FAIL ${e instanceof Failure ? e.message : e.stack}`);
  process.exitCode = 1;
});
