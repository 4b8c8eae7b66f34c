// Watches a presence topic with phoenix.js's own `Presence` (npm `phoenix`
// 1.8.x over `ws`), for the cross-check against our presence handle:
//
//   node presence-watch.mjs ws://127.0.0.1:4000/socket presence:topic
//
// Joins as user `js`, prints `ready` once its first sync is in, then on every
// line `dump` from stdin prints the list as one JSON line
// {"key": ["phx_ref", ...], ...} (keys and refs sorted); exits on stdin's end.

import { Socket, Presence } from "phoenix"
import WebSocket from "ws"
import readline from "node:readline"

const [url, topic] = process.argv.slice(2)
if (!url || !topic) {
  console.error("usage: node presence-watch.mjs <socket url> <topic>")
  process.exit(2)
}
const endPoint = url.replace(/\/websocket\/?(\?.*)?$/, "").replace(/\/$/, "")
const socket = new Socket(endPoint, { transport: WebSocket, params: { user_id: "js" } })
socket.connect()
const channel = socket.channel(topic, {})
const presence = new Presence(channel)
let ready = false
presence.onSync(() => {
  if (!ready) {
    ready = true
    console.log("ready")
  }
})
channel.join().receive("error", (e) => {
  console.error("join failed", JSON.stringify(e))
  process.exit(1)
})

function dump() {
  const list = {}
  presence.list((key, { metas }) => {
    list[key] = metas.map((m) => m.phx_ref).sort()
  })
  const sorted = {}
  for (const key of Object.keys(list).sort()) sorted[key] = list[key]
  console.log(JSON.stringify(sorted))
}

const lines = readline.createInterface({ input: process.stdin })
lines.on("line", (line) => {
  if (line.trim() === "dump") dump()
})
lines.on("close", () => {
  socket.disconnect()
  process.exit(0)
})
