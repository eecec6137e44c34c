// What the order tests share: a real `platefull dev` process (started, stopped, or killed
// with SIGKILL and started again on the same data dir) and a fake OpenAI-compatible model
// that answers from a script of tool calls and texts, so the stack's own code takes orders.
//
// Environment: PLATEFULL_BIN (the binary; default target/debug/platefull),
// PLATEFULL_TEST_ARTIFACTS (where the server logs go).

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const bin = process.env.PLATEFULL_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'debug', 'platefull');
export const artifacts = process.env.PLATEFULL_TEST_ARTIFACTS || path.join(root, 'test-artifacts', 'console');
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something truthy, or fails after `timeout` ms. */
export async function eventually(check, timeout, what) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(100);
  }
}

/** A model's answer that calls `calls` ([name, args] pairs). */
export function toolCalls(calls) {
  return {
    role: 'assistant',
    content: null,
    tool_calls: calls.map(([name, args], i) => ({
      id: `call_${Date.now()}_${i}`, type: 'function', function: { name, arguments: JSON.stringify(args) },
    })),
  };
}

/**
 * A fake chat-completions server answering from `answers` (shifted in order; "Certo!" when
 * empty). `onRequest(body, res)` may take a request first: returning true means it was
 * handled (e.g. left unanswered). Returns `{ url, close }`.
 */
export async function startFakeModel(answers, onRequest = () => false) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (onRequest(JSON.parse(body || '{}'), res)) return;
      const message = answers.shift() || { role: 'assistant', content: 'Certo!' };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({
        id: 'fake', object: 'chat.completion', model: 'fake/model',
        choices: [{ index: 0, finish_reason: message.tool_calls ? 'tool_calls' : 'stop', message }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/**
 * Starts `platefull dev` on a free port over `dataDir`, its model at `modelUrl`; waits for
 * `/health`. Returns `{ base, child, exited, stop, kill }`: `stop` is SIGTERM (SIGKILL after
 * 10 s), `kill` is SIGKILL and waits for the exit.
 */
export async function startStack({ dataDir, modelUrl, logName }) {
  mkdirSync(artifacts, { recursive: true });
  const log = createWriteStream(path.join(artifacts, logName), { flags: 'a' });
  const env = {
    ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', OPENROUTER_API_KEY: 'fake-key', OPENROUTER_BASE_URL: modelUrl,
  };
  const child = spawn(bin, ['dev', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', path.join(root, 'web')], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stderr.pipe(log);
  const base = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`platefull dev did not start in 60 s:\n${seen}`)), 60000);
    child.once('exit', (code) => reject(new Error(`platefull dev exited (${code}):\n${seen}`)));
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch { /* not yet */ }
    if (i > 150) throw new Error('/health did not answer 200 within 30 s');
    await sleep(200);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10000).then(() => child.kill('SIGKILL'))]);
  };
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  return { base, child, exited, stop, kill };
}
