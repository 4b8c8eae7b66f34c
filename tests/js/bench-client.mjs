// phoenix-bench's client process for the official JavaScript client
// (npm `phoenix` 1.8.x over `ws`), speaking the protocol of the Rust
// clients (tests/phoenix-bench/probe):
//
//   node bench-client.mjs --url ws://127.0.0.1:PORT/socket --workload seq|pipe|recv|idle
//        [--count N] [--warmup N] [--inflight K] [--sockets S] [--settle-ms MS]
//
// It does the workload against a server serving the fixture (`echo:*`
// topics: `echo` replies with its payload, `many` pushes `n` `item`s) and
// prints one line of JSON: CPU time from process.cpuUsage() (the operating
// system's user + system time of the whole process) over the measured part
// only, peak memory from process.resourceUsage().maxRSS.

import { Socket } from "phoenix"
import WebSocket from "ws"

const TOPIC = "echo:bench"
const BODY = { body: "hello" }

function parseArgs(argv) {
  const opts = { count: null, warmup: 100, inflight: 1000, sockets: 1000, settleMs: 500 }
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    const number = () => {
      const n = Number(value)
      if (!Number.isInteger(n) || n < 0) throw new Error(`not a number: ${value}`)
      return n
    }
    switch (flag) {
      case "--url": opts.url = value; break
      case "--workload": opts.workload = value; break
      case "--mode": opts.mode = value; break
      case "--count": opts.count = number(); break
      case "--warmup": opts.warmup = number(); break
      case "--inflight": opts.inflight = Math.max(1, number()); break
      case "--sockets": opts.sockets = number(); break
      case "--settle-ms": opts.settleMs = number(); break
      default: throw new Error(`unknown option ${flag}`)
    }
  }
  if (!opts.url) throw new Error("--url is required")
  if (!["seq", "pipe", "recv", "idle"].includes(opts.workload)) throw new Error("--workload seq|pipe|recv|idle is required")
  opts.count ??= opts.workload === "seq" ? 10000 : 100000
  return opts
}

function meter() {
  const cpu = process.cpuUsage()
  const wall = process.hrtime.bigint()
  return () => {
    const used = process.cpuUsage(cpu)
    return {
      wall_s: Number(process.hrtime.bigint() - wall) / 1e9,
      cpu_s: (used.user + used.system) / 1e6,
      user_s: used.user / 1e6,
      sys_s: used.system / 1e6,
    }
  }
}

function rssKib() {
  return Math.round(process.memoryUsage.rss() / 1024)
}

function openSocket(url) {
  const endPoint = url.replace(/\/websocket\/?(\?.*)?$/, "").replace(/\/$/, "")
  const socket = new Socket(endPoint, { transport: WebSocket, timeout: 30000 })
  socket.connect()
  return socket
}

// Resolves once `push` gets an ok reply; rejects on an error or timeout.
function ok(push) {
  return new Promise((resolve, reject) => {
    push
      .receive("ok", resolve)
      .receive("error", (r) => reject(new Error(`error reply: ${JSON.stringify(r)}`)))
      .receive("timeout", () => reject(new Error("timeout")))
  })
}

async function joined(url, topic) {
  const socket = openSocket(url)
  const channel = socket.channel(topic, {})
  await ok(channel.join())
  return { socket, channel }
}

function percentiles(samples) {
  samples.sort((a, b) => a - b)
  const n = samples.length
  if (n === 0) return undefined
  const rank = (p) => samples[Math.min(n, Math.max(1, Math.ceil(p * n))) - 1]
  return {
    p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), p999: rank(0.999),
    max: samples[n - 1], mean: samples.reduce((a, b) => a + b, 0) / n,
  }
}

async function run(opts) {
  const { count } = opts
  switch (opts.workload) {
    case "seq": {
      const { channel } = await joined(opts.url, TOPIC)
      for (let i = 0; i < opts.warmup; i++) await ok(channel.push("echo", BODY))
      const latencies = new Array(count)
      const stop = meter()
      for (let i = 0; i < count; i++) {
        const sent = process.hrtime.bigint()
        await ok(channel.push("echo", BODY))
        latencies[i] = Number(process.hrtime.bigint() - sent) / 1e3
      }
      return { workload: "seq", count, ...stop(), latency_us: percentiles(latencies) }
    }
    case "pipe": {
      const { channel } = await joined(opts.url, TOPIC)
      const stop = meter()
      await new Promise((resolve, reject) => {
        let [sent, answered] = [0, 0]
        const send = () => {
          sent++
          channel.push("echo", BODY)
            .receive("ok", () => {
              answered++
              if (sent < count) send()
              else if (answered === count) resolve()
            })
            .receive("error", (r) => reject(new Error(`error reply: ${JSON.stringify(r)}`)))
            .receive("timeout", () => reject(new Error("timeout")))
        }
        const first = Math.min(count, opts.inflight)
        for (let i = 0; i < first; i++) send()
        if (count === 0) resolve()
      })
      return { workload: "pipe", count, ...stop() }
    }
    case "recv": {
      const { channel } = await joined(opts.url, TOPIC)
      let stop
      await new Promise((resolve, reject) => {
        let received = 0
        channel.on("item", () => {
          if (++received === count) resolve()
        })
        stop = meter()
        channel.push("many", { n: count }).receive("error", reject).receive("timeout", () => reject(new Error("timeout")))
        if (count === 0) resolve()
      })
      return { workload: "recv", count, ...stop() }
    }
    case "idle": {
      const before = rssKib()
      const stop = meter()
      const sockets = []
      const joins = []
      for (let i = 0; i < opts.sockets; i++) {
        const socket = openSocket(opts.url)
        const channel = socket.channel(`echo:idle${i}`, {})
        sockets.push(socket)
        joins.push(ok(channel.join()))
      }
      await Promise.all(joins)
      const measured = stop()
      await new Promise((resolve) => setTimeout(resolve, opts.settleMs))
      return {
        workload: "idle", count: opts.sockets, ...measured,
        rss_before_kib: before, rss_after_kib: rssKib(), keep: sockets.length,
      }
    }
  }
}

try {
  const report = await run(parseArgs(process.argv.slice(2)))
  delete report.keep
  report.peak_rss_kib = process.resourceUsage().maxRSS
  process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0))
} catch (error) {
  process.stderr.write(`bench-client.mjs: ${error?.stack ?? error}\n`, () => process.exit(1))
}
