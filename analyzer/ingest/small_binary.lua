-- wsdoctor: the payload of every small binary WebSocket message that may be JSON.
--
-- Some SDKs send {"type": "KeepAlive"} as a binary frame, which Deepgram takes for
-- audio. Printing every binary payload (data.data) would double tshark's output on an
-- audio stream, so this heuristic of the WebSocket dissector adds `wsdoctor.binary` only
-- for a whole binary message (opcode 2, FIN) of 2-125 bytes on the wire whose payload
-- opens with `{` or whitespace: the packets and values the engine's targeted pass with
-- data.data and its display filter (tshark_argv.SMALL_BINARY_FILTER) would print. It
-- claims nothing (returns false), so the dissection goes on as without it.

local proto = Proto("wsdoctor", "wsdoctor: small binary WebSocket messages that may be JSON")
local payload = ProtoField.bytes("wsdoctor.binary", "Payload")
proto.fields = { payload }

local opcode = Field.new("websocket.opcode")
local fin = Field.new("websocket.fin")
local length = Field.new("websocket.payload_length")
local JSON_START = { [0x7b] = true, [0x20] = true, [0x09] = true, [0x0a] = true, [0x0d] = true }

-- The frame being dissected is the last one whose header is in the tree so far.
local function last(field)
  local all = { field() }
  return all[#all]
end

local function heuristic(tvb, pinfo, tree)
  if tvb:len() == 0 or not JSON_START[tvb(0, 1):uint()] then
    return false
  end
  local op, whole, n = last(opcode), last(fin), last(length)
  if op and op.value == 2 and whole and whole.value and n and n.value >= 2 and n.value <= 125 then
    tree:add(payload, tvb())
  end
  return false
end

proto:register_heuristic("ws", heuristic)
