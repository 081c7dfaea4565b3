// A whole OCPP 1.6J charging session driven by a strict third-party client
// (mikuso/ocpp-rpc with strictMode: every call we send and every answer the
// server gives is validated against the official OCPP 1.6 JSON schemas).
//
// usage: node session.mjs <ws-base-url> <station-id> <id-tag> [password]
//   e.g. node session.mjs ws://127.0.0.1:9000/ocpp CP-1 TAG-1 s3cret
//
// Prints one JSON line per step on stdout, finally {"ok": true, ...}.
// Exits 0 on success, 1 on any failure (the error goes to stderr).

import { setTimeout as sleep } from 'node:timers/promises';
import ocppRpc from 'ocpp-rpc'; // CommonJS: take the names from its default export

const { RPCClient, RPCError, createRPCError } = ocppRpc;

const USAGE = 'usage: node session.mjs <ws-base-url> <station-id> <id-tag> [password]';
const CALL_TIMEOUT_MS = 10_000;
const METER_START_WH = 1_250_000;
const METER_STEP_WH = 1_100; // per periodic sample
const METER_STOP_WH = METER_START_WH + 3 * METER_STEP_WH + 400;
const LONG_ID_TAG = 'THIS-ID-TAG-IS-TOO-LONG-FOR-OCPP16'; // idToken is at most 20 chars

class Failure extends Error {}

function emit(step, fields = {}) {
    process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function expect(condition, message, detail) {
    if (!condition) {
        throw new Failure(`${message}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
    }
}

const now = () => new Date().toISOString(); // ISO 8601 with milliseconds and Z

function makeClient({ endpoint, identity, password, strictMode }) {
    const client = new RPCClient({
        endpoint,
        identity,
        password,
        protocols: ['ocpp1.6'],
        strictMode,
        callTimeoutMs: CALL_TIMEOUT_MS,
        reconnect: false, // a dropped connection is a failure, not something to hide
    });
    const problems = [];
    client.on('strictValidationFailure', (event) => {
        const problem = {
            kind: 'strictValidationFailure',
            method: event.method,
            outbound: event.outbound,
            isCall: event.isCall,
            error: event.error?.message,
            rpcErrorCode: event.error?.rpcErrorCode,
            params: event.params,
            result: event.result,
        };
        problems.push(problem);
        process.stderr.write(JSON.stringify(problem) + '\n');
    });
    client.on('badMessage', (event) => {
        const problem = {
            kind: 'badMessage',
            message: event.buffer?.toString('utf8'),
            error: event.error?.message,
        };
        problems.push(problem);
        process.stderr.write(JSON.stringify(problem) + '\n');
    });
    // The CSMS may call the charge point; answer nothing we do not implement.
    client.handle(({ method, params }) => {
        emit('inbound-call', { method, params });
        throw createRPCError('NotImplemented', `${method} is not implemented by this test client`);
    });
    return { client, problems };
}

function periodicMeterValue(energyWh, powerW, socPercent) {
    const context = 'Sample.Periodic';
    const currents = ['L1', 'L2', 'L3'].map((phase, i) => ({
        value: (15.9 + i / 10).toFixed(1),
        context,
        measurand: 'Current.Import',
        phase,
        location: 'Outlet',
        unit: 'A',
    }));
    return {
        timestamp: now(),
        sampledValue: [
            {
                value: String(energyWh),
                context,
                format: 'Raw',
                measurand: 'Energy.Active.Import.Register',
                location: 'Outlet',
                unit: 'Wh',
            },
            {
                value: String(powerW),
                context,
                measurand: 'Power.Active.Import',
                location: 'Outlet',
                unit: 'W',
            },
            ...currents,
            {
                value: '230.4',
                context,
                measurand: 'Voltage',
                phase: 'L1-N',
                location: 'Outlet',
                unit: 'V',
            },
            {
                value: String(socPercent),
                context,
                measurand: 'SoC',
                location: 'EV',
                unit: 'Percent',
            },
        ],
    };
}

async function strictSession({ endpoint, stationId, idTag, password }) {
    const { client, problems } = makeClient({
        endpoint,
        identity: stationId,
        password,
        strictMode: true,
    });
    let heartbeatTimer;
    let sampledValues = 0;
    try {
        await client.connect();
        expect(client.protocol === 'ocpp1.6', 'subprotocol not agreed', client.protocol);
        emit('connect', { protocol: client.protocol, strictMode: true });

        const boot = await client.call('BootNotification', {
            chargePointVendor: 'ocpp-rpc',
            chargePointModel: 'interop-strict',
            chargePointSerialNumber: 'SN-INTEROP-1',
            firmwareVersion: '2.2.1',
            meterType: 'AC-3P',
        });
        expect(boot.status === 'Accepted', 'BootNotification not Accepted', boot);
        expect(Number.isInteger(boot.interval) && boot.interval > 0, 'bad interval', boot);
        emit('BootNotification', boot);
        // Use the returned interval as the heartbeat cadence (the run is much
        // shorter than one interval; the timer is cleared before closing).
        heartbeatTimer = setInterval(() => {
            client.call('Heartbeat', {}).catch(() => {});
        }, boot.interval * 1000);
        heartbeatTimer.unref();

        for (const connectorId of [0, 1]) {
            const answer = await client.call('StatusNotification', {
                connectorId,
                errorCode: 'NoError',
                status: 'Available',
                timestamp: now(),
            });
            emit('StatusNotification', { connectorId, status: 'Available', answer });
        }

        const heartbeat = await client.call('Heartbeat', {});
        expect(!Number.isNaN(Date.parse(heartbeat.currentTime)), 'bad currentTime', heartbeat);
        emit('Heartbeat', heartbeat);

        const authorize = await client.call('Authorize', { idTag });
        expect(authorize.idTagInfo?.status === 'Accepted', 'Authorize not Accepted', authorize);
        emit('Authorize', authorize);

        emit('StatusNotification', {
            connectorId: 1,
            status: 'Preparing',
            answer: await client.call('StatusNotification', {
                connectorId: 1,
                errorCode: 'NoError',
                status: 'Preparing',
                timestamp: now(),
            }),
        });

        const startedAt = now();
        const start = await client.call('StartTransaction', {
            connectorId: 1,
            idTag,
            meterStart: METER_START_WH,
            timestamp: startedAt,
        });
        expect(start.idTagInfo?.status === 'Accepted', 'StartTransaction not Accepted', start);
        expect(Number.isInteger(start.transactionId), 'no transactionId', start);
        const transactionId = start.transactionId;
        emit('StartTransaction', start);

        emit('StatusNotification', {
            connectorId: 1,
            status: 'Charging',
            answer: await client.call('StatusNotification', {
                connectorId: 1,
                errorCode: 'NoError',
                status: 'Charging',
                timestamp: now(),
            }),
        });

        let energyWh = METER_START_WH;
        for (let i = 1; i <= 3; i++) {
            await sleep(50);
            energyWh += METER_STEP_WH;
            const meterValue = periodicMeterValue(energyWh, 11_000 - i * 10, 40 + i);
            const answer = await client.call('MeterValues', {
                connectorId: 1,
                transactionId,
                meterValue: [meterValue],
            });
            sampledValues += meterValue.sampledValue.length;
            emit('MeterValues', {
                n: i,
                energyWh,
                sampledValues: meterValue.sampledValue.length,
                answer,
            });
        }

        await sleep(50);
        const stoppedAt = now();
        const transactionData = [
            {
                timestamp: startedAt,
                sampledValue: [
                    {
                        value: String(METER_START_WH),
                        context: 'Transaction.Begin',
                        measurand: 'Energy.Active.Import.Register',
                        location: 'Outlet',
                        unit: 'Wh',
                    },
                ],
            },
            {
                timestamp: stoppedAt,
                sampledValue: [
                    {
                        value: String(METER_STOP_WH),
                        context: 'Transaction.End',
                        measurand: 'Energy.Active.Import.Register',
                        location: 'Outlet',
                        unit: 'Wh',
                    },
                ],
            },
        ];
        const stop = await client.call('StopTransaction', {
            transactionId,
            idTag,
            meterStop: METER_STOP_WH,
            timestamp: stoppedAt,
            reason: 'Local',
            transactionData,
        });
        sampledValues += transactionData.reduce((n, mv) => n + mv.sampledValue.length, 0);
        if (stop.idTagInfo !== undefined) {
            expect(stop.idTagInfo.status === 'Accepted', 'StopTransaction idTag refused', stop);
        }
        emit('StopTransaction', stop);

        for (const status of ['Finishing', 'Available']) {
            const answer = await client.call('StatusNotification', {
                connectorId: 1,
                errorCode: 'NoError',
                status,
                timestamp: now(),
            });
            emit('StatusNotification', { connectorId: 1, status, answer });
        }

        const dataTransfer = await client.call('DataTransfer', {
            vendorId: 'com.example.interop',
            messageId: 'Ping',
            data: JSON.stringify({ transactionId }),
        });
        emit('DataTransfer', dataTransfer);

        emit('FirmwareStatusNotification', {
            answer: await client.call('FirmwareStatusNotification', { status: 'Idle' }),
        });
        emit('DiagnosticsStatusNotification', {
            answer: await client.call('DiagnosticsStatusNotification', { status: 'Idle' }),
        });

        expect(problems.length === 0, 'strict client reported problems', problems);
        clearInterval(heartbeatTimer);
        const closed = await client.close({ code: 1000, reason: 'session done' });
        emit('close', closed);
        return {
            transactionId,
            meterStart: METER_START_WH,
            meterStop: METER_STOP_WH,
            sampledValues,
            heartbeatInterval: boot.interval,
            dataTransferStatus: dataTransfer.status,
        };
    } catch (error) {
        clearInterval(heartbeatTimer);
        await client.close({ force: true }).catch(() => {});
        throw error;
    }
}

// ocpp-rpc has no per-call switch to skip validation, so a second client
// with strictMode off sends the invalid Authorize; its Heartbeat afterwards
// is validated again (strictMode switched back on for that call).
async function errorPath({ endpoint, stationId, password }) {
    const { client, problems } = makeClient({
        endpoint,
        identity: stationId,
        password,
        strictMode: false,
    });
    try {
        await client.connect();
        emit('connect', { protocol: client.protocol, strictMode: false });
        let refused;
        try {
            const answer = await client.call('Authorize', { idTag: LONG_ID_TAG });
            throw new Failure(`Authorize with a ${LONG_ID_TAG.length}-char idTag was answered ${JSON.stringify(answer)}`);
        } catch (error) {
            if (error instanceof Failure) throw error;
            refused = error;
        }
        expect(
            refused.rpcErrorCode === 'PropertyConstraintViolation',
            'expected a PropertyConstraintViolation CALLERROR',
            { name: refused.name, rpcErrorCode: refused.rpcErrorCode, message: refused.message },
        );
        emit('Authorize(invalid)', {
            idTagLength: LONG_ID_TAG.length,
            rpcErrorCode: refused.rpcErrorCode,
            message: refused.message,
            details: refused.details,
        });

        client.reconfigure({ strictMode: true });
        const heartbeat = await client.call('Heartbeat', {});
        emit('Heartbeat(after error)', heartbeat);

        expect(problems.length === 0, 'client reported problems', problems);
        const closed = await client.close({ code: 1000, reason: 'error path done' });
        emit('close', closed);
        return { invalidAuthorizeError: refused.rpcErrorCode };
    } catch (error) {
        await client.close({ force: true }).catch(() => {});
        throw error;
    }
}

async function main(argv) {
    const [endpoint, stationId, idTag, password] = argv;
    if (!endpoint || !stationId || !idTag) {
        process.stderr.write(USAGE + '\n');
        return 1;
    }
    const options = { endpoint: endpoint.replace(/\/+$/, ''), stationId, idTag, password };
    const session = await strictSession(options);
    const errors = await errorPath(options);
    process.stdout.write(JSON.stringify({ ok: true, ...session, ...errors }) + '\n');
    return 0;
}

try {
    process.exitCode = await main(process.argv.slice(2));
} catch (error) {
    const detail = error instanceof RPCError
        ? { rpcErrorCode: error.rpcErrorCode, message: error.message, details: error.details }
        : { message: error?.message ?? String(error) };
    process.stderr.write(`session failed: ${JSON.stringify(detail)}\n`);
    if (error?.stack) process.stderr.write(error.stack + '\n');
    process.exitCode = 1;
}
