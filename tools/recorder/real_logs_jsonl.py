"""Real JSON-lines logs from two widely used JSON loggers, for the ``jsonl`` log pack.

* ``pino``: pino 9 (npm) with its defaults (``pino()``: one JSON object per line on
  stdout, ``level`` as a number, ``time`` in epoch milliseconds, ``pid``, ``hostname``,
  ``msg``) in a tiny app on ``ws`` 8. The app logs what a typical app logs: ``open``,
  ``error`` as pino's documented ``log.error(err)`` (``msg`` is ``err.message``, the Error
  serialised under ``err``) and ``close`` with code and reason (as fields and in ``msg``).
  Each case logs through ``log.child({case})``.
* ``python-json-logger``: python-json-logger (PyPI) as the formatter of Python's
  ``logging``, ``JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")`` on one
  ``StreamHandler`` on the root logger at DEBUG, so the ``websockets`` library's own
  loggers (``websockets.client``: frame lines such as ``< CLOSE 1011 (internal error) ...``)
  and the app's logger (``client``: the exceptions, via ``log.exception``/``log.warning``)
  write JSON lines.

Cases: ``401``, ``refused``, ``idle`` (1 s of audio, then silence -> close 1011 NET-0001)
and ``abrupt`` (``real_logs_common.abrupt_emulator``: the connection dropped without a close
frame). Both install into the recorder's workdir (npm ``--prefix``, a venv), never globally.
"""

from __future__ import annotations

from pathlib import Path

from .real_logs_common import FAKE_KEY, HOST, QUERY, npm_install, run_logged, venv_python

PINO_CLIENT = r"""
// A tiny app on `ws` that logs with pino's defaults (JSON lines on stdout).
const WebSocket = require('ws');
const pino = require('pino');
const log = pino();
const [host, port, closed, abrupt, key] = process.argv.slice(2);
const url = (p) => `ws://${host}:${p}/v1/listen?%(query)s`;
function run(name, p, headers, audio) {
  const clog = log.child({ case: name });
  return new Promise((done) => {
    const ws = new WebSocket(url(p), { headers });
    ws.on('open', async () => {
      clog.info('websocket open');
      for (let n = 0; n < audio; n++) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(Buffer.alloc(3200));
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    ws.on('error', (err) => clog.error(err));
    ws.on('close', (code, reason) => {
      clog.info({ code, reason: reason.toString() }, `websocket closed: ${code} ${reason}`);
      done();
    });
  });
}
(async () => {
  log.info(`node ${process.version}, ws ${require('ws/package.json').version}, ` +
           `pino ${require('pino/package.json').version}`);
  const auth = { Authorization: `Token ${key}` };
  await run('401', port, {}, 0);
  await run('refused', closed, {}, 0);
  await run('idle', port, auth, 10);
  await run('abrupt', abrupt, auth, 10);
})();
"""

PJL_CLIENT = r"""
import asyncio, logging, sys
from importlib.metadata import version

from pythonjsonlogger.json import JsonFormatter
from websockets.asyncio.client import connect

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonFormatter("%%(asctime)s %%(levelname)s %%(name)s %%(message)s"))
logging.basicConfig(level=logging.DEBUG, handlers=[handler])
logging.getLogger("asyncio").setLevel(logging.WARNING)
log = logging.getLogger("client")
host, port, closed, abrupt, key = sys.argv[1:6]


async def run(name, p, headers, audio):
    url = f"ws://{host}:{p}/v1/listen?%(query)s"
    try:
        async with connect(url, additional_headers=headers, ping_interval=None) as ws:
            log.info("%%s: connected", name)
            for _ in range(audio):
                await ws.send(bytes(3200))
                await asyncio.sleep(0.1)
            async for message in ws:
                log.info("%%s: message %%r", name, message)
            log.info("%%s: closed %%s", name, ws.close_code)
    except OSError as exc:
        log.exception("%%s: connect failed: %%s", name, exc)
    except Exception as exc:
        log.warning("%%s: %%s: %%s", name, type(exc).__name__, exc)


async def main():
    log.info("python %%s, websockets %%s, python-json-logger %%s", sys.version.split()[0],
             version("websockets"), version("python-json-logger"))
    auth = {"Authorization": f"Token {key}"}
    await run("401", port, None, 0)
    await run("refused", closed, None, 0)
    await run("idle", port, auth, 10)
    await run("abrupt", abrupt, auth, 10)


asyncio.run(main())
"""


def record_pino(out: Path, work: Path, port: int, closed: int, abrupt: int) -> dict[str, str]:
    node_dir = work / "pino"
    if not npm_install(node_dir, "pino@9", "ws@8"):
        return {}
    (node_dir / "client.cjs").write_text(PINO_CLIENT % {"query": QUERY})
    argv = ["node", "client.cjs", HOST, str(port), str(closed), str(abrupt), FAKE_KEY]
    run_logged(argv, out / "client.log", node_dir, 60)
    return {"command": " ".join(argv)}


def record_python_json_logger(
    out: Path, work: Path, port: int, closed: int, abrupt: int
) -> dict[str, str]:
    packages = ["python-json-logger", "websockets"]
    py = venv_python(work / "pjl-venv", "pythonjsonlogger, websockets", packages)
    if py is None:
        return {}
    (work / "pjl_client.py").write_text(PJL_CLIENT % {"query": QUERY})
    argv = [str(py), "pjl_client.py", HOST, str(port), str(closed), str(abrupt), FAKE_KEY]
    run_logged(argv, out / "client.log", work, 90)
    return {"command": " ".join(argv)}
