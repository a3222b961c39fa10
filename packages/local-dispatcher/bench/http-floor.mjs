// The floor for one HTTP hop on this machine: a node:http client and server in one process, 48 keep-alive
// connections, 400-byte POST bodies answered 202, as fast as they go. Prints requests/s and CPU µs per
// request (both sides together), to compare with the local path's CPU per event (bench/local-path.ts).
// `node packages/local-dispatcher/bench/http-floor.mjs [requests]`
import http from 'node:http';

const total = Number(process.argv[2] ?? 40_000);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(202);
    res.end();
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const body = Buffer.alloc(400, 'x');
const headers = { 'content-length': String(body.length), 'content-type': 'application/json' };
const post = () =>
  new Promise((resolve, reject) => {
    const request = http.request(
      { port, host: '127.0.0.1', method: 'POST', path: '/', agent, headers },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
let started = 0;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(
  Array.from({ length: 48 }, async () => {
    while (started < total) {
      started++;
      await post();
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  `${total} requests in ${seconds.toFixed(1)} s = ${(total / seconds).toFixed(0)}/s; CPU ${((cpu.user + cpu.system) / total).toFixed(0)} µs per request, client and server (user ${(cpu.user / total).toFixed(0)}, system ${(cpu.system / total).toFixed(0)})`,
);
server.close();
agent.destroy();
