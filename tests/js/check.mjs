// Drives the official phoenix.js client (npm `phoenix` 1.8.x over `ws`)
// against a server that serves the project's fixture (tests/transcripts/FIXTURE.md).
//
//   node check.mjs ws://127.0.0.1:4000/socket
//
// Prints one line per check and a final `js client: N passed, M failed`;
// exits 0 only if every check passed.

import { Socket, Presence } from "phoenix"
import WebSocket from "ws"

const arg = process.argv[2]
if (!arg) {
  console.error("usage: node check.mjs <socket url, e.g. ws://127.0.0.1:4000/socket>")
  process.exit(2)
}
const endPoint = arg.replace(/\/websocket\/?(\?.*)?$/, "").replace(/\/$/, "")
const CHECK_TIMEOUT_MS = 5000

const sockets = []
function newSocket(opts = {}) {
  const socket = new Socket(endPoint, {
    transport: WebSocket,
    timeout: 3000,
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 50,
    ...opts,
  })
  sockets.push(socket)
  socket.connect()
  return socket
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b)
}

function bytes(buf) {
  assert(buf instanceof ArrayBuffer, `expected an ArrayBuffer, got ${Object.prototype.toString.call(buf)}`)
  return Array.from(new Uint8Array(buf))
}

// Resolves with [status, response] of a channel push (or join).
function reply(push) {
  return new Promise((resolve) => {
    push
      .receive("ok", (r) => resolve(["ok", r]))
      .receive("error", (r) => resolve(["error", r]))
      .receive("timeout", () => resolve(["timeout", null]))
  })
}

function nextEvent(channel, event) {
  return new Promise((resolve) => {
    const ref = channel.on(event, (payload) => {
      channel.off(event, ref)
      resolve(payload)
    })
  })
}

function waitFor(pred, what, intervalMs = 10) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      let ok = false
      try { ok = pred() } catch (e) { return reject(e) }
      if (ok) return resolve()
      if (Date.now() - started > CHECK_TIMEOUT_MS - 500) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, intervalMs)
    }
    tick()
  })
}

async function joined(socket, topic, params = {}) {
  const channel = socket.channel(topic, params)
  const [status, resp] = await reply(channel.join())
  assert(status === "ok", `join ${topic}: ${status} ${JSON.stringify(resp)}`)
  return [channel, resp]
}

const results = []
async function check(name, fn) {
  let timer
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("timeout")), CHECK_TIMEOUT_MS) }),
    ])
    results.push([name, true])
    console.log(`ok   ${name}`)
  } catch (e) {
    results.push([name, false])
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`)
  } finally {
    clearTimeout(timer)
  }
}

const a = newSocket({ params: { user_id: "alice" } })
let echo

await check("join echo:js", async () => {
  const [channel, resp] = await joined(a, "echo:js")
  assert(deepEqual(resp, { joined: "echo:js" }), `join reply ${JSON.stringify(resp)}`)
  echo = channel
})

await check("push with ok reply", async () => {
  const payload = { a: 1, nested: { b: [1, 2, "x"] }, s: "héllo ✓" }
  const [status, resp] = await reply(echo.push("echo", payload))
  assert(status === "ok" && deepEqual(resp, payload), `${status} ${JSON.stringify(resp)}`)
})

await check("push with error reply", async () => {
  const [status, resp] = await reply(echo.push("error", { why: "because" }))
  assert(status === "error" && deepEqual(resp, { why: "because" }), `${status} ${JSON.stringify(resp)}`)
})

await check("broadcast reaches two sockets", async () => {
  const b = newSocket({ params: { user_id: "bob" } })
  const [echoB] = await joined(b, "echo:js")
  const gotA = nextEvent(echo, "broadcasted")
  const gotB = nextEvent(echoB, "broadcasted")
  const [status] = await reply(echo.push("broadcast", { msg: "hi all" }))
  assert(status === "ok", `broadcast reply ${status}`)
  const [pa, pb] = await Promise.all([gotA, gotB])
  assert(deepEqual(pa, { msg: "hi all" }) && deepEqual(pb, { msg: "hi all" }), `${JSON.stringify(pa)} ${JSON.stringify(pb)}`)
})

await check("server push", async () => {
  const got = nextEvent(echo, "pushed")
  echo.push("push_me", { x: 42 })
  const payload = await got
  assert(deepEqual(payload, { x: 42 }), JSON.stringify(payload))
})

await check("binary push, binary reply and binary server push", async () => {
  const [s1, r1] = await reply(echo.push("binary", new Uint8Array([9, 8, 7, 6, 5]).buffer))
  assert(s1 === "ok" && deepEqual(r1, { byte_size: 5 }), `binary push: ${s1} ${JSON.stringify(r1)}`)
  const [s2, r2] = await reply(echo.push("binary", {}))
  assert(s2 === "ok" && deepEqual(bytes(r2), [1, 2, 3]), `binary reply: ${s2}`)
  const pushed = nextEvent(echo, "pushed_binary")
  const [s3] = await reply(echo.push("push_binary", {}))
  assert(s3 === "ok", `push_binary reply ${s3}`)
  assert(deepEqual(bytes(await pushed), [4, 5, 6]), "pushed_binary payload")
})

await check("presence with two sockets", async () => {
  const pa = new Presence(a.channel("presence:js"))
  const carol = newSocket({ params: { user_id: "carol" } })
  const channelC = carol.channel("presence:js")
  const pc = new Presence(channelC)
  let synced = 0
  pa.onSync(() => { synced += 1 })
  await reply(pa.channel.join())
  await waitFor(() => pa.list().length === 1, "alice alone")
  await reply(channelC.join())
  const keys = (p) => p.list((key) => key).sort().join(",")
  await waitFor(() => keys(pa) === "alice,carol" && keys(pc) === "alice,carol", "alice and carol on both sides")
  const metas = pa.list((key, p) => p.metas[0])
  assert(metas.every((m) => typeof m.online_at === "number" && m.phx_ref.length === 16), JSON.stringify(metas))
  channelC.leave()
  await waitFor(() => keys(pa) === "alice", "carol's leave")
  assert(synced >= 3, `onSync fired ${synced} times`)
})

await check("heartbeat reply", async () => {
  const h = newSocket({ heartbeatIntervalMs: 100 })
  let replies = 0
  h.onMessage((msg) => {
    if (msg.topic === "phoenix" && msg.event === "phx_reply" && msg.payload.status === "ok") replies += 1
  })
  await waitFor(() => replies >= 2, "two heartbeat replies")
  const rtt = await new Promise((resolve) => h.ping(resolve))
  assert(typeof rtt === "number" && rtt >= 0, `ping rtt ${rtt}`)
})

await check("reconnect and rejoin after the server drops the connection", async () => {
  const r = newSocket({ params: { user_id: "reco" } })
  let opens = 0
  const closes = []
  r.onOpen(() => { opens += 1 })
  r.onClose((e) => { closes.push(e.code) })
  const [channel] = await joined(r, "echo:reco")
  const joinRef = channel.joinRef()
  // The fixture broadcasts "disconnect" to this socket id: the server closes (1001).
  channel.push("disconnect_me", {})
  await waitFor(() => closes.length >= 1 && opens >= 2, "close and reconnect")
  assert(closes[0] === 1001, `close code ${closes[0]}`)
  await waitFor(() => channel.state === "joined" && channel.joinRef() !== joinRef, "rejoin with a new join_ref")
  const [status, resp] = await reply(channel.push("echo", { after: "reconnect" }))
  assert(status === "ok" && deepEqual(resp, { after: "reconnect" }), `${status} ${JSON.stringify(resp)}`)
})

for (const s of sockets) s.disconnect()
const passed = results.filter(([, ok]) => ok).length
const failed = results.length - passed
console.log(`js client: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
