// A whole OCPP 2.0.1 charging session driven by a strict third-party client
// (mikuso/ocpp-rpc with strictMode: every call we send and every answer the
// server gives is validated against the official OCPP 2.0.1 JSON schemas).
//
// usage: node session201.mjs <ws-base-url> <station-id> <id-token> [password]
//   e.g. node session201.mjs ws://127.0.0.1:9000/ocpp CS-1 TAG-1 s3cret
//
// Prints one JSON line per step on stdout, finally {"ok": true, ...}.
// Exits 0 on success, 1 on any failure (the error goes to stderr).

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import ocppRpc from 'ocpp-rpc'; // CommonJS: take the names from its default export

const { RPCClient, RPCError, createRPCError } = ocppRpc;

const USAGE = 'usage: node session201.mjs <ws-base-url> <station-id> <id-token> [password]';
const CALL_TIMEOUT_MS = 10_000;
const METER_START_WH = 1_250_000;
const METER_STEP_WH = 1_100; // per periodic sample
const METER_STOP_WH = METER_START_WH + 3 * METER_STEP_WH + 400;
const LONG_ID_TOKEN = 'THIS-ID-TOKEN-IS-TOO-LONG-FOR-OCPP-201'; // idToken is at most 36 chars

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
        protocols: ['ocpp2.0.1'],
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
    // The CSMS may call the station; answer nothing we do not implement.
    client.handle(({ method, params }) => {
        emit('inbound-call', { method, params });
        throw createRPCError('NotImplemented', `${method} is not implemented by this test client`);
    });
    return { client, problems };
}

const energy = (value, context, unit = 'Wh') => ({
    value,
    context,
    measurand: 'Energy.Active.Import.Register',
    location: 'Outlet',
    unitOfMeasure: { unit },
});

function periodicMeterValue(energyWh, powerW, socPercent) {
    const context = 'Sample.Periodic';
    const currents = ['L1', 'L2', 'L3'].map((phase, i) => ({
        value: 15.9 + i / 10,
        context,
        measurand: 'Current.Import',
        phase,
        location: 'Outlet',
        unitOfMeasure: { unit: 'A' },
    }));
    return {
        timestamp: now(),
        sampledValue: [
            // the register in kWh, to be read back as Wh
            energy(energyWh / 1000, context, 'kWh'),
            {
                value: powerW,
                context,
                measurand: 'Power.Active.Import',
                location: 'Outlet',
                unitOfMeasure: { unit: 'W' },
            },
            ...currents,
            {
                value: 230.4,
                context,
                measurand: 'Voltage',
                phase: 'L1-N',
                location: 'Outlet',
                unitOfMeasure: { unit: 'V' },
            },
            { value: socPercent, context, measurand: 'SoC', location: 'EV', unitOfMeasure: { unit: 'Percent' } },
        ],
    };
}

async function strictSession({ endpoint, stationId, idToken, password }) {
    const { client, problems } = makeClient({ endpoint, identity: stationId, password, strictMode: true });
    const token = { idToken, type: 'ISO14443' };
    const evse = { id: 1, connectorId: 1 };
    const transactionId = randomUUID();
    let sampledValues = 0;
    let seqNo = 0;
    const event = async (eventType, triggerReason, fields = {}, info = {}) => {
        const answer = await client.call('TransactionEvent', {
            eventType,
            timestamp: now(),
            triggerReason,
            seqNo: seqNo++,
            transactionInfo: { transactionId, ...info },
            evse,
            ...fields,
        });
        for (const meterValue of fields.meterValue ?? []) sampledValues += meterValue.sampledValue.length;
        emit(`TransactionEvent(${eventType})`, { seqNo: seqNo - 1, answer });
        return answer;
    };
    const status = async (connectorStatus) => {
        const answer = await client.call('StatusNotification', {
            timestamp: now(),
            connectorStatus,
            evseId: 1,
            connectorId: 1,
        });
        emit('StatusNotification', { connectorStatus, answer });
    };
    try {
        await client.connect();
        expect(client.protocol === 'ocpp2.0.1', 'subprotocol not agreed', client.protocol);
        emit('connect', { protocol: client.protocol, strictMode: true });

        const boot = await client.call('BootNotification', {
            chargingStation: {
                vendorName: 'ocpp-rpc',
                model: 'interop-strict-201',
                serialNumber: 'SN-INTEROP-201',
                firmwareVersion: '2.2.1',
            },
            reason: 'PowerUp',
        });
        expect(boot.status === 'Accepted', 'BootNotification not Accepted', boot);
        expect(Number.isInteger(boot.interval) && boot.interval > 0, 'bad interval', boot);
        emit('BootNotification', boot);

        await status('Available');
        const heartbeat = await client.call('Heartbeat', {});
        expect(!Number.isNaN(Date.parse(heartbeat.currentTime)), 'bad currentTime', heartbeat);
        emit('Heartbeat', heartbeat);

        const authorize = await client.call('Authorize', { idToken: token });
        expect(authorize.idTokenInfo?.status === 'Accepted', 'Authorize not Accepted', authorize);
        emit('Authorize', authorize);
        await status('Occupied');

        const started = await event(
            'Started',
            'Authorized',
            {
                idToken: token,
                meterValue: [{ timestamp: now(), sampledValue: [energy(METER_START_WH, 'Transaction.Begin')] }],
            },
            { chargingState: 'Charging' },
        );
        expect(started.idTokenInfo?.status === 'Accepted', 'Started not Accepted', started);

        let energyWh = METER_START_WH;
        for (let i = 1; i <= 3; i++) {
            await sleep(50);
            energyWh += METER_STEP_WH;
            await event('Updated', 'MeterValuePeriodic', {
                meterValue: [periodicMeterValue(energyWh, 11_000 - i * 10, 40 + i)],
            });
        }
        // The station's main meter, outside the transaction.
        const meterValues = await client.call('MeterValues', {
            evseId: 0,
            meterValue: [{ timestamp: now(), sampledValue: [energy(9_999_000, 'Sample.Clock')] }],
        });
        emit('MeterValues', { answer: meterValues });

        await sleep(50);
        const ended = await event(
            'Ended',
            'StopAuthorized',
            {
                idToken: token,
                meterValue: [{ timestamp: now(), sampledValue: [energy(METER_STOP_WH, 'Transaction.End')] }],
            },
            { chargingState: 'Idle', stoppedReason: 'Local' },
        );
        if (ended.idTokenInfo !== undefined) {
            expect(ended.idTokenInfo.status === 'Accepted', 'Ended idToken refused', ended);
        }
        await status('Available');

        const report = await client.call('NotifyReport', {
            requestId: 1,
            generatedAt: now(),
            seqNo: 0,
            tbc: false,
            reportData: [
                {
                    component: { name: 'OCPPCommCtrlr' },
                    variable: { name: 'HeartbeatInterval' },
                    variableAttribute: [{ type: 'Actual', value: String(boot.interval), mutability: 'ReadWrite' }],
                    variableCharacteristics: { dataType: 'integer', supportsMonitoring: false },
                },
                {
                    component: { name: 'EVSE', evse: { id: 1 } },
                    variable: { name: 'Power' },
                    variableAttribute: [{ type: 'MaxSet', value: '22000', mutability: 'ReadOnly' }],
                    variableCharacteristics: { unit: 'W', dataType: 'decimal', supportsMonitoring: true },
                },
            ],
        });
        emit('NotifyReport', { answer: report });

        emit('NotifyEvent', {
            answer: await client.call('NotifyEvent', {
                generatedAt: now(),
                seqNo: 0,
                eventData: [
                    {
                        eventId: 1,
                        timestamp: now(),
                        trigger: 'Delta',
                        actualValue: 'Available',
                        eventNotificationType: 'HardWiredNotification',
                        component: { name: 'Connector', evse: { id: 1, connectorId: 1 } },
                        variable: { name: 'AvailabilityState' },
                    },
                ],
            }),
        });
        const dataTransfer = await client.call('DataTransfer', {
            vendorId: 'com.example.interop',
            messageId: 'Ping',
            data: { transactionId },
        });
        emit('DataTransfer', dataTransfer);
        emit('FirmwareStatusNotification', {
            answer: await client.call('FirmwareStatusNotification', { status: 'Idle' }),
        });
        emit('LogStatusNotification', {
            answer: await client.call('LogStatusNotification', { status: 'Idle' }),
        });

        expect(problems.length === 0, 'strict client reported problems', problems);
        const closed = await client.close({ code: 1000, reason: 'session done' });
        emit('close', closed);
        return {
            transactionId,
            meterStart: METER_START_WH,
            meterStop: METER_STOP_WH,
            sampledValues,
            events: seqNo,
            heartbeatInterval: boot.interval,
            dataTransferStatus: dataTransfer.status,
        };
    } catch (error) {
        await client.close({ force: true }).catch(() => {});
        throw error;
    }
}

// ocpp-rpc has no per-call switch to skip validation, so a second client
// with strictMode off sends the invalid Authorize; its Heartbeat afterwards
// is validated again (strictMode switched back on for that call).
async function errorPath({ endpoint, stationId, password }) {
    const { client, problems } = makeClient({ endpoint, identity: stationId, password, strictMode: false });
    try {
        await client.connect();
        emit('connect', { protocol: client.protocol, strictMode: false });
        let refused;
        try {
            const answer = await client.call('Authorize', { idToken: { idToken: LONG_ID_TOKEN, type: 'ISO14443' } });
            throw new Failure(`Authorize with a ${LONG_ID_TOKEN.length}-char idToken was answered ${JSON.stringify(answer)}`);
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
            idTokenLength: LONG_ID_TOKEN.length,
            rpcErrorCode: refused.rpcErrorCode,
            message: refused.message,
            details: refused.details,
        });

        client.reconfigure({ strictMode: true });
        emit('Heartbeat(after error)', await client.call('Heartbeat', {}));

        expect(problems.length === 0, 'client reported problems', problems);
        emit('close', await client.close({ code: 1000, reason: 'error path done' }));
        return { invalidAuthorizeError: refused.rpcErrorCode };
    } catch (error) {
        await client.close({ force: true }).catch(() => {});
        throw error;
    }
}

async function main(argv) {
    const [endpoint, stationId, idToken, password] = argv;
    if (!endpoint || !stationId || !idToken) {
        process.stderr.write(USAGE + '\n');
        return 1;
    }
    const options = { endpoint: endpoint.replace(/\/+$/, ''), stationId, idToken, password };
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
