"""Real OkHttp log lines: a tiny Java app on Debian's OkHttp 3.13.1 (``libokhttp-java``).

The app logs what a typical OkHttp app logs from its ``WebSocketListener``: ``onOpen``,
``onMessage``, ``onClosing``/``onClosed`` with code and reason, and ``onFailure`` with
``t.toString()`` plus the handshake response's status line when there is one, then the
Throwable's stack trace through ``java.util.logging`` (its default two-line format on
stderr). App lines start with an ISO 8601 UTC timestamp. Cases: ``401``, ``refused``,
``idle`` (as the other tools), ``abrupt`` and ``reset`` (the emulator drops the TCP
connection without a close frame: FIN, or RST with audio unread; see
``real_logs_common.abrupt_emulator``). Compiled with ``javac`` against
``/usr/share/java/okhttp.jar`` and ``okio.jar``; no Maven.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .real_logs_common import (
    FAKE_KEY,
    HOST,
    QUERY,
    apt_install,
    build,
    deb_version,
    run_logged,
)

OKHTTP_DEBS = ("libokhttp-java",)  # brings libokio-java
CLASSPATH = "/usr/share/java/okhttp.jar:/usr/share/java/okio.jar"

OKHTTP_CLIENT = r"""
// A tiny app on OkHttp: logs what a typical app logs from its WebSocketListener.
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;
import okhttp3.WebSocket;
import okhttp3.WebSocketListener;
import okio.ByteString;

public class Client {
    static final Logger LOG = Logger.getLogger("Client");
    static final OkHttpClient HTTP = new OkHttpClient();

    static void log(String line) {
        System.out.println(Instant.now() + " " + line);
        System.out.flush();
    }

    static void run(String name, String url, String key, int audio) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        Request.Builder req = new Request.Builder().url(url);
        if (key != null) req.header("Authorization", "Token " + key);
        HTTP.newWebSocket(req.build(), new WebSocketListener() {
            @Override public void onOpen(WebSocket ws, Response response) {
                log(name + " onOpen: " + response.code() + " " + response.message());
                new Thread(() -> {
                    for (int n = 0; n < audio; n++) {
                        ws.send(ByteString.of(new byte[3200]));
                        try { Thread.sleep(100); } catch (InterruptedException e) { return; }
                    }
                }).start();
            }
            @Override public void onMessage(WebSocket ws, String text) {
                log(name + " onMessage: " + text);
            }
            @Override public void onMessage(WebSocket ws, ByteString bytes) {
                log(name + " onMessage: " + bytes.size() + " bytes");
            }
            @Override public void onClosing(WebSocket ws, int code, String reason) {
                log(name + " onClosing: code=" + code + " reason=" + reason);
                ws.close(1000, null);
            }
            @Override public void onClosed(WebSocket ws, int code, String reason) {
                log(name + " onClosed: code=" + code + " reason=" + reason);
                done.countDown();
            }
            @Override public void onFailure(WebSocket ws, Throwable t, Response response) {
                String status = response == null ? ""
                    : " (response: " + response.code() + " " + response.message() + ")";
                log(name + " onFailure: " + t + status);
                LOG.log(Level.WARNING, name + " WebSocket failure", t);
                done.countDown();
            }
        });
        if (!done.await(30, TimeUnit.SECONDS)) log(name + " gave up waiting");
    }

    public static void main(String[] args) throws Exception {
        String host = args[0], port = args[1], closed = args[2];
        String abrupt = args[3], reset = args[4], key = args[5];
        String path = "/v1/listen?%(query)s";
        log("java " + System.getProperty("java.version") + ", "
            + okhttp3.internal.Version.userAgent());
        run("401", "ws://" + host + ":" + port + path, null, 0);
        run("refused", "ws://" + host + ":" + closed + path, null, 0);
        run("idle", "ws://" + host + ":" + port + path, key, 10);
        run("abrupt", "ws://" + host + ":" + abrupt + path, key, 10);
        run("reset", "ws://" + host + ":" + reset + path, key, 40);
        System.exit(0);
    }
}
"""


def record_okhttp(
    out: Path, work: Path, port: int, closed: int, abrupt: int, reset: int
) -> dict[str, str]:
    if not apt_install(OKHTTP_DEBS):
        return {}
    jvm_dir = work / "okhttp"
    jvm_dir.mkdir(parents=True, exist_ok=True)
    (jvm_dir / "Client.java").write_text(OKHTTP_CLIENT % {"query": QUERY})
    if not build(["javac", "-cp", CLASSPATH, "Client.java"], jvm_dir):
        return {}
    argv = ["java", "-cp", f"{CLASSPATH}:.", "Client"]
    argv += [HOST, str(port), str(closed), str(abrupt), str(reset), FAKE_KEY]
    run_logged(argv, out / "client.log", jvm_dir, 120)
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    versions = f"{java.splitlines()[0]}, libokhttp-java {deb_version('libokhttp-java')}, "
    versions += f"libokio-java {deb_version('libokio-java')}"
    return {"command": " ".join(argv), "versions": versions}
