// Node's net and tls echo servers: `socket.pipe(socket)` (back-pressure
// included), Nagle off as in every other server of the benchmark.
//
// Usage: node node_echo.js [--port N] [--tls --cert FILE --key FILE]
// Prints "listening on PORT".
'use strict';
const net = require('net');
const tls = require('tls');
const fs = require('fs');

let port = 0;
let useTls = false;
let cert = null;
let key = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port') port = Number(argv[++i]);
  else if (argv[i] === '--tls') useTls = true;
  else if (argv[i] === '--cert') cert = fs.readFileSync(argv[++i]);
  else if (argv[i] === '--key') key = fs.readFileSync(argv[++i]);
  else {
    console.error('usage: node_echo.js [--port N] [--tls --cert FILE --key FILE]');
    process.exit(2);
  }
}

function echo(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => {}); // resets are part of the benchmark
  socket.pipe(socket);
}

const server = useTls
  ? tls.createServer({ cert, key }, echo)
  : net.createServer(echo);
server.on('tlsClientError', () => {});
server.on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.log(`listening on ${server.address().port}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
// Die with the run script even if it is killed outright.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
