#!/usr/bin/env bash
# Print the facts quoted in a scenario README, using nothing but tshark/capinfos.
# usage: bash sample_captures/recorder/facts.sh sample_captures/<scenario> [CAPTURE_FILE]
# CAPTURE_FILE defaults to capture.pcap; if the folder has keys.log it is passed with
# -o tls.keylog_file (for capture-with-secrets.pcapng no option is needed).
set -euo pipefail

dir="$1"
cap="$dir/${2:-capture.pcap}"
client="127.0.0.11"
opts=()
if [[ -f "$dir/keys.log" && "$cap" != *.pcapng ]]; then
  opts=(-o "tls.keylog_file:$dir/keys.log")
fi
t() { tshark -r "$cap" "${opts[@]}" "$@" 2>/dev/null; }

echo "# $cap ${opts[*]}"
echo "## capture"
capinfos -c -u -y "$cap" | sed 1d

echo "## TCP SYN / FIN / RST (frame, t, sender, port, flags)"
t -Y 'tcp.flags.syn==1 or tcp.flags.fin==1 or tcp.flags.reset==1' -T fields \
  -e frame.number -e frame.time_relative -e ip.src -e tcp.srcport -e tcp.flags.str

echo "## HTTP upgrade (frame, t, sender, method/uri/host or status) and dg-* headers"
t -Y http.request -T fields -e frame.number -e frame.time_relative -e ip.src \
  -e http.request.method -e http.request.uri -e http.host
t -Y http.response -T fields -e frame.number -e frame.time_relative -e ip.src -e http.response.code
t -Y http.response -T fields -E aggregator='|' -e http.response.line | tr '|' '\n' |
  sed -E 's/\\r\\n$//' | grep -i '^dg-' || true

echo "## WebSocket frames by sender and opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong)"
t -Y websocket -T fields -e ip.src -e websocket.opcode |
  awk -F'\t' '{n=split($2,o,","); for(i=1;i<=n;i++) c[$1" opcode "o[i]]++} END{for(k in c) print c[k]"\t"k}' |
  sort -k2

echo "## non-binary WebSocket frames (frame, t, sender, opcode, close code, reason, text)"
t -Y 'websocket.opcode != 2' -T fields -e frame.number -e frame.time_relative -e ip.src \
  -e websocket.opcode -e websocket.payload.close.status_code -e websocket.payload.close.reason \
  -e websocket.payload.text | cut -c1-220

echo "## binary frames: first, last, payload sizes"
t -Y 'websocket.opcode == 2' -T fields -e frame.number -e frame.time_relative \
  -e websocket.payload_length -e websocket.payload_length_ext_16 |
  awk -F'\t' '{n++; len=($3<126)?$3:$4; s[len]++; if(n==1) f=$1" @ "$2; l=$1" @ "$2}
      END{print "count", n, "first", f, "last", l; for(k in s) print "  payload", k, "bytes x", s[k]}'

echo "## gaps in client->server WebSocket frames (longest), and client silence before a server close"
t -Y websocket -T fields -e frame.number -e frame.time_relative -e ip.src -e websocket.opcode |
  awk -F'\t' -v c="$client" '
    $3==c { if (last!="" && $2-last>gap) {gap=$2-last; from=lastf; to=$1}; last=$2; lastf=$1 }
    $3!=c && $4 ~ /(^|,)8(,|$)/ && !done { printf "server close frame %s: %.3f s after last client frame %s\n", $1, $2-last, lastf; done=1 }
    END { printf "longest client gap: %.3f s (frame %s -> %s)\n", gap, from, to;
          printf "last client frame: %s @ %s\n", lastf, last }'
