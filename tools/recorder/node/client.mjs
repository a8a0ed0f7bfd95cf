#!/usr/bin/env node
// A scripted Deepgram-style streaming client on Node's `ws`, for recording sample captures.
//
// The Node twin of ../client.py: it connects from a fixed source address (`localAddress`),
// sends `Authorization: Token …` (an obviously fake key), streams 16 kHz linear16 mono
// "audio" (a quiet sine) in 100 ms chunks paced in real time, and logs every event the
// library gives (open, each message, ping/pong, close code + reason, error) with UTC ISO
// timestamps, because those lines are what a support ticket from a Node app attaches.
// Recordings talk only to loopback (127.0.0.0/8 or ::1): anything else is refused.
//
// Steps (run in order, like client.py):
//   audio:SECONDS           stream audio in real time
//   keepalive:SECONDS[:K]   pause audio, sending {"type": "KeepAlive"} (text) every K s
//   silence:SECONDS         send nothing at all
//   closestream[:TIMEOUT]   send {"type": "CloseStream"} and wait for the server's close
//   wait-close[:TIMEOUT]    send nothing and wait until the server closes
//
// Usage: node client.mjs --url ws://127.0.0.21:8080/v1/listen?... --bind 127.0.0.11
//        --log client.log audio:2 wait-close:30
// It prints "open ADDR:PORT" once the upgrade is done (the recorder may SIGKILL it a known
// time later) and "closed CODE" at the end. Exit status: 0 after a close, 1 on error.
// The command line is client.py's (the recorder builds one for both): --url, --bind, --log,
// --token, then the steps. `ws` comes from ./node_modules: run ./setup.sh (npm ci) first.

import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let WebSocket;
try {
  WebSocket = require('ws');
} catch (err) {
  process.stderr.write('client.mjs: the ws package is missing; run node/setup.sh (npm ci)\n');
  process.exit(2);
}

const DEFAULT_URL =
  'ws://127.0.0.21:8080/v1/listen?encoding=linear16&sample_rate=16000&channels=1&model=nova-3';
const FAKE_TOKEN = 'dg_test_0123456789abcdef'; // obviously fake; never a real key
const SAMPLE_RATE = 16000;
const CHUNK_SECONDS = 0.1; // 100 ms -> 3200 bytes of linear16 mono at 16 kHz
const TONE_HZ = 440;
const TONE_AMPLITUDE = 600; // quiet: about -35 dBFS
const STEP_KINDS = new Set(['audio', 'keepalive', 'silence', 'closestream', 'wait-close']);

/** Log lines in the same shape as the Python recorder's logs, so they sort together. */
function makeLogger(path) {
  const out = path ? fs.openSync(path, 'a') : null;
  return (level, message) => {
    const line = `${new Date().toISOString()} ${level} client.mjs: ${message}\n`;
    if (out === null) process.stderr.write(line);
    else fs.writeSync(out, line);
  };
}

function parseArgs(argv) {
  const opts = { url: DEFAULT_URL, bind: '127.0.0.11', token: FAKE_TOKEN, log: null, steps: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (['--url', '--bind', '--token', '--log'].includes(arg)) {
      opts[arg.slice(2)] = argv[(i += 1)];
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      opts.steps.push(parseStep(arg));
    }
  }
  if (opts.steps.length === 0) throw new Error('no steps (e.g. audio:2 wait-close:30)');
  return opts;
}

function parseStep(text) {
  const [kind, ...args] = text.split(':');
  if (!STEP_KINDS.has(kind)) throw new Error(`unknown step ${kind}`);
  const nums = args.map(Number);
  const waits = kind === 'closestream' || kind === 'wait-close';
  return { kind, seconds: nums[0] ?? (waits ? 30 : 0), every: nums[1] ?? 3 };
}

/** The recorder's network rule, enforced here too: loopback endpoints only. */
function checkLoopback(url, bind) {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  for (const addr of [host, bind]) {
    const ok = (net.isIPv4(addr) && addr.startsWith('127.')) || addr === '::1';
    if (!ok) throw new Error(`not a loopback address: ${addr}`);
  }
}

/** Endless quiet sine cut into 100 ms linear16 chunks, phase-continuous like client.py. */
function audioSource() {
  const samples = Math.round(SAMPLE_RATE * CHUNK_SECONDS);
  const step = (2 * Math.PI * TONE_HZ) / SAMPLE_RATE;
  let position = 0;
  return () => {
    const chunk = Buffer.alloc(samples * 2);
    for (let i = 0; i < samples; i += 1) {
      chunk.writeInt16LE(Math.round(TONE_AMPLITUDE * Math.sin(step * (position + i))), i * 2);
    }
    position += samples;
    return chunk;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** One line per server message: Results by transcript, other JSON by type, binary by size. */
function summarize(data, isBinary) {
  if (isBinary) return `binary ${data.length} bytes`;
  const text = data.toString();
  try {
    const msg = JSON.parse(text);
    if (msg.type === 'Results') {
      const alt = msg.channel.alternatives[0];
      return `text Results start=${msg.start} duration=${msg.duration} is_final=${msg.is_final} transcript=${JSON.stringify(alt.transcript)}`;
    }
    return `text ${msg.type} ${text.slice(0, 200)}`;
  } catch (err) {
    return `text ${JSON.stringify(text.slice(0, 120))}`;
  }
}

/** Wire every library event to the log; resolves with the close code once closed. */
function watch(ws, log) {
  ws.on('upgrade', (res) => {
    const id = res.headers['dg-request-id'];
    log('INFO', `upgrade: HTTP ${res.statusCode} dg-request-id=${id}`);
  });
  ws.on('open', () => {
    const { localAddress, localPort } = ws._socket;
    log('INFO', `open: connected from ${localAddress}:${localPort} to ${ws.url}`);
    process.stdout.write(`open ${localAddress}:${localPort}\n`);
  });
  ws.on('message', (data, isBinary) => log('INFO', `message: ${summarize(data, isBinary)}`));
  ws.on('ping', (data) => log('DEBUG', `ping received (${data.length} bytes); pong sent`));
  ws.on('pong', (data) => log('DEBUG', `pong received (${data.length} bytes)`));
  ws.on('error', (err) => log('ERROR', `error: ${err.message} (code ${err.code ?? 'none'})`));
  return new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      log('INFO', `close: code=${code} reason=${JSON.stringify(reason.toString())}`);
      resolve(code);
    });
  });
}

/** Runs the steps; a step that waits for the close returns early when the socket closes. */
async function runSteps(ws, steps, closed, log) {
  const nextChunk = audioSource();
  let isClosed = false;
  closed.then(() => {
    isClosed = true;
  });
  const send = (data) => {
    if (!isClosed && ws.readyState === WebSocket.OPEN) ws.send(data);
  };
  const waitClose = (seconds) => Promise.race([closed, sleep(seconds * 1000)]);
  for (const step of steps) {
    if (isClosed) break;
    log('INFO', `step ${step.kind} ${step.seconds}`);
    if (step.kind === 'audio') {
      let deadline = Date.now();
      for (let i = 0; i < Math.round(step.seconds / CHUNK_SECONDS) && !isClosed; i += 1) {
        send(nextChunk());
        deadline += CHUNK_SECONDS * 1000;
        await sleep(deadline - Date.now());
      }
    } else if (step.kind === 'keepalive') {
      const end = Date.now() + step.seconds * 1000;
      while (Date.now() + step.every * 1000 < end && !isClosed) {
        await waitClose(step.every);
        send(JSON.stringify({ type: 'KeepAlive' }));
        log('INFO', 'sent KeepAlive as text');
      }
      await waitClose((end - Date.now()) / 1000);
    } else if (step.kind === 'silence') {
      await sleep(step.seconds * 1000);
    } else {
      if (step.kind === 'closestream') send(JSON.stringify({ type: 'CloseStream' }));
      log('INFO', `waiting up to ${step.seconds}s for the server to close`);
      await waitClose(step.seconds);
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  checkLoopback(opts.url, opts.bind);
  const log = makeLogger(opts.log);
  log('INFO', `node ${process.version}, ws ${require('ws/package.json').version}, url ${opts.url}`);
  const ws = new WebSocket(opts.url, {
    headers: { Authorization: `Token ${opts.token}` },
    localAddress: opts.bind,
  });
  const closed = watch(ws, log);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error('closed before open')));
  });
  await runSteps(ws, opts.steps, closed, log);
  if (ws.readyState !== WebSocket.CLOSED) {
    log('INFO', 'script done; closing 1000');
    ws.close(1000);
  }
  const code = await closed;
  process.stdout.write(`closed ${code}\n`);
  process.exit(0); // pending step timers (e.g. the rest of wait-close:30) must not linger
}

main().catch((err) => {
  process.stderr.write(`client.mjs: ${err.message}\n`);
  process.exit(1);
});
