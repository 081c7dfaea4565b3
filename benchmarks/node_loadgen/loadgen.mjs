// The gateway benchmark's load generator in Node.js: the same stations, the
// same frames and the same stdin/stdout protocol (JSON lines) as
// benchmarks/loadgen.py, so that the harness drives either; this one costs
// a fraction of the CPU per call (the `ws` client, no promise per call).
//
//   node benchmarks/node_loadgen/loadgen.mjs --url ws://127.0.0.1:9000/ocpp --count 1000
//
// Options: --count, --first, --connect-concurrency (0: all at once, a boot
// storm), --timeout, --secret-seed (basic auth), --source-net (connect from
// 127.NET.x.1, one x per 1,000 stations), --ocpp 1.6|2.0.1, --raw-dir (write
// every latency sample to a file there, float64 seconds in native byte
// order, named in the event as raw.latency), --no-commands.
//
// Commands on stdin: {"cmd": "closed", "warmup": 3, "duration": 20},
// {"cmd": "rate", "rate": 1000, "warmup": 3, "duration": 20}, {"cmd": "sweep"},
// {"cmd": "quit"}. Events on stdout: ready, window_start, window_end,
// result, error. benchmarks/loadgen.py's docstring and benchmarks/frames.py
// describe the fields and the frames; keep the three files in step.

import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const CONNECTIONS_PER_SOURCE_ADDRESS = 1000;
const DRAIN_SECONDS = 30;
const CALLRESULT = 3;
const CALLERROR = 4;
const ENERGY_START_WH = 1000000;
const SAMPLES_PER_METER_VALUES_16 = 4;

// -- frames (byte for byte those of benchmarks/frames.py) ----------------------

const BOOT_PAYLOAD =
  '{"chargePointVendor":"BenchVendor","chargePointModel":"LoadGen-1",' +
  '"chargePointSerialNumber":"SN-BENCH","firmwareVersion":"1.0.0"}';
const BOOT_PAYLOAD_201 =
  '{"chargingStation":{"vendorName":"BenchVendor","model":"LoadGen-1",' +
  '"serialNumber":"SN-BENCH","firmwareVersion":"1.0.0"},"reason":"PowerUp"}';
const HEARTBEAT_TAIL = '","Heartbeat",{}]';
const MV16_TAIL =
  '","context":"Sample.Periodic",' +
  '"measurand":"Energy.Active.Import.Register","location":"Outlet","unit":"Wh"},' +
  '{"value":"7360.5","context":"Sample.Periodic","measurand":"Power.Active.Import",' +
  '"location":"Outlet","unit":"W"},' +
  '{"value":"32.0","context":"Sample.Periodic","measurand":"Current.Import",' +
  '"location":"Outlet","phase":"L1","unit":"A"},' +
  '{"value":"230.1","context":"Sample.Periodic","measurand":"Voltage",' +
  '"location":"Outlet","phase":"L1-N","unit":"V"}]}]}]';
const UPDATED_TAIL =
  ',"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",' +
  '"unitOfMeasure":{"unit":"Wh"}}]}]}]';

let currentSecond = "2026-01-01T00:00:00";

function refreshSecond() {
  currentSecond = new Date().toISOString().slice(0, 19);
}

function micro(counter) {
  return String(counter % 1000000).padStart(6, "0");
}

function bootFrame(v201) {
  return '[2,"boot","BootNotification",' + (v201 ? BOOT_PAYLOAD_201 : BOOT_PAYLOAD) + "]";
}

function heartbeatFrame(id) {
  return '[2,"' + id + HEARTBEAT_TAIL;
}

function meterValues16(id, second, counter, transactionId) {
  return (
    '[2,"' + id + '","MeterValues",{"connectorId":1,"transactionId":' + transactionId +
    ',"meterValue":[{"timestamp":"' +
    second + "." + micro(counter) + 'Z","sampledValue":[{"value":"' +
    (ENERGY_START_WH + counter) + MV16_TAIL
  );
}

function statusNotification16(id, second) {
  return (
    '[2,"' + id + '","StatusNotification",{"connectorId":1,"errorCode":"NoError",' +
    '"status":"Preparing","timestamp":"' + second + '.000000Z"}]'
  );
}

function startTransaction16(id, second, idTag) {
  return (
    '[2,"' + id + '","StartTransaction",{"connectorId":1,"idTag":"' + idTag +
    '","meterStart":' + ENERGY_START_WH + ',"timestamp":"' + second + '.000000Z"}]'
  );
}

// The transactionId of a StartTransaction answer; null without one.
function transactionId16(data) {
  const match = /"transactionId"\s*:\s*(-?\d+)/.exec(data.toString("utf8"));
  return match ? Number(match[1]) : null;
}

function statusNotification201(id, second) {
  return (
    '[2,"' + id + '","StatusNotification",{"timestamp":"' + second +
    '.000000Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}]'
  );
}

function transactionStarted201(id, second, transactionId, idToken) {
  return (
    '[2,"' + id + '","TransactionEvent",{"eventType":"Started","timestamp":"' + second +
    '.000000Z","triggerReason":"Authorized","seqNo":0,' +
    '"transactionInfo":{"transactionId":"' + transactionId + '","chargingState":"Charging"},' +
    '"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"' + idToken + '","type":"ISO14443"},' +
    '"meterValue":[{"timestamp":"' + second + '.000000Z","sampledValue":[{"value":' +
    ENERGY_START_WH + ',"context":"Transaction.Begin","measurand":"Energy.Active.Import.Register",' +
    '"unitOfMeasure":{"unit":"Wh"}}]}]}]'
  );
}

function transactionUpdated201(id, second, seqNo, transactionId) {
  const stamp = second + "." + micro(seqNo) + "Z";
  return (
    '[2,"' + id + '","TransactionEvent",{"eventType":"Updated","timestamp":"' + stamp +
    '","triggerReason":"MeterValuePeriodic","seqNo":' + seqNo +
    ',"transactionInfo":{"transactionId":"' + transactionId + '","chargingState":"Charging"},' +
    '"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"' + stamp +
    '","sampledValue":[{"value":' + (ENERGY_START_WH + seqNo) + UPDATED_TAIL
  );
}

function zeroMask(mask) {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

// The station's own id token (benchmarks.frames.id_token).
function idToken(chargePointId) {
  return "TAG-" + chargePointId;
}

// idTokenInfo.status of a TransactionEvent answer ("none" without one).
function tokenStatus(data) {
  const text = data.toString("utf8");
  const match = /"status"\s*:\s*"([^"]*)"/.exec(text);
  return match ? match[1] : "none";
}

function stationId(index) {
  return "BENCH-" + String(index).padStart(6, "0");
}

function stationSecret(seed, chargePointId) {
  return crypto.createHash("sha256").update(`${seed}:${chargePointId}`).digest("hex").slice(0, 24);
}

function basicAuth(chargePointId, secret) {
  return "Basic " + Buffer.from(`${chargePointId}:${secret}`).toString("base64");
}

// (message type, message id) of an answer without a JSON parser; [-1, ""]
// when it is neither a CALLRESULT nor a CALLERROR.
function parseAnswer(data) {
  const first = data.indexOf(0x22);
  if (first < 0) return [-1, ""];
  const second = data.indexOf(0x22, first + 1);
  if (second < 0) return [-1, ""];
  const head = data.toString("latin1", 0, first).replace(/[\s\[,]/g, "");
  if (!/^-?\d+$/.test(head)) return [-1, ""];
  return [Number(head), data.toString("latin1", first + 1, second)];
}

// -- measuring ---------------------------------------------------------------

const now = () => performance.now(); // milliseconds

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.max(rank, 1) - 1];
}

// p50, p99 and max in ms of latencies in seconds (nearest rank), as
// benchmarks.measure.summarize; NaN (null in JSON) when there are none.
function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    p50_ms: percentile(sorted, 50) * 1000,
    p99_ms: percentile(sorted, 99) * 1000,
    max_ms: sorted.length ? sorted[sorted.length - 1] * 1000 : NaN,
  };
}

function writeRaw(file, values) {
  const array = Float64Array.from(values);
  fs.writeFileSync(file, Buffer.from(array.buffer, array.byteOffset, array.byteLength));
}

function countUp(counter, key) {
  counter[key] = (counter[key] || 0) + 1;
}

class Tally {
  constructor() {
    this.latencies = [];
    this.calls = 0;
    this.callErrors = 0;
    this.errorCodes = {};
    this.mismatched = 0;
    this.closed = 0;
    this.unanswered = 0;
    this.lateSends = 0;
    this.meterValuesAnswered = 0;
    this.samplesAnswered = 0;
  }

  recordError(data) {
    this.callErrors += 1;
    const parts = data.toString("utf8").split('"');
    countUp(this.errorCodes, parts.length > 3 ? parts[3] : "?");
  }

  errors() {
    return this.callErrors + this.mismatched + this.closed + this.unanswered;
  }

  report(seconds, rawPath) {
    const raw = {};
    if (rawPath) {
      writeRaw(rawPath, this.latencies);
      raw.latency = rawPath;
    }
    return {
      calls: this.calls,
      calls_per_s: seconds > 0 ? this.calls / seconds : 0,
      ...summarize(this.latencies),
      call_errors: this.callErrors,
      error_codes: this.errorCodes,
      mismatched_ids: this.mismatched,
      closed_under_call: this.closed,
      unanswered: this.unanswered,
      late_sends: this.lateSends,
      meter_values_answered: this.meterValuesAnswered,
      samples_answered: this.samplesAnswered,
      errors: this.errors(),
      raw,
    };
  }
}

// -- stations ------------------------------------------------------------------

class Station {
  constructor(index, chargePointId, v201, nonce) {
    this.index = index;
    this.chargePointId = chargePointId;
    this.v201 = v201;
    this.transactionId = `${chargePointId}-${nonce}`.slice(0, 36);
    this.transactionId16 = 0; // what the server's StartTransaction answer gave
    this.ws = null;
    this.counter = 0;
    this.meterNext = false;
    this.meterCount = 0;
    this.samples = 0; // sampled values in the call in flight
    this.expect = "";
    this.callback = null; // connect phase and sweep: called with the answer, or null when closed
    this.isClosed = false;
    // Measured runs (no allocation per call beyond the frame): the run's
    // context, whether a measured call is in flight, its send or scheduled
    // time, the station's own schedule and its end-of-run callback.
    this.run = null;
    this.inFlight = false;
    this.sentAt = 0;
    this.k = 0;
    this.offset = 0;
    this.done = null;
  }

  attach(ws) {
    this.ws = ws;
    ws.on("message", (data) => this.onMessage(data));
    ws.on("close", () => this.onClose());
  }

  onMessage(data) {
    if (this.inFlight) {
      this.inFlight = false;
      this.run.answer(this, this.check(data, this.run.tally));
      return;
    }
    const callback = this.callback;
    if (callback === null) return; // an answer after its call was given up
    this.callback = null;
    callback(data);
  }

  onClose() {
    this.isClosed = true;
    if (this.inFlight) {
      this.inFlight = false;
      this.run.tally.closed += 1;
      this.run.answer(this, null);
      return;
    }
    const callback = this.callback;
    if (callback !== null) {
      this.callback = null;
      callback(null);
    }
  }

  // Connect phase and sweep: sends one call; `callback(answer)` with the
  // answer frame, or null when the connection closed under it.
  call(frame, id, callback) {
    if (this.isClosed) {
      callback(null);
      return;
    }
    this.expect = id;
    this.callback = callback;
    this.ws.send(frame);
  }

  // A measured run: sends the station's next call; the answer goes to
  // `run.answer(station, t)`, t the time a CALLRESULT with the call's id
  // came back, 0 for any other answer, null when the connection closed
  // (all counted in run.tally).
  sendNext(run) {
    this.run = run;
    if (this.isClosed) {
      run.tally.closed += 1;
      run.answer(this, null);
      return;
    }
    this.counter += 1;
    const id = String(this.counter);
    this.expect = id;
    this.meterNext = !this.meterNext;
    let frame;
    if (!this.meterNext) {
      this.samples = 0;
      frame = heartbeatFrame(id);
    } else {
      this.meterCount += 1;
      if (this.v201) {
        this.samples = 1;
        frame = transactionUpdated201(id, currentSecond, this.meterCount, this.transactionId);
      } else {
        this.samples = SAMPLES_PER_METER_VALUES_16;
        frame = meterValues16(id, currentSecond, this.meterCount, this.transactionId16);
      }
    }
    this.inFlight = true;
    this.ws.send(frame);
  }

  // The answer to the measured call in flight: its time, or 0 (counted).
  check(data, tally) {
    const t = now();
    const kind = answerKind(data);
    if (!answerIdIs(data, this.expect)) {
      tally.mismatched += 1;
      return 0;
    }
    if (kind !== CALLRESULT) {
      tally.recordError(data);
      return 0;
    }
    if (this.samples) {
      tally.meterValuesAnswered += 1;
      tally.samplesAnswered += this.samples;
    }
    return t;
  }
}

// The message type of an answer, read from its bytes: the number after "[".
function answerKind(data) {
  let i = 0;
  const length = data.length;
  while (i < length && (data[i] === 0x5b || data[i] === 0x20 || data[i] === 0x0a || data[i] === 0x0d || data[i] === 0x09)) i++;
  let kind = 0;
  let digits = 0;
  while (i < length && data[i] >= 0x30 && data[i] <= 0x39) {
    kind = kind * 10 + (data[i] - 0x30);
    i++;
    digits++;
  }
  return digits ? kind : -1;
}

// Is the answer's first string (its message id) exactly `id` (ASCII)?
function answerIdIs(data, id) {
  const first = data.indexOf(0x22);
  if (first < 0) return false;
  const n = id.length;
  if (first + n + 1 >= data.length || data[first + 1 + n] !== 0x22) return false;
  for (let k = 0; k < n; k++) {
    if (data[first + 1 + k] !== id.charCodeAt(k)) return false;
  }
  return true;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

class LoadGenerator {
  constructor(args) {
    this.args = args;
    this.url = args.url.replace(/\/+$/, "");
    this.v201 = args.ocpp === "2.0.1";
    const nonce = crypto.randomBytes(4).toString("hex");
    this.stations = [];
    for (let i = args.first; i < args.first + args.count; i++) {
      this.stations.push(new Station(i, stationId(i), this.v201, nonce));
    }
    this.rawCounter = 0;
    this.transactionsStarted = 0;
    this.startStatus = {};
  }

  rawPath(name) {
    if (!this.args.rawDir) return null;
    this.rawCounter += 1;
    return path.join(this.args.rawDir, `${this.args.first}-${this.rawCounter}-${name}.f64`);
  }

  // -- connecting ----------------------------------------------------------------

  async connectAll() {
    const args = this.args;
    const concurrency = args.connectConcurrency || this.stations.length;
    const failures = {};
    const httpStatus = {};
    const bootStatus = {};
    const started = [];
    const booted = [];
    const startedEpoch = [];
    const bootedEpoch = [];
    const durations = [];
    const handshakes = [];
    const boots = [];
    const begin = now();
    const epochOffset = Date.now() - performance.now(); // wall clock = now() + offset
    let next = 0;
    const one = async (station) => {
      const t0 = now();
      started.push(t0);
      startedEpoch.push((t0 + epochOffset) / 1000);
      const [outcome, connectedAt, bootedAt] = await this.open(station);
      if (outcome !== null) {
        if (outcome.startsWith("http_")) countUp(httpStatus, outcome.slice(5));
        else if (outcome.startsWith("boot_")) countUp(bootStatus, outcome.slice(5));
        else countUp(failures, outcome);
        return;
      }
      countUp(bootStatus, "Accepted");
      booted.push(bootedAt);
      bootedEpoch.push((bootedAt + epochOffset) / 1000);
      durations.push((bootedAt - t0) / 1000);
      handshakes.push((connectedAt - t0) / 1000);
      boots.push((bootedAt - connectedAt) / 1000);
    };
    const worker = async () => {
      while (next < this.stations.length) {
        const station = this.stations[next++];
        await one(station);
      }
    };
    const workers = [];
    for (let w = 0; w < Math.min(concurrency, this.stations.length); w++) workers.push(worker());
    await Promise.all(workers);
    const wall = (now() - begin) / 1000;
    this.stations = this.stations.filter((s) => s.ws !== null);
    const raw = {};
    for (const [name, values] of [
      ["per_station", durations],
      ["handshake", handshakes],
      ["boot", boots],
      ["started_epoch", startedEpoch],
      ["booted_epoch", bootedEpoch],
    ]) {
      const file = this.rawPath(name);
      if (file) {
        writeRaw(file, values);
        raw[name] = file;
      }
    }
    const origin = started.reduce((a, b) => Math.min(a, b), Infinity);
    const last = booted.reduce((a, b) => Math.max(a, b), -Infinity);
    return {
      requested: args.count,
      connected_and_booted: this.stations.length,
      boot_status: bootStatus,
      http_status: httpStatus,
      connect_failures: failures,
      seconds: wall,
      first_connect_to_last_boot_s: booted.length ? (last - origin) / 1000 : null,
      per_station: summarize(durations),
      handshake: summarize(handshakes),
      boot: summarize(boots),
      booted_by_second: booted.length
        ? cumulativePerSecond(booted.map((t) => t / 1000), origin / 1000)
        : [],
      ocpp: args.ocpp,
      transactions_started: this.transactionsStarted,
      start_status: this.startStatus,
      raw,
    };
  }

  // Connects and boots one station (2.0.1: and starts its session):
  // [null, connectedAt, bootedAt] when it is booted Accepted, else
  // [what went wrong, ...].
  open(station) {
    const args = this.args;
    const headers = {};
    if (args.secretSeed) {
      const secret = stationSecret(args.secretSeed, station.chargePointId);
      headers.Authorization = basicAuth(station.chargePointId, secret);
    }
    const slot = station.index - args.first;
    const source = `127.${args.sourceNet}.${Math.floor(slot / CONNECTIONS_PER_SOURCE_ADDRESS) % 256}.1`;
    return new Promise((resolve) => {
      let settled = false;
      let connectedAt = 0;
      let timer = null;
      const finish = (outcome, bootedAt = 0) => {
        if (settled) return;
        settled = true;
        if (timer !== null) clearTimeout(timer);
        if (outcome !== null) {
          try {
            ws.terminate();
          } catch {
            // already gone
          }
        }
        resolve([outcome, connectedAt, bootedAt]);
      };
      const ws = new WebSocket(`${this.url}/${station.chargePointId}`, [this.v201 ? "ocpp2.0.1" : "ocpp1.6"], {
        headers,
        perMessageDeflate: false,
        handshakeTimeout: args.timeout * 1000,
        localAddress: source,
        followRedirects: false,
        maxPayload: 16 * 1024 * 1024,
        // The answers are only searched for their type and id.
        skipUTF8Validation: true,
        // An all-zero masking key: ws then sends the frame's text as it is
        // (no copy into a buffer, no XOR pass). RFC 6455 wants clients to
        // pick unpredictable keys (to protect proxies' caches, none here);
        // a server unmasks whatever key it gets, so its work is unchanged.
        generateMask: zeroMask,
      });
      ws.on("error", (error) => {
        if (connectedAt) return; // after the handshake a 'close' follows
        finish(classifyError(error));
      });
      // A call of the connect phase with its own timeout; `then()` after a
      // CALLRESULT with the id.
      const step = (frame, id, name, then) => {
        timer = setTimeout(() => finish(`${name}_timeout`), args.timeout * 1000);
        station.call(frame, id, (data) => {
          clearTimeout(timer);
          timer = null;
          if (data === null) {
            finish(`closed_during_${name}`);
            return;
          }
          const [kind, answerId] = parseAnswer(data);
          if (kind !== CALLRESULT || answerId !== id) {
            finish(kind === CALLERROR ? `${name}_callerror` : `${name}_bad_answer`);
            return;
          }
          then(data);
        });
      };
      ws.on("open", () => {
        connectedAt = now();
        station.attach(ws);
        step(bootFrame(this.v201), "boot", "boot", (data) => {
          const bootedAt = now();
          if (!data.includes('"Accepted"')) {
            finish("boot_" + (data.includes('"Pending"') ? "Pending" : "Rejected"));
            return;
          }
          // The session the measured MeterValues / TransactionEvent Updated
          // calls belong to, started with the station's own id token.
          const token = idToken(station.chargePointId);
          const status = this.v201
            ? statusNotification201("status", currentSecond)
            : statusNotification16("status", currentSecond);
          const start = this.v201
            ? transactionStarted201("start", currentSecond, station.transactionId, token)
            : startTransaction16("start", currentSecond, token);
          step(status, "status", "status", () => {
            step(start, "start", "start", (answer) => {
              if (!this.v201) {
                const transactionId = transactionId16(answer);
                if (transactionId === null) {
                  finish("start_without_transaction_id");
                  return;
                }
                station.transactionId16 = transactionId;
              }
              this.transactionsStarted += 1;
              countUp(this.startStatus, tokenStatus(answer));
              finish(null, bootedAt);
            });
          });
        });
      });
    }).then((result) => {
      if (result[0] !== null) station.ws = null;
      return result;
    });
  }

  // -- measured runs ---------------------------------------------------------------

  async closedLoop(warmup, duration) {
    const tally = new Tally();
    const start = now();
    const windowStart = start + warmup * 1000;
    const windowEnd = windowStart + duration * 1000;
    const latencies = tally.latencies;
    const context = {
      tally,
      answer(station, t) {
        if (t === null) {
          station.done();
          return;
        }
        if (t > 0 && t >= windowStart && t < windowEnd) {
          tally.calls += 1;
          latencies.push((t - station.sentAt) / 1000);
        }
        const sent = now();
        if (sent >= windowEnd) {
          station.done();
          return;
        }
        station.sentAt = sent;
        station.sendNext(context);
      },
    };
    await this.run(tally, windowStart, windowEnd, (station) => {
      const sent = now();
      if (sent >= windowEnd) {
        station.done();
        return;
      }
      station.sentAt = sent;
      station.sendNext(context);
    });
    return tally.report(duration, this.rawPath("latency"));
  }

  // `spread` (several processes share the rate): {total, before}, the load
  // side's stations in all and those before this process's first.
  async openLoop(rate, warmup, duration, spread) {
    const tally = new Tally();
    const count = spread ? spread.total : this.stations.length;
    const before = spread ? spread.before : 0;
    const period = (count / rate) * 1000; // ms between two calls of one station
    const start = now() + 200;
    const windowStart = start + warmup * 1000;
    const windowEnd = windowStart + duration * 1000;
    const first = this.args.first;
    const latencies = tally.latencies;
    // Node's timers may fire up to a millisecond early: never send before
    // the scheduled time (sentAt holds it: latency counts from it).
    const go = (station) => {
      const early = station.sentAt - now();
      if (early > 0) {
        setTimeout(go, early, station);
        return;
      }
      station.sendNext(context);
    };
    const next = (station) => {
      const scheduled = start + station.offset + station.k * period;
      station.k += 1;
      if (scheduled >= windowEnd) {
        station.done();
        return;
      }
      station.sentAt = scheduled;
      const delay = scheduled - now();
      if (delay > 0) {
        setTimeout(go, delay, station);
      } else {
        if (delay < -10) tally.lateSends += 1;
        station.sendNext(context);
      }
    };
    const context = {
      tally,
      answer(station, t) {
        if (t === null) {
          station.done();
          return;
        }
        if (t > 0 && windowStart <= station.sentAt) {
          tally.calls += 1;
          latencies.push((t - station.sentAt) / 1000);
        }
        next(station);
      },
    };
    await this.run(tally, windowStart, windowEnd, (station) => {
      station.offset = ((station.index - first + before) / rate) * 1000;
      station.k = 0;
      next(station);
    });
    return tally.report(duration, this.rawPath("latency"));
  }

  // One Heartbeat on every held connection, 500 in flight.
  async sweep() {
    const tally = new Tally();
    const begin = now();
    const timeout = this.args.timeout * 1000;
    let next = 0;
    const one = (station) =>
      new Promise((resolve) => {
        station.counter += 1;
        const id = String(station.counter);
        const sent = now();
        const timer = setTimeout(() => {
          station.callback = null;
          tally.unanswered += 1;
          resolve();
        }, timeout);
        station.call(heartbeatFrame(id), id, (data) => {
          clearTimeout(timer);
          if (data === null) {
            tally.closed += 1;
          } else {
            const [kind, answerId] = parseAnswer(data);
            if (answerId !== id) tally.mismatched += 1;
            else if (kind !== CALLRESULT) tally.recordError(data);
            else {
              tally.calls += 1;
              tally.latencies.push((now() - sent) / 1000);
            }
          }
          resolve();
        });
      });
    const worker = async () => {
      while (next < this.stations.length) await one(this.stations[next++]);
    };
    const workers = [];
    for (let w = 0; w < Math.min(500, this.stations.length); w++) workers.push(worker());
    await Promise.all(workers);
    const report = tally.report((now() - begin) / 1000, this.rawPath("latency"));
    report.held = tally.calls;
    return report;
  }

  // Runs `begin(station)` on every station, whose `station.done()` ends
  // its part; window_start and window_end announced on time; a station
  // still waiting DRAIN_SECONDS after the window is counted unanswered and
  // left out of later runs (its late answer would be read as the next
  // call's).
  run(tally, windowStart, windowEnd, begin) {
    const announcer = (async () => {
      await sleep(windowStart - now());
      emit("window_start");
      await sleep(windowEnd - now());
      emit("window_end");
    })();
    const stations = this.stations;
    const finished = new Uint8Array(stations.length);
    let remaining = stations.length;
    return new Promise((resolve) => {
      let cutoff = null;
      const end = () => {
        if (cutoff !== null) clearTimeout(cutoff);
        for (const station of stations) station.done = null;
        announcer.then(resolve);
      };
      if (remaining === 0) {
        end();
        return;
      }
      cutoff = setTimeout(() => {
        cutoff = null;
        const kept = [];
        stations.forEach((station, i) => {
          if (finished[i]) {
            kept.push(station);
          } else {
            finished[i] = 1;
            station.inFlight = false;
            station.callback = null;
            tally.unanswered += 1;
          }
        });
        this.stations = kept;
        remaining = 0;
        end();
      }, windowEnd + DRAIN_SECONDS * 1000 - now());
      stations.forEach((station, i) => {
        station.done = () => {
          if (finished[i]) return;
          finished[i] = 1;
          remaining -= 1;
          if (remaining === 0) end();
        };
      });
      for (const station of stations) begin(station);
    });
  }
}

function classifyError(error) {
  const message = String(error && error.message);
  const status = /Unexpected server response: (\d+)/.exec(message);
  if (status) return `http_${status[1]}`;
  if (/handshake has timed out/i.test(message)) return "timeout";
  if (error && error.code) {
    const errno = os.constants.errno[error.code];
    return errno !== undefined ? `os_error_${errno}` : `os_error_${error.code}`;
  }
  return (error && error.name) || "Error";
}

// How many of `times` (seconds) had happened 1, 2, 3... s after `origin`.
function cumulativePerSecond(times, origin, limit = 600) {
  if (!times.length) return [];
  let latest = -Infinity;
  for (const t of times) latest = Math.max(latest, t);
  const seconds = Math.min(Math.floor(latest - origin) + 1, limit);
  const counts = new Array(seconds).fill(0);
  for (const t of times) counts[Math.min(Math.floor(t - origin), seconds - 1)] += 1;
  let total = 0;
  for (let i = 0; i < seconds; i++) {
    total += counts[i];
    counts[i] = total;
  }
  return counts;
}

// -- main ----------------------------------------------------------------------------

function parseArgs(argv) {
  const args = {
    url: "",
    count: 0,
    first: 0,
    connectConcurrency: 200,
    timeout: 60,
    secretSeed: "",
    sourceNet: 1,
    ocpp: "1.6",
    rawDir: "",
    noCommands: false,
  };
  const names = {
    "--url": ["url", String],
    "--count": ["count", Number],
    "--first": ["first", Number],
    "--connect-concurrency": ["connectConcurrency", Number],
    "--timeout": ["timeout", Number],
    "--secret-seed": ["secretSeed", String],
    "--source-net": ["sourceNet", Number],
    "--ocpp": ["ocpp", String],
    "--raw-dir": ["rawDir", String],
  };
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s);
    if (flag === "--no-commands") {
      args.noCommands = true;
      continue;
    }
    const spec = names[flag];
    if (!spec) fail(`unknown option ${flag}`);
    if (value === undefined) {
      i += 1;
      if (i >= argv.length) fail(`${flag} needs a value`);
      value = argv[i];
    }
    const parsed = spec[1](value);
    if (spec[1] === Number && !Number.isFinite(parsed)) fail(`${flag} takes a number`);
    args[spec[0]] = parsed;
  }
  if (!args.url) fail("--url is required");
  if (!(args.count >= 1 && args.count <= 100000)) fail("--count must be between 1 and 100000");
  if (!(args.sourceNet >= 1 && args.sourceNet <= 255)) fail("--source-net must be between 1 and 255");
  if (args.ocpp !== "1.6" && args.ocpp !== "2.0.1") fail("--ocpp must be 1.6 or 2.0.1");
  return args;
}

function fail(message) {
  process.stderr.write(`loadgen.mjs: ${message}\n`);
  process.exit(2);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  refreshSecond();
  setInterval(refreshSecond, 1000).unref();
  const generator = new LoadGenerator(args);
  const report = await generator.connectAll();
  emit("ready", report);
  if (args.noCommands) process.exit(0);
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let command;
    try {
      command = JSON.parse(line);
    } catch {
      emit("error", { message: `not JSON: ${line.slice(0, 80)}` });
      continue;
    }
    const name = command.cmd;
    if (name === "quit") break;
    let result;
    if (name === "closed") {
      result = await generator.closedLoop(command.warmup, command.duration);
    } else if (name === "rate") {
      result = await generator.openLoop(command.rate, command.warmup, command.duration, command.spread);
    } else if (name === "sweep") {
      result = await generator.sweep();
    } else {
      emit("error", { message: `unknown command ${JSON.stringify(name)}` });
      continue;
    }
    emit("result", { cmd: name, connections: generator.stations.length, ...result });
  }
  // Exit without closing handshakes, as the Python generator does.
  process.exit(0);
}

main().catch((error) => {
  emit("error", { message: String((error && error.stack) || error) });
  process.exit(1);
});
