#!/usr/bin/env bash
# Print the facts quoted in a scenario README, using nothing but tshark/capinfos.
# usage: bash tools/recorder/facts.sh sample_captures/<scenario> [CAPTURE_FILE]
# CAPTURE_FILE defaults to capture.pcap (capture.pcapng if that is what the folder has); if
# the folder has keys.log it is passed with -o tls.keylog_file (for
# capture-with-secrets.pcapng no option is needed).
#
# Options every query gets, and why:
# - tcp.reassemble_out_of_order:TRUE, so a WebSocket frame whose segments were lost and
#   retransmitted is decoded at the packet that completed it (tshark's default is FALSE);
#   it changes nothing for captures without out-of-order segments.
# - only when the capture has no HTTP request (tcpdump started mid-session):
#   tcp.try_heuristic_first:TRUE and --enable-heuristic websocket_tcp, because without a
#   handshake only the WebSocket heuristic can recognise frames, and on a port that belongs
#   to HTTP (8080) the heuristic is otherwise never tried.
# The sender column is ip.src for IPv4 and [ipv6.src]:port for IPv6 (both ends may be ::1).
set -euo pipefail

dir="$1"
default=capture.pcap
[[ -f "$dir/capture.pcap" || ! -f "$dir/capture.pcapng" ]] || default=capture.pcapng
cap="$dir/${2:-$default}"
opts=(-o tcp.reassemble_out_of_order:TRUE)
if [[ -f "$dir/keys.log" && "$cap" != *.pcapng ]]; then
  opts+=(-o "tls.keylog_file:$dir/keys.log")
fi
t() { tshark -r "$cap" "${opts[@]}" "$@" 2>/dev/null; }
if [[ -z "$(t -Y http.request -T fields -e frame.number)" ]]; then
  opts+=(-o tcp.try_heuristic_first:TRUE --enable-heuristic websocket_tcp)
fi

# tf FILTER FIELD...: tshark -T fields, where the pseudo-field SENDER is the sender as above.
tf() {
  local filter="$1" pos=0 i=0 args=()
  shift
  for f in "$@"; do
    i=$((i + 1))
    if [[ $f == SENDER ]]; then
      pos=$i
      args+=(-e ip.src -e ipv6.src -e tcp.port) # tcp.port: "src,dst" (a field twice is empty)
    else
      args+=(-e "$f")
    fi
  done
  t -Y "$filter" -T fields "${args[@]}" | awk -F'\t' -v OFS='\t' -v p="$pos" '
    p == 0 { print; next }
    {
      split($(p + 2), port, ",")
      s = ($p != "") ? $p : "[" $(p + 1) "]:" port[1]
      out = ""
      for (i = 1; i <= NF; i++) {
        v = (i == p) ? s : $i
        out = (i == 1) ? v : out OFS v
        if (i == p) i += 2
      }
      print out
    }'
}
# The client is whoever sent the first packet to the server port (works without a SYN too).
client="$(tf 'tcp.dstport == 8080 or tcp.dstport == 8443' SENDER | head -1)"

echo "# $cap ${opts[*]}"
echo "## capture"
capinfos -t -E -c -u -y "$cap" | sed 1d

echo "## TCP SYN / FIN / RST (frame, t, sender, port, flags)"
tf 'tcp.flags.syn==1 or tcp.flags.fin==1 or tcp.flags.reset==1' \
  frame.number frame.time_relative SENDER tcp.srcport tcp.flags.str

echo "## TCP analysis (tshark expert markers), client is $client"
for marker in lost_segment retransmission fast_retransmission spurious_retransmission \
  out_of_order duplicate_ack ack_lost_segment; do
  frames="$(t -Y "tcp.analysis.$marker" -T fields -e frame.number | paste -sd, -)"
  echo "tcp.analysis.$marker: $(awk -F, '{print NF}' <<<"$frames")${frames:+ (frames $frames)}"
done
ooo_off="$(tshark -r "$cap" "${opts[@]}" -o tcp.reassemble_out_of_order:FALSE -Y websocket 2>/dev/null | wc -l)"
echo "packets with WebSocket frames: $(t -Y websocket | wc -l) (with reassemble_out_of_order FALSE: $ooo_off)"
# A frame completed by a packet that is not the last of its segments (tshark lists them in
# sequence order): a retransmission filled a hole after later bytes had already arrived.
late="$(t -Y websocket -T fields -e frame.number -e tcp.segment |
  awk -F'\t' '{n = split($2, s, ","); if (n && s[n] != $1) print $1}' | paste -sd, -)"
echo "packets completing a WebSocket frame out of order: ${late:-none}"

echo "## HTTP upgrade (frame, t, sender, method/uri/host or status) and dg-* headers"
tf http.request frame.number frame.time_relative SENDER http.request.method http.request.uri \
  http.host
tf http.response frame.number frame.time_relative SENDER http.response.code
t -Y http.response -T fields -E aggregator='|' -e http.response.line | tr '|' '\n' |
  sed -E 's/\\r\\n$//' | grep -i '^dg-' || true

echo "## WebSocket frames by sender and opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong)"
tf websocket SENDER websocket.opcode |
  awk -F'\t' '{n=split($2,o,","); for(i=1;i<=n;i++) c[$1" opcode "o[i]]++} END{for(k in c) print c[k]"\t"k}' |
  sort -k2

echo "## non-binary WebSocket frames (frame, t, sender, opcode, close code, reason, text)"
tf 'websocket.opcode != 2' frame.number frame.time_relative SENDER websocket.opcode \
  websocket.payload.close.status_code websocket.payload.close.reason websocket.payload.text |
  cut -c1-220

echo "## binary frames: first, last, payload sizes"
# One packet may carry several frames: fields are comma lists, and the 16-bit extended
# lengths belong, in order, to the frames whose 7-bit length is 126.
t -Y 'websocket.opcode == 2' -T fields -e frame.number -e frame.time_relative \
  -e websocket.opcode -e websocket.payload_length -e websocket.payload_length_ext_16 |
  awk -F'\t' '{nop=split($3,op,","); split($4,l7,","); split($5,l16,","); k=0
        for(i=1;i<=nop;i++){ len=l7[i]; if(len==126) len=l16[++k]; if(op[i]!=2) continue
          n++; s[len]++; if(n==1) f=$1" @ "$2; l=$1" @ "$2 } }
      END{print "count", n, "first", f, "last", l; for(k in s) print "  payload", k, "bytes x", s[k]}'

echo "## gaps in client->server WebSocket frames (longest), and client silence before a server close"
tf websocket frame.number frame.time_relative SENDER websocket.opcode |
  awk -F'\t' -v c="$client" '
    $3==c { if (last!="" && $2-last>gap) {gap=$2-last; from=lastf; to=$1}; last=$2; lastf=$1 }
    $3!=c && $4 ~ /(^|,)8(,|$)/ && !done { printf "server close frame %s: %.3f s after last client frame %s\n", $1, $2-last, lastf; done=1 }
    END { printf "longest client gap: %.3f s (frame %s -> %s)\n", gap, from, to;
          printf "last client frame: %s @ %s\n", lastf, last }'
