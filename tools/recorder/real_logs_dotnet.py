"""Real ``ClientWebSocket`` log lines: Mono 6.8 (Debian ``mono-mcs``/``mono-runtime``).

No Microsoft .NET here: Mono's ``System.Net.WebSockets.ClientWebSocket`` is the corefx
managed implementation, so it is recorded as "Mono 6.8 ClientWebSocket", never as .NET 8.
The app does what a typical .NET app does: ``ConnectAsync``, ``SendAsync`` audio,
``ReceiveAsync`` until a close, logging ``CloseStatus``/``CloseStatusDescription`` of the
received close; ``catch (WebSocketException e)`` logs ``e.Message`` on one line and then
``Console.Error.WriteLine(e)`` (type, message, inner exceptions, stack). App lines start with
an ISO 8601 UTC timestamp. Cases: ``401``, ``refused``, ``idle``, ``abrupt``, ``reset`` (see
``real_logs_jvm.py``). Compiled with ``mcs``.
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

MONO_DEBS = ("mono-mcs", "mono-runtime")

DOTNET_CLIENT = r"""
// A tiny app on ClientWebSocket: logs what a typical .NET app logs for each case.
using System;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

class Client
{
    static void Log(string line)
    {
        Console.WriteLine(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'") + " " + line);
    }

    static async Task Run(string name, string url, string key, int audio)
    {
        var none = CancellationToken.None;
        using (var ws = new ClientWebSocket())
        {
            if (key != null) ws.Options.SetRequestHeader("Authorization", "Token " + key);
            try
            {
                await ws.ConnectAsync(new Uri(url), none);
                Log($"{name} ConnectAsync: State={ws.State}");
                var frame = new ArraySegment<byte>(new byte[3200]);
                for (int n = 0; n < audio; n++)
                {
                    await ws.SendAsync(frame, WebSocketMessageType.Binary, true, none);
                    await Task.Delay(100);
                }
                var buffer = new ArraySegment<byte>(new byte[8192]);
                while (true)
                {
                    var r = await ws.ReceiveAsync(buffer, none);
                    if (r.MessageType == WebSocketMessageType.Close)
                    {
                        var status = r.CloseStatus;
                        Log($"{name} closed by server: CloseStatus={status} ({(int?)status}), " +
                            $"CloseStatusDescription={r.CloseStatusDescription}");
                        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", none);
                        break;
                    }
                    Log($"{name} received {r.MessageType} {r.Count} bytes");
                }
            }
            catch (WebSocketException e)
            {
                Log($"{name} WebSocketException ({e.WebSocketErrorCode}): {e.Message}");
                Console.Error.WriteLine(e);
            }
            catch (Exception e)
            {
                Log($"{name} {e.GetType().Name}: {e.Message}");
                Console.Error.WriteLine(e);
            }
            Log($"{name} State={ws.State}");
        }
    }

    static void Main(string[] args)
    {
        string host = args[0], port = args[1], closed = args[2];
        string abrupt = args[3], reset = args[4], key = args[5];
        string path = "/v1/listen?%(query)s";
        Log($"{RuntimeInformation.FrameworkDescription}, ClientWebSocket from " +
            typeof(ClientWebSocket).Assembly.FullName);
        Run("401", $"ws://{host}:{port}{path}", null, 0).Wait();
        Run("refused", $"ws://{host}:{closed}{path}", null, 0).Wait();
        Run("idle", $"ws://{host}:{port}{path}", key, 10).Wait();
        Run("abrupt", $"ws://{host}:{abrupt}{path}", key, 10).Wait();
        Run("reset", $"ws://{host}:{reset}{path}", key, 40).Wait();
    }
}
"""


def record_dotnet(
    out: Path, work: Path, port: int, closed: int, abrupt: int, reset: int
) -> dict[str, str]:
    if not apt_install(MONO_DEBS):
        return {}
    cs_dir = work / "dotnet"
    cs_dir.mkdir(parents=True, exist_ok=True)
    (cs_dir / "client.cs").write_text(DOTNET_CLIENT % {"query": QUERY})
    if not build(["mcs", "-debug", "-out:client.exe", "client.cs"], cs_dir):
        return {}
    argv = [
        "mono",
        "--debug",
        "client.exe",
        HOST,
        str(port),
        str(closed),
        str(abrupt),
        str(reset),
        FAKE_KEY,
    ]
    run_logged(argv, out / "client.log", cs_dir, 120)
    mono = subprocess.run(["mono", "--version"], capture_output=True, text=True).stdout
    versions = f"{mono.splitlines()[0]}, mono-mcs {deb_version('mono-mcs')}"
    return {"command": " ".join(argv), "versions": versions}
